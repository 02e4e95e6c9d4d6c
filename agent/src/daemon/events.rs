//! The evidence the service records about itself: started, stopped,
//! configuration reloaded (typed bodies of the lifecycle events).

use crate::config::{DrillConfig, Missed, Schedule};
use crate::evidence::{AgentInfo, Body, EventKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A drill's schedule, as lifecycle evidence shows it: `schedule` is
/// `null` (and nothing else is said) for a drill run only by hand.
#[derive(Serialize)]
pub(super) struct DrillPlan<'a> {
    pub(super) source: &'a str,
    pub(super) schedule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) timezone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) jitter_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) missed: Option<Missed>,
}

/// The schedules of the drills, for evidence.
pub(super) fn drill_plans(drills: &BTreeMap<String, DrillConfig>) -> BTreeMap<&str, DrillPlan<'_>> {
    drills
        .iter()
        .map(|(name, d)| {
            let s = d.schedule.as_ref();
            let plan = DrillPlan {
                source: &d.source,
                schedule: s.map(Schedule::expr),
                timezone: s.map(Schedule::timezone),
                jitter_secs: s.map(|s| s.jitter().as_secs()),
                missed: s.map(Schedule::missed),
            };
            (name.as_str(), plan)
        })
        .collect()
}

/// The body of a `daemon_started` event.
#[derive(Serialize)]
pub(super) struct DaemonStarted<'a> {
    pub(super) agent: AgentInfo,
    pub(super) config_path: &'a Path,
    pub(super) drills: BTreeMap<&'a str, DrillPlan<'a>>,
    pub(super) max_concurrent_drills: usize,
    pub(super) shutdown_timeout_secs: u64,
}

impl Body for DaemonStarted<'_> {
    const KIND: EventKind = EventKind::DaemonStarted;
}

/// The body of a `daemon_stopped` event.
#[derive(Serialize)]
pub(super) struct DaemonStopped {
    pub(super) agent: AgentInfo,
    pub(super) restores_cancelled: bool,
}

impl Body for DaemonStopped {
    const KIND: EventKind = EventKind::DaemonStopped;
}

/// Whether a reload took effect.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ReloadOutcome {
    Applied,
    Refused,
}

/// The body of a `config_reloaded` event: the drills now scheduled when
/// applied, why not when refused (config errors never quote config text, so
/// no secret reaches evidence through them).
#[derive(Serialize)]
pub(super) struct ConfigReloaded<'a> {
    pub(super) agent: AgentInfo,
    pub(super) config_path: &'a Path,
    pub(super) outcome: ReloadOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) drills: Option<BTreeMap<&'a str, DrillPlan<'a>>>,
}

impl Body for ConfigReloaded<'_> {
    const KIND: EventKind = EventKind::ConfigReloaded;
}

/// The body of a `gate_changed` event: a drill's staleness gate turned red,
/// or green again (`previous` is `null` for a drill's first judgement).
#[derive(Serialize)]
pub(super) struct GateChanged<'a> {
    pub(super) agent: AgentInfo,
    pub(super) drill: &'a str,
    pub(super) source: SourceName<'a>,
    pub(super) ok: bool,
    pub(super) previous: Option<bool>,
    pub(super) max_age: &'a str,
    pub(super) max_age_secs: u64,
    pub(super) min_coverage: Option<f64>,
    pub(super) last_passed_at: Option<&'a str>,
    pub(super) coverage_percent: Option<f64>,
    pub(super) reasons: &'a [String],
}

/// A source, named as other evidence names it (`source.name`).
#[derive(Serialize)]
pub(super) struct SourceName<'a> {
    pub(super) name: &'a str,
}

impl Body for GateChanged<'_> {
    const KIND: EventKind = EventKind::GateChanged;
}
