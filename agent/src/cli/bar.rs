//! The progress bar a command shows on a terminal, and log lines around it:
//! while a bar is drawn, each log line is written with the bar suspended
//! (cleared, the line written, the bar redrawn below), so a warning never
//! lands inside the bar's line.

use std::sync::Mutex;

static ACTIVE: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

fn active() -> std::sync::MutexGuard<'static, Option<indicatif::ProgressBar>> {
    ACTIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes `bar` the one log lines suspend (`None`: no bar any more).
pub fn show(bar: Option<indicatif::ProgressBar>) {
    *active() = bar;
}

/// stderr for the log: each write (one formatted event) made with the bar,
/// if any, suspended.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = active().clone();
        match bar {
            Some(b) => b.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}

/// An ETA only once it means something: after 5 s and 2 % of the work
/// (before, a few fast or slow first reads make it jump from hours to
/// minutes); `…` until then.
pub fn eta(state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = w.write_str(&eta_text(state.elapsed(), state.fraction(), state.eta()));
}

fn eta_text(elapsed: std::time::Duration, fraction: f32, eta: std::time::Duration) -> String {
    if elapsed < std::time::Duration::from_secs(5) || fraction < 0.02 {
        "…".into()
    } else {
        format!("{:#}", indicatif::HumanDuration(eta))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn the_eta_waits_until_it_means_something() {
        let hour = Duration::from_secs(3600);
        assert_eq!(super::eta_text(Duration::from_secs(2), 0.5, hour), "…");
        assert_eq!(super::eta_text(Duration::from_secs(60), 0.01, hour), "…");
        assert_ne!(super::eta_text(Duration::from_secs(60), 0.5, hour), "…");
    }
}
