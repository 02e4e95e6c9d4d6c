//! Whether the host clock is synchronised (ISO/IEC 27001 A.12.4.4 / 8.17:
//! evidence times are only as good as the clock). Recorded in every run
//! summary. Asks, in order: systemd-timesyncd's flag file, `timedatectl`,
//! `chronyc`; `synchronized` is `null` when none can tell.

use serde::Serialize;
use std::process::Command;

/// The host clock's synchronisation as far as the host can tell.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClockStatus {
    pub synchronized: Option<bool>,
    /// What said so, or why nothing could.
    pub source: String,
}

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Asks the host.
pub fn status() -> ClockStatus {
    if std::path::Path::new("/run/systemd/timesync/synchronized").exists() {
        return ClockStatus {
            synchronized: Some(true),
            source: "systemd-timesyncd".into(),
        };
    }
    if let Some(v) = run(
        "timedatectl",
        &["show", "--property=NTPSynchronized", "--value"],
    ) {
        return ClockStatus {
            synchronized: Some(v.trim() == "yes"),
            source: "timedatectl".into(),
        };
    }
    if let Some(v) = run("chronyc", &["-n", "tracking"]) {
        let normal = v
            .lines()
            .any(|l| l.starts_with("Leap status") && l.trim_end().ends_with("Normal"));
        return ClockStatus {
            synchronized: Some(normal),
            source: "chronyc".into(),
        };
    }
    ClockStatus {
        synchronized: None,
        source: "unknown: neither systemd-timesyncd, timedatectl nor chronyc could tell".into(),
    }
}
