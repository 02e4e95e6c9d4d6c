//! Patch evidence: the host's patch state, judged against `[patch.policy]`
//! and recorded like posture findings (ISO/IEC 27001:2013 A.12.6.1 / 2022
//! 8.8 technical vulnerabilities, A.12.5.1 / 8.19 software on operational
//! systems). Nothing is installed or changed: apt is only simulated, dnf
//! only queried, and files are only read.

pub mod apt;
pub mod cloud;
pub mod dnf;

use crate::controls::Control;
use crate::posture::{Finding, Status};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// Technical vulnerability management.
pub const VULNERABILITIES: Control = Control {
    iso_2013: "A.12.6.1",
    iso_2022: "8.8",
    title: "Management of technical vulnerabilities",
};
/// Installation of software on operational systems.
pub const SOFTWARE: Control = Control {
    iso_2013: "A.12.5.1",
    iso_2022: "8.19",
    title: "Installation of software on operational systems",
};

/// One pending update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub package: String,
    pub installed: Option<String>,
    pub available: String,
    /// Offered by a security origin (apt) or a security advisory (dnf).
    pub security: bool,
    pub origin: String,
    pub advisory: Option<String>,
    pub severity: Option<String>,
    /// When the package manager says the fix was released (dnf).
    pub released: Option<String>,
}

/// Automatic security updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoUpdates {
    /// `unattended-upgrades` or `dnf-automatic`.
    pub tool: &'static str,
    pub installed: bool,
    pub enabled: bool,
    /// When it last ran, as far as its log says.
    pub last_run: Option<String>,
}

/// What the host says of its patch state.
#[derive(Debug, Clone, Serialize)]
pub struct HostState {
    pub os: String,
    pub kernel: String,
    /// `apt`, `dnf` or `unknown`.
    pub package_manager: &'static str,
    pub pending_security: u64,
    pub pending_other: u64,
    pub pending: Vec<Pending>,
    /// Packages the package manager keeps back.
    pub held: Vec<String>,
    pub automatic_updates: Option<AutoUpdates>,
    pub reboot_required: bool,
    /// Since when a reboot is pending, when known.
    pub reboot_required_since: Option<String>,
    pub last_package_change: Option<String>,
    /// Why something could not be read (the check is then `unknown`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The cloud's view of the same instance, when asked for: its state, or
    /// why it is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<Result<cloud::AwsPatchState, String>>,
}

pub use crate::config::PatchPolicy as Policy;

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn mtime(path: &str) -> Option<DateTime<Utc>> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::<Utc>::from)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Reads this host's patch state.
pub fn gather() -> HostState {
    let os = read("/etc/os-release")
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let mut problems = Vec::new();
    let (package_manager, pending, held, auto, last_change) = if on_path("apt-get") {
        let (pending, held) = match run(
            "apt-get",
            &["-s", "-o", "Debug::NoLocking=1", "dist-upgrade"],
        ) {
            Ok(out) => apt::parse(&out),
            Err(e) => {
                problems.push(e);
                (Vec::new(), Vec::new())
            }
        };
        let installed = Path::new("/usr/bin/unattended-upgrade").exists();
        let enabled = [
            "/etc/apt/apt.conf.d/20auto-upgrades",
            "/etc/apt/apt.conf.d/50unattended-upgrades",
        ]
        .iter()
        .filter_map(|p| read(p))
        .any(|t| {
            t.lines().any(|l| {
                let l = l.trim();
                l.starts_with("APT::Periodic::Unattended-Upgrade") && l.contains("\"1\"")
            })
        });
        let auto = AutoUpdates {
            tool: "unattended-upgrades",
            installed,
            enabled: installed && enabled,
            last_run: mtime("/var/log/unattended-upgrades/unattended-upgrades.log").map(rfc3339),
        };
        (
            "apt",
            pending,
            held,
            Some(auto),
            mtime("/var/lib/dpkg/status"),
        )
    } else if on_path("dnf") {
        let pending = match run(
            "dnf",
            &["-q", "updateinfo", "list", "--updates", "--security"],
        ) {
            Ok(out) => {
                let mut p = dnf::parse_list(&out);
                if let Ok(info) = run(
                    "dnf",
                    &["-q", "updateinfo", "info", "--updates", "--security"],
                ) {
                    dnf::add_dates(&mut p, &info);
                }
                p
            }
            Err(e) => {
                problems.push(e);
                Vec::new()
            }
        };
        let auto = AutoUpdates {
            tool: "dnf-automatic",
            installed: Path::new("/usr/bin/dnf-automatic").exists(),
            enabled: Path::new("/etc/systemd/system/timers.target.wants/dnf-automatic.timer")
                .exists()
                || Path::new("/etc/systemd/system/timers.target.wants/dnf-automatic-install.timer")
                    .exists(),
            last_run: None,
        };
        (
            "dnf",
            pending,
            Vec::new(),
            Some(auto),
            mtime("/var/lib/rpm"),
        )
    } else {
        problems.push("neither apt nor dnf is on this host: its package manager is not one restoreproof reads".into());
        ("unknown", Vec::new(), Vec::new(), None, None)
    };
    let reboot_since = mtime("/var/run/reboot-required");
    HostState {
        os,
        kernel,
        package_manager,
        pending_security: pending.iter().filter(|p| p.security).count() as u64,
        pending_other: pending.iter().filter(|p| !p.security).count() as u64,
        pending,
        held,
        automatic_updates: auto,
        reboot_required: reboot_since.is_some(),
        reboot_required_since: reboot_since.map(rfc3339),
        last_package_change: last_change.map(rfc3339),
        problems,
        cloud: None,
    }
}

/// Reads the host's patch state, judges it against `policy` and records
/// the findings (posture findings, then a checkpoint); returns both.
///
/// # Errors
/// When the ledger or evidence file cannot be written.
pub fn check_and_record(
    recorder: &mut crate::ledger::recorder::Recorder,
    policy: &Policy,
    cloud: Option<Result<cloud::AwsPatchState, String>>,
) -> Result<(HostState, Vec<Finding>), crate::ledger::evidence_file::EvidenceFileError> {
    let mut state = gather();
    state.cloud = cloud;
    let now = Utc::now();
    let pending: Vec<(String, String)> = state
        .pending
        .iter()
        .filter(|p| p.security)
        .map(|p| (p.package.clone(), p.available.clone()))
        .collect();
    let seen = recorder.ledger.patch_seen(&pending, &rfc3339(now))?;
    let first_seen = |p: &Pending| {
        seen.get(&(p.package.clone(), p.available.clone()))
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let findings = judge(&state, policy, &first_seen, now);
    crate::posture::record(recorder, &findings)?;
    Ok((state, findings))
}

/// The host's name for findings: `host:NAME`.
pub fn source_name() -> String {
    format!("host:{}", crate::evidence::AgentInfo::current().host)
}

/// Judges `state` against `policy` at `now`; `first_seen` says since when
/// each pending security update (package, version) has been seen pending,
/// for those the package manager gives no release date.
pub fn judge(
    state: &HostState,
    policy: &Policy,
    first_seen: &dyn Fn(&Pending) -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let source = source_name();
    let controls = vec![VULNERABILITIES, SOFTWARE];
    let finding = |check: &'static str,
                   status: Status,
                   observed: String,
                   required: String,
                   reason: Option<String>| Finding {
        source: source.clone(),
        check,
        status,
        observed,
        required,
        reason,
        controls: controls.clone(),
    };
    let mut out = Vec::new();
    let days = |d: Duration| crate::config::age_text(d);
    if state.package_manager == "unknown" || !state.problems.is_empty() {
        out.push(finding(
            "patch.security_updates",
            Status::Unknown,
            "not readable".into(),
            format!(
                "no security update pending longer than {}",
                days(policy.max_security_age)
            ),
            Some(state.problems.join("; ")),
        ));
    } else {
        let age = |p: &Pending| {
            p.released
                .as_deref()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
                .or_else(|| first_seen(p))
                .map(|t| (now - t).to_std().unwrap_or_default())
        };
        let overdue: Vec<String> = state
            .pending
            .iter()
            .filter(|p| p.security)
            .filter_map(|p| {
                age(p).filter(|a| *a > policy.max_security_age).map(|a| {
                    format!(
                        "{} {} ({} pending)",
                        p.package,
                        p.available,
                        days(Duration::from_secs(a.as_secs() - a.as_secs() % 86_400))
                    )
                })
            })
            .collect();
        out.push(finding(
            "patch.security_updates",
            if overdue.is_empty() {
                Status::Pass
            } else {
                Status::Fail
            },
            format!(
                "{} security and {} other update(s) pending{}",
                state.pending_security,
                state.pending_other,
                if state.held.is_empty() {
                    String::new()
                } else {
                    format!("; {} held back", state.held.len())
                }
            ),
            format!(
                "no security update pending longer than {}",
                days(policy.max_security_age)
            ),
            (!overdue.is_empty()).then(|| {
                let shown: Vec<&str> = overdue.iter().take(10).map(String::as_str).collect();
                format!(
                    "pending longer than allowed: {}{}",
                    shown.join(", "),
                    if overdue.len() > 10 {
                        format!(" and {} more", overdue.len() - 10)
                    } else {
                        String::new()
                    }
                )
            }),
        ));
    }
    match &state.automatic_updates {
        Some(a) => out.push(finding(
            "patch.automatic_updates",
            if a.enabled || !policy.automatic_updates {
                Status::Pass
            } else {
                Status::Fail
            },
            format!(
                "{} {}{}",
                a.tool,
                match (a.installed, a.enabled) {
                    (true, true) => "installed and enabled",
                    (true, false) => "installed, not enabled",
                    _ => "not installed",
                },
                a.last_run
                    .as_deref()
                    .map(|t| format!(", last ran {t}"))
                    .unwrap_or_default()
            ),
            if policy.automatic_updates {
                "automatic security updates enabled".into()
            } else {
                "recorded (not required by the policy)".into()
            },
            None,
        )),
        None => out.push(finding(
            "patch.automatic_updates",
            Status::Unknown,
            "not readable".into(),
            "automatic security updates enabled".into(),
            Some("no package manager restoreproof reads".into()),
        )),
    }
    match &state.cloud {
        None => {}
        Some(Err(why)) => out.push(finding(
            "patch.cloud",
            Status::Unknown,
            "not readable".into(),
            "Systems Manager reports no missing or failed patches".into(),
            Some(why.clone()),
        )),
        Some(Ok(c)) => {
            out.push(finding(
                "patch.cloud",
                if c.missing == 0 && c.failed == 0 { Status::Pass } else { Status::Fail },
                format!(
                    "Systems Manager ({} in {}, baseline {}): {} missing, {} failed, {} installed pending reboot; last {} ended {}",
                    c.instance_id,
                    c.region,
                    c.baseline_id.as_deref().unwrap_or("?"),
                    c.missing,
                    c.failed,
                    c.installed_pending_reboot,
                    c.operation.as_deref().unwrap_or("operation"),
                    c.operation_end.as_deref().unwrap_or("?")
                ),
                "Systems Manager reports no missing or failed patches".into(),
                None,
            ));
            let host_clean = state.pending_security == 0;
            let cloud_clean = c.missing == 0;
            out.push(finding(
                "patch.agreement",
                if host_clean == cloud_clean { Status::Pass } else { Status::Fail },
                format!(
                    "the host sees {} pending security update(s), Systems Manager {} missing patch(es)",
                    state.pending_security, c.missing
                ),
                "the host's and the cloud's views agree".into(),
                (host_clean != cloud_clean).then(|| "the host and Systems Manager disagree: check the patch baseline and the host's package sources".to_owned()),
            ));
        }
    }
    let pending_for = state
        .reboot_required_since
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| (now - t.with_timezone(&Utc)).to_std().unwrap_or_default());
    out.push(finding(
        "patch.reboot",
        match pending_for {
            Some(d) if d > policy.max_reboot_pending => Status::Fail,
            _ => Status::Pass,
        },
        match pending_for {
            Some(d) => format!(
                "a reboot is pending since {} ({} ago); running kernel {}",
                state.reboot_required_since.as_deref().unwrap_or("?"),
                days(Duration::from_secs(d.as_secs() - d.as_secs() % 3600)),
                state.kernel
            ),
            None => format!("no reboot pending; running kernel {}", state.kernel),
        },
        format!(
            "no reboot pending longer than {}",
            days(policy.max_reboot_pending)
        ),
        None,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pending: Vec<Pending>) -> HostState {
        HostState {
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            kernel: "6.1.0".into(),
            package_manager: "dnf",
            pending_security: pending.iter().filter(|p| p.security).count() as u64,
            pending_other: 0,
            pending,
            held: Vec::new(),
            automatic_updates: Some(AutoUpdates {
                tool: "dnf-automatic",
                installed: true,
                enabled: false,
                last_run: None,
            }),
            reboot_required: false,
            reboot_required_since: None,
            last_package_change: None,
            problems: Vec::new(),
            cloud: None,
        }
    }

    #[test]
    fn a_security_update_older_than_the_policy_allows_fails() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let mut list = dnf::parse_list("RHSA-2026:1234 Important/Sec. openssl-libs-1:3.0.7-27.el9.x86_64\nRHSA-2026:2001 Moderate/Sec. curl-7.76.1-29.el9.x86_64\n");
        dnf::add_dates(&mut list, "Update ID: RHSA-2026:1234\n Issued: 2026-10-01 00:00:00\nUpdate ID: RHSA-2026:2001\n Issued: 2026-12-01 00:00:00\n");
        let f = judge(&state(list), &Policy::default(), &|_| None, now);
        assert_eq!(f[0].check, "patch.security_updates");
        assert_eq!(f[0].status, Status::Fail);
        let why = f[0].reason.clone().unwrap_or_default();
        assert!(
            why.contains("openssl-libs") && why.contains("66d pending") && !why.contains("curl"),
            "{why}"
        );
        assert_eq!(f[0].controls, [VULNERABILITIES, SOFTWARE]);
        // Automatic updates: recorded, required only by a policy that says so.
        assert_eq!(f[1].status, Status::Pass);
        let strict = Policy {
            automatic_updates: true,
            ..Policy::default()
        };
        assert_eq!(
            judge(&state(vec![]), &strict, &|_| None, now)[1].status,
            Status::Fail
        );
        // apt gives no dates: the first time the agent saw it pending counts.
        let (apt, _) =
            apt::parse("Inst libssl3 [1] (2 Debian-Security:12/stable-security [amd64])\n");
        let mut s = state(apt);
        s.package_manager = "apt";
        let seen = now - chrono::Duration::days(20);
        assert_eq!(
            judge(&s, &Policy::default(), &|_| Some(seen), now)[0].status,
            Status::Fail
        );
        assert_eq!(
            judge(&s, &Policy::default(), &|_| Some(now), now)[0].status,
            Status::Pass
        );
    }

    #[test]
    fn a_package_manager_that_cannot_be_read_is_unknown_not_compliant() {
        let mut s = state(vec![]);
        s.package_manager = "unknown";
        s.problems
            .push("neither apt nor dnf is on this host".into());
        let f = judge(&s, &Policy::default(), &|_| None, Utc::now());
        assert_eq!(f[0].status, Status::Unknown);
        assert!(f[0]
            .reason
            .clone()
            .unwrap_or_default()
            .contains("neither apt nor dnf"));
    }
}
