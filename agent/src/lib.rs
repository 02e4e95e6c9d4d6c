//! restoreproof: a backup verification agent. It restores sampled recovery
//! points from versioned object storage, verifies them against independent
//! references and records tamper-evident evidence of every attempt.
//!
//! Module map (docs/architecture.md): [`config`] → [`source`] (where
//! recovery points live, provider-neutral) ← [`providers`] (each cloud in
//! one place) → [`sample`] (which to restore) → [`verify`] (hashing and
//! references) → [`drill`] (one run) → [`ledger`] and [`evidence`] (what is
//! recorded).

pub mod canary;
pub mod cli;
pub mod commands;
pub mod config;
pub mod conformance;
pub mod controls;
pub mod daemon;
pub mod drill;
pub mod evidence;
pub mod gate;
pub mod host;
pub mod ledger;
pub mod outcome;
pub mod patch;
pub mod posture;
pub mod providers;
pub mod report;
pub mod restore_testing;
pub mod sample;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod text;
pub mod verify;

#[cfg(test)]
mod names {
    //! Every enum whose name is written somewhere (evidence, the ledger,
    //! text output) takes it from strum; these tests hold strum's names to
    //! the serde names the records use, variant by variant.
    use strum::IntoEnumIterator;

    fn same<T>()
    where
        T: IntoEnumIterator + serde::Serialize + Copy + Into<&'static str> + std::fmt::Debug,
        T: std::str::FromStr + PartialEq,
    {
        for v in T::iter() {
            let serde = serde_json::to_value(v).expect("serialize");
            let name: &'static str = v.into();
            assert_eq!(serde, serde_json::Value::from(name), "{v:?}");
            assert!(name.parse::<T>().ok() == Some(v), "{name} parses back");
        }
    }

    #[test]
    fn strum_names_are_the_serde_names() {
        same::<crate::verify::Verdict>();
        same::<crate::evidence::EventKind>();
        same::<crate::outcome::RunOutcome>();
        same::<crate::drill::RunStatus>();
        same::<crate::posture::Status>();
        same::<crate::source::ErrorClass>();
        same::<crate::source::ChecksumAlgorithm>();
        same::<crate::config::Strategy>();
        same::<crate::config::VerifyPolicy>();
        same::<crate::config::RestoreMode>();
        same::<crate::config::Provider>();
    }
}
