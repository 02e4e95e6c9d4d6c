//! What the host view reads from the machine: files, their times, commands
//! (with the exit codes that mean success), installed kernels and the age
//! of apt's package lists.

use super::*;

pub(super) fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

pub(super) fn mtime(path: &str) -> Option<DateTime<Utc>> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::<Utc>::from)
}

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn run(program: &str, args: &[&str]) -> Result<String, String> {
    run_accepting(program, args, &[0])
}

/// [`run`] for a program whose exit codes in `ok` all mean success (`dnf
/// check-update` exits 100 when updates are pending).
pub(super) fn run_accepting(program: &str, args: &[&str], ok: &[i32]) -> Result<String, String> {
    let out = std::process::Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.code().is_some_and(|c| ok.contains(&c)) {
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

pub(super) fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// The newest kernel installed in `boot` (`vmlinuz-RELEASE`) when it is
/// newer than `running`, with when it was installed. `None` also when
/// `boot` holds no kernel (a container runs its host's kernel).
pub(super) fn newer_kernel(
    boot: &Path,
    running: &str,
    order: VersionOrder,
) -> Option<(String, DateTime<Utc>)> {
    let newest = std::fs::read_dir(boot)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let release = name.strip_prefix("vmlinuz-")?.to_owned();
            // Rescue images are not kernels a reboot would pick.
            (!release.contains("rescue")).then(|| {
                let when = e.metadata().and_then(|m| m.modified()).ok();
                (release, when)
            })
        })
        .max_by(|a, b| compare_versions(order, &a.0, &b.0))?;
    (compare_versions(order, &newest.0, running) == std::cmp::Ordering::Greater).then(|| {
        let when = newest.1.map_or_else(Utc::now, DateTime::<Utc>::from);
        (newest.0, when)
    })
}

/// How a host's package manager orders versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VersionOrder {
    /// dpkg's (Debian, Ubuntu): epochs, `~` before anything.
    Dpkg,
    /// rpm's (RHEL, Fedora, SUSE; and hosts whose package manager is not
    /// read): epochs, `~` and `^`.
    Rpm,
}

impl VersionOrder {
    /// The ordering of the host's package manager (`apt`, `dnf`, ...).
    pub(super) fn of(package_manager: &str) -> Self {
        if package_manager == "apt" {
            Self::Dpkg
        } else {
            Self::Rpm
        }
    }
}

/// Orders kernel releases (`6.1.0-28-amd64`, `5.14.0-427.13.1.el9_4.x86_64`)
/// as the host's package manager orders versions (the `debversion` and
/// `rpm-version` crates); a release dpkg cannot parse is ordered as rpm
/// orders it.
pub(super) fn compare_versions(order: VersionOrder, a: &str, b: &str) -> std::cmp::Ordering {
    if order == VersionOrder::Dpkg {
        if let (Ok(x), Ok(y)) = (
            a.parse::<debversion::Version>(),
            b.parse::<debversion::Version>(),
        ) {
            return x.cmp(&y);
        }
    }
    rpm_version::Evr::parse(a).cmp(&rpm_version::Evr::parse(b))
}

/// When apt last updated its package lists under `var_lib_apt`
/// (`/var/lib/apt`): the newest of the `lists` directory's time (files are
/// renamed into it when an update changes them), its `*Release` files'
/// times (a suite's signed index, republished by the archive several times
/// a day; apt keeps the server's time) and `periodic/update-success-stamp`
/// (apt-daily's and Ubuntu's record of a successful update). `None` when
/// there are no lists at all (a container image cleaned of them).
pub(super) fn apt_lists_updated(var_lib_apt: &Path) -> Option<DateTime<Utc>> {
    let lists = var_lib_apt.join("lists");
    let modified = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .map(DateTime::<Utc>::from)
    };
    let releases: Vec<DateTime<Utc>> = std::fs::read_dir(&lists)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with("Release"))
        .filter_map(|e| modified(&e.path()))
        .collect();
    if releases.is_empty() {
        return None;
    }
    releases
        .into_iter()
        .chain(modified(&lists))
        .chain(modified(&var_lib_apt.join("periodic/update-success-stamp")))
        .max()
}
