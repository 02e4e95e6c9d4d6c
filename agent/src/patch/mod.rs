//! Patch evidence: the host's patch state, judged against `[patch.policy]`
//! and recorded like posture findings (ISO/IEC 27001:2013 A.12.6.1 / 2022
//! 8.8 technical vulnerabilities, A.12.5.1 / 8.19 software on operational
//! systems). Nothing is installed or changed: apt is only simulated, dnf
//! only queried, and files are only read.

pub mod apt;
pub use crate::providers::azure::update_manager as azure;
pub use crate::providers::patch as cloud;
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
    /// A kernel newer than the running one is installed (it runs only
    /// after a reboot).
    pub newer_kernel: Option<String>,
    /// Since when a reboot is pending, when known.
    pub reboot_required_since: Option<String>,
    pub last_package_change: Option<String>,
    /// When apt last updated its package lists (what it knows to be
    /// available); `None` under dnf, which fetches expired metadata itself
    /// when asked, and when apt has no lists at all.
    pub package_lists_updated: Option<String>,
    /// Why something could not be read (the check is then `unknown`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The cloud's view of the same machine, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<cloud::CloudView>,
}

pub use crate::config::PatchPolicy as Policy;

mod probe;
use probe::{
    apt_lists_updated, mtime, newer_kernel, on_path, read, rfc3339, run, run_accepting,
    VersionOrder,
};

mod cloud_findings;
use cloud_findings::judge_cloud;

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
    let Packages {
        manager: package_manager,
        pending,
        held,
        auto,
        last_change,
        lists_updated,
    } = if on_path("apt-get") {
        apt_packages(&mut problems)
    } else if on_path("dnf") {
        dnf_packages(&mut problems)
    } else {
        problems.push("neither apt nor dnf is on this host: its package manager is not one restoreproof reads".into());
        Packages {
            manager: "unknown",
            pending: Vec::new(),
            held: Vec::new(),
            auto: None,
            last_change: None,
            lists_updated: None,
        }
    };
    let flagged = mtime("/var/run/reboot-required");
    let newer = newer_kernel(
        Path::new("/boot"),
        &kernel,
        VersionOrder::of(package_manager),
    );
    let reboot_since = match (flagged, newer.as_ref().map(|n| n.1)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
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
        newer_kernel: newer.map(|n| n.0),
        reboot_required_since: reboot_since.map(rfc3339),
        last_package_change: last_change.map(rfc3339),
        package_lists_updated: lists_updated.map(rfc3339),
        problems,
        cloud: None,
    }
}

/// What a package manager says of the host's packages.
struct Packages {
    manager: &'static str,
    pending: Vec<Pending>,
    held: Vec<String>,
    auto: Option<AutoUpdates>,
    last_change: Option<DateTime<Utc>>,
    lists_updated: Option<DateTime<Utc>>,
}

/// apt's view: a simulated dist-upgrade, unattended-upgrades' settings.
fn apt_packages(problems: &mut Vec<String>) -> Packages {
    let lists_updated = apt_lists_updated(Path::new("/var/lib/apt"));
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
    // apt's effective configuration (every file in apt.conf.d, as apt
    // itself reads it): the interval in days, 0 or unset is off.
    let enabled = run(
        "apt-config",
        &["shell", "UU", "APT::Periodic::Unattended-Upgrade"],
    )
    .ok()
    .and_then(|out| {
        out.trim()
            .strip_prefix("UU='")
            .and_then(|v| v.strip_suffix('\''))
            .and_then(|v| v.parse::<u32>().ok())
    })
    .is_some_and(|days| days > 0);
    let auto = AutoUpdates {
        tool: "unattended-upgrades",
        installed,
        enabled: installed && enabled,
        last_run: mtime("/var/log/unattended-upgrades/unattended-upgrades.log").map(rfc3339),
    };
    Packages {
        manager: "apt",
        pending,
        held,
        auto: Some(auto),
        last_change: mtime("/var/lib/dpkg/status"),
        lists_updated,
    }
}

/// dnf's view: pending security updates with their dates, every pending
/// update, dnf-automatic's timers.
fn dnf_packages(problems: &mut Vec<String>) -> Packages {
    let security = match run(
        "dnf",
        &["-q", "updateinfo", "list", "--updates", "--security"],
    ) {
        Ok(out) => {
            let mut p = dnf::parse_list(&out);
            // dnf 5's list carries the dates; dnf 4's info does.
            if p.iter().any(|p| p.released.is_none()) {
                if let Ok(info) = run(
                    "dnf",
                    &["-q", "updateinfo", "info", "--updates", "--security"],
                ) {
                    dnf::add_dates(&mut p, &info);
                }
            }
            p
        }
        Err(e) => {
            problems.push(e);
            Vec::new()
        }
    };
    // Every pending update: exit 100 means "some are pending".
    let all = match run_accepting("dnf", &["-q", "check-update"], &[0, 100]) {
        Ok(out) => dnf::parse_check_update(&out),
        Err(e) => {
            problems.push(e);
            Vec::new()
        }
    };
    let pending = dnf::merge(security, all);
    // dnf-automatic's timers (dnf 4: dnf-automatic*.timer; dnf 5:
    // dnf5-automatic.timer): enabled when the timers target wants one;
    // a persistent timer's stamp file is its last run.
    let timers = |dir: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                            n.contains("dnf") && n.contains("automatic") && n.ends_with(".timer")
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let auto = AutoUpdates {
        tool: "dnf-automatic",
        installed: Path::new("/usr/bin/dnf-automatic").exists()
            || Path::new("/usr/lib/systemd/system/dnf5-automatic.timer").exists(),
        enabled: !timers("/etc/systemd/system/timers.target.wants").is_empty(),
        last_run: timers("/var/lib/systemd/timers")
            .iter()
            .filter_map(|p| p.to_str().and_then(mtime))
            .max()
            .map(rfc3339),
    };
    Packages {
        manager: "dnf",
        pending,
        held: Vec::new(),
        auto: Some(auto),
        last_change: mtime("/var/lib/rpm"),
        lists_updated: None,
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
    cloud: Option<cloud::CloudView>,
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
    let mut out = vec![
        security_updates(state, policy, first_seen, now, &finding),
        automatic_updates(state, policy, &finding),
    ];
    if let Some(view) = &state.cloud {
        out.extend(judge_cloud(state, view, policy, &finding));
    }
    out.push(reboot(state, policy, now, &finding));
    out
}

/// A finding of the patch check, with its controls.
pub(super) type MakeFinding<'a> =
    &'a dyn Fn(&'static str, Status, String, String, Option<String>) -> Finding;

fn days(d: Duration) -> String {
    crate::config::age_text(d)
}

/// The pending security updates older than the policy allows (by their
/// release date, or since first seen pending), as `package version (age
/// pending)`.
fn overdue(
    state: &HostState,
    policy: &Policy,
    first_seen: &dyn Fn(&Pending) -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let age = |p: &Pending| {
        p.released
            .as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
            .or_else(|| first_seen(p))
            .map(|t| (now - t).to_std().unwrap_or_default())
    };
    state
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
        .collect()
}

/// `patch.security_updates`: none pending longer than the policy allows,
/// and (apt) package lists recent enough to see them.
fn security_updates(
    state: &HostState,
    policy: &Policy,
    first_seen: &dyn Fn(&Pending) -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    finding: MakeFinding<'_>,
) -> Finding {
    if state.package_manager == "unknown" || !state.problems.is_empty() {
        return finding(
            "patch.security_updates",
            Status::Unknown,
            "not readable".into(),
            format!(
                "no security update pending longer than {}",
                days(policy.max_security_age)
            ),
            Some(state.problems.join("; ")),
        );
    }
    let overdue = overdue(state, policy, first_seen, now);
    // apt sees only what its package lists hold: old lists hide every
    // update published since, and no lists hide all of them.
    let apt = state.package_manager == "apt";
    let lists_age = state
        .package_lists_updated
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| (now - t.with_timezone(&Utc)).to_std().unwrap_or_default());
    let stale = apt && lists_age.is_some_and(|a| a > policy.max_package_lists_age);
    let no_lists = apt && lists_age.is_none();
    let mut reasons = Vec::new();
    if !overdue.is_empty() {
        let shown: Vec<&str> = overdue.iter().take(10).map(String::as_str).collect();
        reasons.push(format!(
            "pending longer than allowed: {}{}",
            shown.join(", "),
            if overdue.len() > 10 {
                format!(" and {} more", overdue.len() - 10)
            } else {
                String::new()
            }
        ));
    }
    if stale {
        reasons.push(format!(
            "apt's package lists were last updated {} ago, so updates published since are not seen: let apt-daily.timer run (APT::Periodic::Update-Package-Lists) or run apt-get update regularly",
            days(Duration::from_secs(
                lists_age.map_or(0, |a| a.as_secs() - a.as_secs() % 86_400)
            ))
        ));
    }
    if no_lists {
        reasons.push("apt has no package lists (/var/lib/apt/lists holds no Release file), so it sees no update at all: run apt-get update (in a container image, whose lists are usually removed, patching is the image rebuild's)".into());
    }
    let mut observed = format!(
        "{} security and {} other update(s) pending{}",
        state.pending_security,
        state.pending_other,
        if state.held.is_empty() {
            String::new()
        } else {
            format!("; {} held back", state.held.len())
        }
    );
    if apt {
        observed.push_str(&match &state.package_lists_updated {
            Some(t) => format!("; package lists updated {t}"),
            None => "; no package lists".into(),
        });
    }
    finding(
        "patch.security_updates",
        if !overdue.is_empty() || stale {
            Status::Fail
        } else if no_lists {
            Status::Unknown
        } else {
            Status::Pass
        },
        observed,
        format!(
            "no security update pending longer than {}{}",
            days(policy.max_security_age),
            if apt {
                format!(
                    ", package lists at most {} old",
                    days(policy.max_package_lists_age)
                )
            } else {
                String::new()
            }
        ),
        (!reasons.is_empty()).then(|| reasons.join("; ")),
    )
}

/// `patch.automatic_updates`: the distribution's automatic updates.
fn automatic_updates(state: &HostState, policy: &Policy, finding: MakeFinding<'_>) -> Finding {
    match &state.automatic_updates {
        Some(a) => finding(
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
        ),
        None => finding(
            "patch.automatic_updates",
            Status::Unknown,
            "not readable".into(),
            "automatic security updates enabled".into(),
            Some("no package manager restoreproof reads".into()),
        ),
    }
}

/// `patch.reboot`: no reboot pending longer than the policy allows.
fn reboot(
    state: &HostState,
    policy: &Policy,
    now: DateTime<Utc>,
    finding: MakeFinding<'_>,
) -> Finding {
    let pending_for = state
        .reboot_required_since
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| (now - t.with_timezone(&Utc)).to_std().unwrap_or_default());
    finding(
        "patch.reboot",
        match pending_for {
            Some(d) if d > policy.max_reboot_pending => Status::Fail,
            _ => Status::Pass,
        },
        match pending_for {
            Some(d) => format!(
                "a reboot is pending since {} ({} ago); running kernel {}{}",
                state.reboot_required_since.as_deref().unwrap_or("?"),
                days(Duration::from_secs(d.as_secs() - d.as_secs() % 3600)),
                state.kernel,
                state
                    .newer_kernel
                    .as_deref()
                    .map(|k| format!(", {k} installed"))
                    .unwrap_or_default()
            ),
            None => format!("no reboot pending; running kernel {}", state.kernel),
        },
        format!(
            "no reboot pending longer than {}",
            days(policy.max_reboot_pending)
        ),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::probe::{compare_versions, VersionOrder};
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
            newer_kernel: None,
            reboot_required_since: None,
            last_package_change: None,
            package_lists_updated: None,
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
        s.package_lists_updated = Some(rfc3339(now - chrono::Duration::hours(6)));
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
    fn old_or_missing_apt_package_lists_are_not_a_pass() {
        let now = Utc::now();
        let mut s = state(vec![]);
        s.package_manager = "apt";
        let policy = Policy::default();
        s.package_lists_updated = Some(rfc3339(now - chrono::Duration::days(2)));
        let f = judge(&s, &policy, &|_| None, now);
        assert_eq!(f[0].status, Status::Pass, "{:?}", f[0]);
        assert!(f[0].required.contains("package lists at most 7d old"));
        // 30 days old: nothing pending is seen, which proves nothing.
        s.package_lists_updated = Some(rfc3339(now - chrono::Duration::days(30)));
        let f = judge(&s, &policy, &|_| None, now);
        assert_eq!(f[0].status, Status::Fail);
        let why = f[0].reason.clone().unwrap_or_default();
        assert!(
            why.contains("last updated 30d ago") && why.contains("apt-get update"),
            "{why}"
        );
        // No lists at all (a cleaned container image): cannot tell.
        s.package_lists_updated = None;
        let f = judge(&s, &policy, &|_| None, now);
        assert_eq!(f[0].status, Status::Unknown);
        assert!(f[0].observed.contains("no package lists"));
        // dnf fetches expired metadata itself: no lists claim.
        s.package_manager = "dnf";
        assert_eq!(judge(&s, &policy, &|_| None, now)[0].status, Status::Pass);

        // Read from /var/lib/apt: the newest of the lists directory, its
        // Release files and apt-daily's stamp; nothing without a Release file.
        let apt = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let lists = apt.path().join("lists");
        std::fs::create_dir_all(lists.join("partial")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(apt_lists_updated(apt.path()), None);
        let release = lists.join("deb.debian.org_debian_dists_bookworm_InRelease");
        std::fs::write(&release, b"").unwrap_or_else(|e| panic!("{e}"));
        let old = std::time::SystemTime::now() - Duration::from_secs(40 * 86_400);
        for p in [&release, &lists] {
            std::fs::File::options()
                .read(true)
                .open(p)
                .and_then(|f| f.set_modified(old))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let t = apt_lists_updated(apt.path()).unwrap_or_default();
        assert!((Utc::now() - t).num_days() >= 39, "{t}");
        std::fs::create_dir_all(apt.path().join("periodic")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(apt.path().join("periodic/update-success-stamp"), b"")
            .unwrap_or_else(|e| panic!("{e}"));
        let t = apt_lists_updated(apt.path()).unwrap_or_default();
        assert!((Utc::now() - t).num_minutes() < 5, "{t}");
    }

    #[test]
    fn a_newer_installed_kernel_means_a_reboot_is_pending() {
        use std::cmp::Ordering::*;
        use VersionOrder::{Dpkg, Rpm};
        for order in [Dpkg, Rpm] {
            assert_eq!(
                compare_versions(order, "6.1.0-28-amd64", "6.1.0-25-amd64"),
                Greater
            );
            assert_eq!(
                compare_versions(order, "6.1.0-9-amd64", "6.1.0-25-amd64"),
                Less
            );
            assert_eq!(
                compare_versions(order, "6.1.0-25-amd64", "6.1.0-25-amd64"),
                Equal
            );
            // A pre-release sorts before its release; an epoch outranks
            // everything after it.
            assert_eq!(compare_versions(order, "6.13~rc1-1", "6.13-1"), Less);
            assert_eq!(compare_versions(order, "1:5.10-1", "6.1-1"), Greater);
        }
        assert_eq!(
            compare_versions(Rpm, "5.14.0-427.13.1.el9_4.x86_64", "5.14.0-427.el9.x86_64"),
            Greater
        );
        // rpm's `^`: a snapshot after its release.
        assert_eq!(compare_versions(Rpm, "1.0^git1-1", "1.0-1"), Greater);
        let boot = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for k in [
            "vmlinuz-6.1.0-25-amd64",
            "vmlinuz-6.1.0-28-amd64",
            "config-6.1.0-30-amd64",
        ] {
            std::fs::write(boot.path().join(k), b"").unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(
            newer_kernel(boot.path(), "6.1.0-25-amd64", Dpkg).map(|n| n.0),
            Some("6.1.0-28-amd64".into())
        );
        assert_eq!(newer_kernel(boot.path(), "6.1.0-28-amd64", Dpkg), None);
        // A container: no kernel of its own, no claim.
        let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(newer_kernel(empty.path(), "6.18.44", Rpm), None);
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
