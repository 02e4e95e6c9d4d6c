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
