//! Facts of the host the agent runs on, read in one place: its name, this
//! process and boot, whether a recorded process is still alive, and whether
//! the clock is synchronised (ISO/IEC 27001 A.12.4.4 / 8.17: evidence times
//! are only as good as the clock; recorded in every run summary — asks, in
//! order, systemd-timesyncd's flag file, `timedatectl`, `chronyc`;
//! `synchronized` is `null` when none can tell). Linux: liveness and the boot
//! id come from /proc. And whether this host, as this user, can use a
//! config: the files it reads and the places it writes.

mod journald;
pub use journald::{priority, Journald};

use crate::config::{Config, ConfigError};
use serde::Serialize;
use std::path::Path;
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

/// Loads the config and checks that this host, as this user, can use it
/// (files it reads readable, places it writes writable or creatable): the
/// one validation path of `validate`, the service's start and its reload,
/// so the service never runs a config `validate` refuses.
///
/// # Errors
/// [`ConfigError`] with every problem, the host's included.
pub fn load_usable(path: &Path) -> Result<Config, ConfigError> {
    let c = Config::load(path)?;
    let problems = config_problems(&c);
    if problems.is_empty() {
        Ok(c)
    } else {
        Err(ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }
}

/// What keeps this host, as the user running the agent, from using a
/// sound config: a file to read that is missing or unreadable, a place to
/// write that is neither writable nor creatable.
pub fn config_problems(c: &Config) -> Vec<crate::config::Problem> {
    use rustix::fs::{access, Access};
    let mut problems = Vec::new();
    let mut problem = |path: String, message: String| {
        problems.push(crate::config::Problem {
            path,
            message: crate::config::scrub(&message),
        });
    };
    for (key, path) in c.read_paths() {
        if let Err(e) = std::fs::File::open(&path) {
            problem(
                key,
                format!(
                    "cannot read {}: {e}; create it or point the setting at the file",
                    path.display()
                ),
            );
        }
    }
    for (key, path) in c.agent_paths() {
        let is_dir = key.ends_with(".scratch_dir");
        if path.exists() {
            let writable = access(&path, Access::WRITE_OK).is_ok();
            // An existing signing key is only read.
            let readable = key == "evidence.signing_key" && access(&path, Access::READ_OK).is_ok();
            if !writable && !readable {
                problem(
                    key,
                    format!("{} exists but is not writable by this user", path.display()),
                );
            }
            continue;
        }
        // The nearest directory that exists must let this user create the rest.
        let start = if is_dir {
            Some(path.as_path())
        } else {
            path.parent()
        };
        let existing = start
            .into_iter()
            .flat_map(Path::ancestors)
            .find(|a| a.as_os_str().is_empty() || a.exists());
        let existing = existing.map_or_else(
            || Path::new("."),
            |a| {
                if a.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    a
                }
            },
        );
        if !existing.is_dir() {
            problem(
                key,
                format!(
                    "cannot create {}: {} is not a directory",
                    path.display(),
                    existing.display()
                ),
            );
        } else if access(existing, Access::WRITE_OK | Access::EXEC_OK).is_err() {
            problem(
                key,
                format!(
                    "cannot create {}: {} is not writable by this user; create the directory (the packaged service's StateDirectory/LogsDirectory do) or choose another path",
                    path.display(),
                    existing.display()
                ),
            );
        }
    }
    problems
}

/// What identifies this machine beside its name, where it can be known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    /// systemd's `/etc/machine-id` (or D-Bus's copy of it).
    pub machine_id: Option<String>,
    /// The address this host sends from on its default route (found with a
    /// UDP socket connected to a documentation address: nothing is sent).
    pub ip: Option<String>,
    /// The cloud region the environment names (`AWS_REGION`,
    /// `AWS_DEFAULT_REGION`, `RESTOREPROOF_REGION`).
    pub region: Option<String>,
}

impl Machine {
    /// Reads this machine's facts.
    pub fn read() -> Self {
        let machine_id = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let ip = std::net::UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| {
                s.connect("192.0.2.1:9")?;
                s.local_addr()
            })
            .ok()
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| ip.to_string());
        let region = ["RESTOREPROOF_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|v| std::env::var(v).ok())
            .filter(|r| !r.is_empty());
        Self {
            machine_id,
            ip,
            region,
        }
    }
}
