//! Log lines for the journal: systemd connects a service's stderr to
//! journald, which stamps each line itself and reads its priority from an
//! sd-daemon prefix (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug),
//! so `journalctl -p err` finds errors. The line is the usual text format
//! without a timestamp and without colour.

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format for a stderr that is the journal's stream.
#[derive(Debug)]
pub struct Journald {
    inner: Format<Full, ()>,
}

impl Default for Journald {
    fn default() -> Self {
        Self {
            inner: Format::default().without_time().with_ansi(false),
        }
    }
}

/// The sd-daemon priority of a level.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

impl<S, N> FormatEvent<S, N> for Journald
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.inner.format_event(ctx, writer, event)
    }
}
