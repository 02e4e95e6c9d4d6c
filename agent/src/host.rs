//! Facts of the host the agent runs on, read in one place: its name, this
//! process and boot, whether a recorded process is still alive, and whether
//! the clock is synchronised (ISO/IEC 27001 A.12.4.4 / 8.17: evidence times
//! are only as good as the clock; recorded in every run summary — asks, in
//! order, systemd-timesyncd's flag file, `timedatectl`, `chronyc`;
//! `synchronized` is `null` when none can tell). Linux: liveness and the boot
//! id come from /proc.

use serde::Serialize;
use std::process::Command;

/// The host's name, when it can be read.
pub fn hostname() -> Option<String> {
    hostname::get()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), or empty.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Whether `pid` is a live restoreproof process (a reused pid of another
/// program does not count).
pub fn is_restoreproof(pid: i64) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("restoreproof"))
        .unwrap_or(false)
}

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
pub fn clock_status() -> ClockStatus {
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
