//! RHEL, Fedora, Amazon Linux: pending security advisories from `dnf
//! updateinfo list --updates --security`, their dates and severities (from
//! the list under dnf 5, from `dnf updateinfo info --updates --security`
//! under dnf 4), and every other pending update from `dnf check-update`
//! (read-only commands).

use super::Pending;

/// Advisory types dnf 5 prints in its `Type` column.
const DNF5_TYPES: [&str; 6] = [
    "security",
    "bugfix",
    "enhancement",
    "newpackage",
    "unspecified",
    "unknown",
];

/// Parses `dnf updateinfo list` lines, in either dnf's format:
/// dnf 4 `ADVISORY SEVERITY/Sec. PACKAGE-VERSION` (`bugfix`, `enhancement`
/// for the other kinds); dnf 5 a table `Name Type Severity Package Issued`,
/// e.g. `FEDORA-2026-1a2b security Important openssl-1:3.2.4-1.fc43.x86_64
/// 2026-11-20 01:02:03` (the severity may be empty or `None`).
pub fn parse_list(output: &str) -> Vec<Pending> {
    output.lines().filter_map(parse_list_line).collect()
}

fn parse_list_line(line: &str) -> Option<Pending> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let (advisory, security, severity, nevra, released) = match f.as_slice() {
        // dnf 4.
        [advisory, kind, nevra] => {
            let (severity, class) = kind.split_once('/').unwrap_or(("", kind));
            if !kind.contains('/') && !kind.ends_with("Sec.") && !DNF5_TYPES.contains(kind) {
                return None;
            }
            let security = class.starts_with("Sec") || *kind == "security";
            (*advisory, security, severity, *nevra, None)
        }
        // dnf 5, with and without a severity.
        [advisory, kind, severity, nevra, day, _time] if DNF5_TYPES.contains(kind) => (
            *advisory,
            *kind == "security",
            *severity,
            *nevra,
            Some(*day),
        ),
        [advisory, kind, nevra, day, _time] if DNF5_TYPES.contains(kind) => {
            (*advisory, *kind == "security", "", *nevra, Some(*day))
        }
        _ => return None,
    };
    let (package, version) = split_nevra(nevra);
    let severity = (!severity.is_empty() && !severity.eq_ignore_ascii_case("none"))
        .then(|| severity.to_owned());
    Some(Pending {
        package,
        installed: None,
        available: version,
        security,
        origin: "dnf updateinfo".into(),
        advisory: Some(advisory.to_owned()),
        severity,
        released: released
            .filter(|d| d.len() == 10 && d.as_bytes()[4] == b'-')
            .map(str::to_owned),
    })
}

/// Architectures rpm packages are built for (the `.ARCH` of a
/// `check-update` line's first column).
const ARCHES: [&str; 9] = [
    "x86_64", "noarch", "aarch64", "i686", "ppc64le", "s390x", "armv7hl", "riscv64", "src",
];

/// Parses `dnf check-update` (dnf 5: `check-upgrade`): `NAME.ARCH VERSION
/// REPO` per pending update, a name too long for its column on a line of
/// its own with the rest on the next; the `Obsoleting packages` section
/// that may follow is not read.
pub fn parse_check_update(output: &str) -> Vec<(String, String, String)> {
    let is_package = |t: &str| {
        t.rsplit_once('.')
            .is_some_and(|(name, arch)| !name.is_empty() && ARCHES.contains(&arch))
    };
    let mut out = Vec::new();
    let mut wrapped: Option<&str> = None;
    for line in output.lines() {
        if line.trim_start().starts_with("Obsoleting") {
            break;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        match (wrapped.take(), f.as_slice()) {
            (Some(name), [version, repo]) => out.push((name, *version, *repo)),
            (_, [name, version, repo]) if is_package(name) => out.push((name, *version, *repo)),
            (_, [name]) if is_package(name) => wrapped = Some(*name),
            _ => {}
        }
    }
    out.into_iter()
        .map(|(name, version, repo)| {
            let package = name.rsplit_once('.').map_or(name, |(n, _)| n);
            (package.to_owned(), version.to_owned(), repo.to_owned())
        })
        .collect()
}

/// The pending updates: the security advisories, then every other update
/// `check-update` lists for a package no security advisory names.
pub fn merge(mut security: Vec<Pending>, all: Vec<(String, String, String)>) -> Vec<Pending> {
    let named: std::collections::BTreeSet<String> =
        security.iter().map(|p| p.package.clone()).collect();
    for (package, version, repo) in all {
        if named.contains(&package) {
            continue;
        }
        security.push(Pending {
            package,
            installed: None,
            available: version,
            security: false,
            origin: repo,
            advisory: None,
            severity: None,
            released: None,
        });
    }
    security
}

/// Fills each pending advisory's release date from `dnf updateinfo info`
/// (`Update ID: …` blocks with `Issued: YYYY-MM-DD …`).
pub fn add_dates(pending: &mut [Pending], info: &str) {
    let mut current: Option<String> = None;
    for line in info.lines() {
        let l = line.trim();
        if let Some(id) = l.strip_prefix("Update ID:") {
            current = Some(id.trim().to_owned());
        } else if let (Some(id), Some(date)) = (&current, l.strip_prefix("Issued:")) {
            let day = date
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            for p in pending
                .iter_mut()
                .filter(|p| p.advisory.as_deref() == Some(id.as_str()))
            {
                p.released = Some(day.clone());
            }
        }
    }
}

/// `openssl-1:3.0.7-25.el9.x86_64` → (`openssl`, `1:3.0.7-25.el9.x86_64`).
fn split_nevra(nevra: &str) -> (String, String) {
    let parts: Vec<&str> = nevra.rsplitn(3, '-').collect();
    match parts.as_slice() {
        [release, version, name] => ((*name).to_owned(), format!("{version}-{release}")),
        _ => (nevra.to_owned(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advisories_with_severities_and_dates_are_read() {
        let list = "Last metadata expiration check: 0:12:01 ago on Mon 30 Nov 2026.\n\
RHSA-2026:1234 Important/Sec. openssl-libs-1:3.0.7-27.el9.x86_64\n\
RHSA-2026:2001 Moderate/Sec.  curl-7.76.1-29.el9.x86_64\n\
ALAS2023-2026-700 medium/Sec. glibc-2.34-100.amzn2023.x86_64\n";
        let mut p = parse_list(list);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p[0].package, "openssl-libs");
        assert_eq!(p[0].available, "1:3.0.7-27.el9.x86_64");
        assert_eq!(p[0].severity.as_deref(), Some("Important"));
        assert!(p.iter().all(|x| x.security));
        let info = "===============\n  openssl security update\n===============\n\
  Update ID: RHSA-2026:1234\n       Type: security\n     Issued: 2026-10-01 00:00:00\n   Severity: Important\n\
  Update ID: RHSA-2026:2001\n     Issued: 2026-11-28 12:00:00\n";
        add_dates(&mut p, info);
        assert_eq!(p[0].released.as_deref(), Some("2026-10-01"));
        assert_eq!(p[1].released.as_deref(), Some("2026-11-28"));
        assert_eq!(p[2].released, None);
        assert!(parse_list("Last metadata expiration check: now.\n").is_empty());
        // dnf 4 lists the other kinds too; they are not security.
        let other = parse_list("RHBA-2026:3001 bugfix tzdata-2026b-1.el9.noarch\n");
        assert_eq!((other.len(), other[0].security), (1, false));
    }

    #[test]
    fn dnf5s_table_gives_severity_and_date_in_the_list() {
        let list = "Name                    Type        Severity  Package                              Issued\n\
FEDORA-2026-1a2b3c4d5e  security    Important openssl-libs-1:3.2.4-1.fc43.x86_64   2026-11-20 01:02:03\n\
FEDORA-2026-9f8e7d6c5b  security    None      curl-8.11.1-3.fc43.x86_64            2026-11-30 10:00:00\n\
FEDORA-2026-0a0b0c0d0e  security              glibc-2.40-9.fc43.x86_64             2026-12-01 10:00:00\n\
FEDORA-2026-1111111111  bugfix      None      tzdata-2026b-1.fc43.noarch           2026-11-02 10:00:00\n";
        let p = parse_list(list);
        assert_eq!(p.len(), 4, "the header is not an advisory: {p:?}");
        assert_eq!(p[0].package, "openssl-libs");
        assert_eq!(p[0].available, "1:3.2.4-1.fc43.x86_64");
        assert_eq!(p[0].severity.as_deref(), Some("Important"));
        assert_eq!(p[0].released.as_deref(), Some("2026-11-20"));
        assert_eq!((p[1].severity.as_deref(), p[1].security), (None, true));
        assert_eq!(
            (p[2].package.as_str(), p[2].released.as_deref()),
            ("glibc", Some("2026-12-01"))
        );
        assert!(!p[3].security);
    }

    #[test]
    fn other_updates_come_from_check_update_and_security_ones_are_not_counted_twice() {
        let out = "\n\
openssl-libs.x86_64                   1:3.0.7-27.el9                    rhel-9-baseos-rpms\n\
tzdata.noarch                         2026b-1.el9                       rhel-9-baseos-rpms\n\
python3-a-package-with-a-very-long-name.noarch\n\
                                      2.1-3.el9                         epel\n\
Obsoleting Packages\n\
grub2-tools.x86_64                    1:2.06-80.el9                     rhel-9-baseos-rpms\n\
    grub2-tools.x86_64                1:2.06-77.el9                     @rhel-9-baseos-rpms\n";
        let all = parse_check_update(out);
        assert_eq!(
            all.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
            [
                "openssl-libs",
                "tzdata",
                "python3-a-package-with-a-very-long-name"
            ]
        );
        assert_eq!(all[2].1, "2.1-3.el9");
        let security =
            parse_list("RHSA-2026:1234 Important/Sec. openssl-libs-1:3.0.7-27.el9.x86_64\n");
        let p = merge(security, all);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p.iter().filter(|p| p.security).count(), 1);
        assert_eq!(
            (p[1].package.as_str(), p[1].origin.as_str()),
            ("tzdata", "rhel-9-baseos-rpms")
        );
        // No updates: dnf prints nothing (and exits 0).
        assert!(parse_check_update("").is_empty());
        assert!(parse_check_update("Last metadata expiration check: 0:01:02 ago.\n").is_empty());
    }
}
