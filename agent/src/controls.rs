//! The one table of ISO/IEC 27001 controls restoreproof's evidence serves,
//! in both editions (2013 Annex A → 2022 per ISO/IEC 27002:2022 Annex B),
//! used by drills' records (sink formats), posture findings and reports.

use serde::Serialize;

/// A control in both editions.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Control {
    pub iso_2013: &'static str,
    pub iso_2022: &'static str,
    /// The control's name (2022 edition); not part of recorded findings.
    #[serde(skip)]
    pub title: &'static str,
}

/// Information backup: restore drills, versioning, retention.
pub const BACKUP: Control = Control {
    iso_2013: "A.12.3.1",
    iso_2022: "8.13",
    title: "Information backup",
};
/// Event logging (a single posture check: access logging).
pub const LOGGING: Control = Control {
    iso_2013: "A.12.4.1",
    iso_2022: "8.15",
    title: "Logging",
};
/// Event logging, protection of log information and administrator logs,
/// as the report judges the evidence chain as a whole.
pub const LOGGING_AND_PROTECTION: Control = Control {
    iso_2013: "A.12.4.1-3",
    iso_2022: "8.15",
    title: "Logging; protection of log information",
};
/// Clock synchronisation.
pub const CLOCK: Control = Control {
    iso_2013: "A.12.4.4",
    iso_2022: "8.17",
    title: "Clock synchronisation",
};
/// Redundancy: replication, redundancy SKUs.
pub const REDUNDANCY: Control = Control {
    iso_2013: "A.17.2.1",
    iso_2022: "8.14",
    title: "Redundancy of information processing facilities",
};
/// Use of cryptography: encryption at rest.
pub const CRYPTO: Control = Control {
    iso_2013: "A.10.1.1",
    iso_2022: "8.24",
    title: "Use of cryptography",
};
/// Information access restriction: public access blocked.
pub const ACCESS_RESTRICTION: Control = Control {
    iso_2013: "A.9.4.1",
    iso_2022: "8.3",
    title: "Information access restriction",
};
/// Access control as a whole: the identities the drills used.
pub const ACCESS_CONTROL: Control = Control {
    iso_2013: "A.9",
    iso_2022: "5.15, 5.18, 8.2",
    title: "Access control",
};
/// Network security: TLS-only access.
pub const NETWORK: Control = Control {
    iso_2013: "A.13.1.1",
    iso_2022: "8.20",
    title: "Network security",
};

/// A framework the control table is crossed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Framework {
    #[serde(rename = "iso27001-2013")]
    Iso2013,
    #[serde(rename = "iso27001-2022")]
    Iso2022,
    #[serde(rename = "soc2")]
    Soc2,
    #[serde(rename = "nist-800-53")]
    Nist80053,
    #[serde(rename = "c5")]
    C5,
    #[serde(rename = "dora")]
    Dora,
    #[serde(rename = "nis2")]
    Nis2,
}

impl Framework {
    /// Every framework, by the name `--framework` takes.
    pub const ALL: [(&'static str, Framework); 7] = [
        ("iso27001-2013", Framework::Iso2013),
        ("iso27001-2022", Framework::Iso2022),
        ("soc2", Framework::Soc2),
        ("nist-800-53", Framework::Nist80053),
        ("c5", Framework::C5),
        ("dora", Framework::Dora),
        ("nis2", Framework::Nis2),
    ];

    /// The framework's name as records and reports write it.
    pub fn title(self) -> &'static str {
        match self {
            Framework::Iso2013 => "ISO/IEC 27001:2013",
            Framework::Iso2022 => "ISO/IEC 27001:2022",
            Framework::Soc2 => "SOC 2 (TSC 2017)",
            Framework::Nist80053 => "NIST SP 800-53 Rev. 5",
            Framework::C5 => "BSI C5:2020",
            Framework::Dora => "DORA (EU) 2022/2554",
            Framework::Nis2 => "NIS2 (EU) 2022/2555",
        }
    }

    /// Parses a comma-separated `--framework` list.
    ///
    /// # Errors
    /// A message naming the unknown framework and the known ones.
    pub fn parse_list(s: &str) -> Result<Vec<Framework>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                Self::ALL
                    .iter()
                    .find(|(name, _)| *name == n)
                    .map(|(_, f)| *f)
                    .ok_or_else(|| {
                        format!(
                            "`{n}` is not a framework; write some of {}",
                            Self::ALL.map(|(n, _)| n).join(", ")
                        )
                    })
            })
            .collect()
    }
}

/// One crosswalk row: a requirement of another framework that a control's
/// evidence serves, wholly or `partly` (the control texts each rests on are
/// quoted in docs/crosswalk.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub framework: Framework,
    pub id: &'static str,
    pub partly: bool,
}

const fn m(framework: Framework, id: &'static str, partly: bool) -> Mapping {
    Mapping {
        framework,
        id,
        partly,
    }
}

use Framework::{Dora, Nis2, Nist80053, Soc2, C5};

/// Restores tested and verified against independent references.
const BACKUP_CROSSWALK: &[Mapping] = &[
    m(Soc2, "A1.2", true),
    m(Soc2, "A1.3", true),
    m(Nist80053, "CP-9", true),
    m(Nist80053, "CP-9(1)", false),
    m(Nist80053, "CP-4", true),
    m(C5, "OPS-07", true),
    m(C5, "OPS-08", true),
    m(Dora, "Art. 12(2)", true),
    m(Nis2, "Art. 21(2)(c)", true),
    m(Nis2, "IR 2024/2690 Annex 4.2.3", false),
    m(Nis2, "IR 2024/2690 Annex 4.2.6", true),
];
/// The hash-chained, signed, shipped evidence.
const LOGGING_CROSSWALK: &[Mapping] = &[m(Nist80053, "AU-9", true), m(Nist80053, "AU-10", true)];
const CLOCK_CROSSWALK: &[Mapping] = &[m(Nist80053, "AU-8", true)];
const REDUNDANCY_CROSSWALK: &[Mapping] = &[
    m(Soc2, "A1.2", true),
    m(Nist80053, "CP-6", true),
    m(C5, "OPS-09", true),
];
const CRYPTO_CROSSWALK: &[Mapping] = &[m(Nist80053, "SC-28", true), m(C5, "OPS-09", true)];

/// The requirements beyond ISO/IEC 27001 that the evidence of the control
/// with ISO/IEC 27001:2022 number `iso_2022` serves.
pub fn crosswalk(iso_2022: &str) -> &'static [Mapping] {
    match iso_2022 {
        "8.13" => BACKUP_CROSSWALK,
        "8.15" => LOGGING_CROSSWALK,
        "8.17" => CLOCK_CROSSWALK,
        "8.14" => REDUNDANCY_CROSSWALK,
        "8.24" => CRYPTO_CROSSWALK,
        _ => &[],
    }
}

/// The crosswalk of `control` in `frameworks`, as records and reports write
/// it: `NIST SP 800-53 Rev. 5 CP-9(1)`, `SOC 2 (TSC 2017) A1.3 (partly)`.
pub fn crosswalk_text(iso_2022: &str, frameworks: &[Framework]) -> Vec<String> {
    crosswalk(iso_2022)
        .iter()
        .filter(|x| frameworks.contains(&x.framework))
        .map(|x| {
            format!(
                "{} {}{}",
                x.framework.title(),
                x.id,
                if x.partly { " (partly)" } else { "" }
            )
        })
        .collect()
}

/// The frameworks beyond ISO/IEC 27001 that records list requirements of.
pub const CROSSWALK: [Framework; 5] = [
    Framework::Soc2,
    Framework::Nist80053,
    Framework::C5,
    Framework::Dora,
    Framework::Nis2,
];
