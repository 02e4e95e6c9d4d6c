//! Debian/Ubuntu: pending updates from a simulated `apt-get dist-upgrade`
//! (`-s`: nothing is changed, no root needed), split by whether a security
//! origin (`…-security`) offers them.

use super::Pending;

/// Parses `apt-get -s dist-upgrade` output: `Inst NAME [OLD] (NEW ORIGINS [ARCH])`
/// lines, and the packages kept back.
pub fn parse(output: &str) -> (Vec<Pending>, Vec<String>) {
    let mut pending = Vec::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix("Inst ") else {
            continue;
        };
        let name = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        // `[OLD]` comes before the parenthesis; a new package has none.
        let head = rest.split('(').next().unwrap_or_default();
        let installed = head
            .split_once('[')
            .and_then(|(_, r)| r.split_once(']'))
            .map(|(v, _)| v.to_owned());
        let after = &rest[head.len()..];
        let inner = after
            .split_once('(')
            .map(|(_, r)| r.rsplit_once(')').map_or(r, |(i, _)| i))
            .unwrap_or_default();
        let version = inner
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let origins = inner
            .trim_start_matches(&version)
            .split(" [")
            .next()
            .unwrap_or_default()
            .trim();
        pending.push(Pending {
            package: name,
            installed,
            available: version,
            security: origins.split(',').any(|o| o.trim().contains("-security")),
            origin: origins.to_owned(),
            advisory: None,
            severity: None,
            released: None,
        });
    }
    let mut held = Vec::new();
    let mut in_held = false;
    for line in output.lines() {
        if line.starts_with("The following packages have been kept back") {
            in_held = true;
            continue;
        }
        if in_held {
            if line.starts_with("  ") {
                held.extend(line.split_whitespace().map(str::to_owned));
            } else {
                in_held = false;
            }
        }
    }
    (pending, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_and_other_updates_and_held_packages_are_told_apart() {
        let out = "Reading package lists...\n\
The following packages have been kept back:\n  linux-image-amd64 nvidia-driver\n\
The following packages will be upgraded:\n  bash libgcrypt20\n\
Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n\
Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])\n\
Inst libssl3 [3.0.2-0ubuntu1.10] (3.0.2-0ubuntu1.15 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64]) []\n\
Inst newpkg (1.0 Debian:12.15/oldstable [all])\n\
Conf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n";
        let (p, held) = parse(out);
        assert_eq!(p.len(), 4);
        assert_eq!((p[0].package.as_str(), p[0].security), ("bash", false));
        assert_eq!(p[0].installed.as_deref(), Some("5.2.15-2+b8"));
        assert_eq!(p[0].available, "5.2.15-2+b13");
        assert!(p[1].security && p[2].security, "{p:?}");
        assert_eq!((p[3].installed.as_deref(), p[3].security), (None, false));
        assert_eq!(held, ["linux-image-amd64", "nvidia-driver"]);
        assert!(
            parse("Reading package lists...\n0 upgraded, 0 newly installed")
                .0
                .is_empty()
        );
    }
}
