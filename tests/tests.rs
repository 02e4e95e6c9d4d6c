//! Integration tests of restoreproof against real local servers.
//!
//! The S3 server is moto, started by `scripts/test` (the README's test
//! command), which exports `RESTOREPROOF_TEST_S3_ENDPOINT`. Corruption and
//! faults come from the test harness's fault-injecting proxy
//! (`restoreproof-testkit`), placed between the agent and moto.
//!
//! Modules:
//! - `util`: the harness — per-test versioned buckets, seeding, the proxy, and
//!   running the real `restoreproof` binary with a generated config;
//! - `anchor`: checkpoints in an Object Lock bucket catch a rewritten local
//!   history; an anchor without Object Lock is a finding;
//! - `attest`: in-toto/DSSE attestations verified by securesystemslib;
//! - `cli`: exit codes when stdout's reader goes away, `--json` errors on
//!   stdout;
//! - `config_files`: every example config parses, bad configs give the
//!   documented errors, secrets stay out of output;
//! - `conformance`: the source conformance suite on moto, SeaweedFS and
//!   Azurite (the in-memory store runs it in the unit tests);
//! - `verdicts`: each verdict through the real restore path;
//! - `checksums`: each stored checksum algorithm, multipart objects and ETags;
//! - `profiles`: the store dialects (AWS default, SSE-KMS, no
//!   GetObjectAttributes with and without checksum headers, ETag only) with
//!   a corrupted recovery point each and the requests each one cost;
//! - `sampling`: seeded reproducibility, byte budgets, percentages, delete
//!   markers, filters;
//! - `canaries`: canaries written and deleted under their prefix only,
//!   restored at each age, a too-short retention found with its age;
//! - `protection`: Object Lock and Azure immutability on each sampled
//!   recovery point, judged against the source's protection policy;
//! - `ransomware`: entropy and content-type changes between versions, and
//!   delete-marker bursts, flagged without false alarms on ordinary backups;
//! - `coverage`: rotating coverage over runs (count and byte budgets, a
//!   corrupted version retried first, expired versions leaving the count)
//!   and `restoreproof gate`;
//! - `crash`: a drill killed with SIGKILL keeps every completed verdict;
//! - `host`: a full or unusable scratch disk is the host's fault, never a
//!   verdict about the backup; scratch of dead runs is removed;
//! - `daemon`: `restoreproof run` as a real process: schedules, sd_notify
//!   and watchdog, metrics, `status`, SIGHUP reload, SIGTERM with restores
//!   in flight;
//! - `systemd`: the unit files' `systemd-analyze security` score and `verify`;
//! - `packages`: the .deb and .rpm (lintian, rpmlint, an install into a
//!   scratch root), the container image definition and Kubernetes example;
//! - `schemas`: every `--json` document and evidence record against the
//!   JSON Schemas in docs/schemas;
//! - `sinks`: shipping evidence to rsyslog (UDP, TCP, TLS, mutual TLS, RELP)
//!   and to the harness's HEC/_bulk/webhook receiver, outages and faults;
//! - `tamper`: `evidence verify` catches each kind of tampering;
//! - `reports`: `report` numbers over real drills, every format, and the
//!   HTML page rendered in headless Chromium;
//! - `azure`: Azure Blob snapshots against Azurite (started by `scripts/test`,
//!   `RESTOREPROOF_TEST_AZURE_ENDPOINT`), Content-MD5 match and mismatch,
//!   403/404 classification, and S3 and Azure drills in one config.

// A scenario test reads as one story from its setup to its last check;
// ten of them run past 100 lines (the agent's and the test harness's own
// functions do not).
#![allow(clippy::too_many_lines)]

mod util;

mod anchor;
mod attest;
mod azure;
mod canaries;
mod checksums;
mod cli;
mod config_files;
mod conformance;
mod container;
mod coverage;
mod crash;
mod daemon;
mod host;
mod inventory;
mod inventory_azure;
mod kubernetes;
mod packages;
mod patch;
mod posture;
mod profiles;
mod protection;
mod provider_checksum;
mod ransomware;
mod reports;
mod restore_testing;
mod sampling;
mod schemas;
mod shards;
mod sinks;
mod systemd;
mod tamper;
mod verdicts;
