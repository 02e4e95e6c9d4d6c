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
pub mod sample;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod text;
pub mod verify;
