//! RHEL, Fedora, Amazon Linux: pending security advisories from `dnf
//! updateinfo list --updates --security` and their dates and severities
//! from `dnf updateinfo info --updates --security` (read-only commands).

use super::Pending;

/// Parses `dnf updateinfo list` lines: `ADVISORY SEVERITY/Sec. PACKAGE-VERSION`.
pub fn parse_list(output: &str) -> Vec<Pending> {
    output
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (advisory, kind, nevra) = (f.next()?, f.next()?, f.next()?);
            if f.next().is_some()
                || !kind.contains('/') && !kind.ends_with("Sec.") && kind != "security"
            {
                return None;
            }
            let (severity, class) = kind.split_once('/').unwrap_or(("", kind));
            let security = class.starts_with("Sec") || kind == "security";
            let (package, version) = split_nevra(nevra);
            Some(Pending {
                package,
                installed: None,
                available: version,
                security,
                origin: "dnf updateinfo".into(),
                advisory: Some(advisory.to_owned()),
                severity: (!severity.is_empty()).then(|| severity.to_owned()),
                released: None,
            })
        })
        .collect()
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
    }
}
