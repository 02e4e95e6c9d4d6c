//! The status as Prometheus text exposition (the node_exporter textfile
//! collector's format, and `status --prometheus`), written by the
//! `prometheus` crate's text encoder: its escaping, its ordering.

use super::*;
use ::prometheus::{CounterVec, GaugeVec, Opts, Registry, TextEncoder};

/// The metric families of one rendering, registered as they are filled.
struct Families(Registry);

impl Families {
    /// A gauge family: `samples` are (label values, value) in the order of
    /// `labels`.
    fn gauge(&self, name: &str, help: &str, labels: &[&str], samples: Vec<(Vec<&str>, f64)>) {
        let Ok(family) = GaugeVec::new(Opts::new(name, help), labels) else {
            tracing::error!(
                name,
                "A metric family is misdeclared (a bug); it is left out."
            );
            return;
        };
        for (values, v) in samples {
            family.with_label_values(&values).set(v);
        }
        self.add(Box::new(family), name);
    }

    /// A counter family, its totals taken from the ledger.
    fn counter(&self, name: &str, help: &str, labels: &[&str], samples: Vec<(Vec<&str>, f64)>) {
        let Ok(family) = CounterVec::new(Opts::new(name, help), labels) else {
            tracing::error!(
                name,
                "A metric family is misdeclared (a bug); it is left out."
            );
            return;
        };
        for (values, v) in samples {
            family.with_label_values(&values).inc_by(v);
        }
        self.add(Box::new(family), name);
    }

    fn add(&self, family: Box<dyn ::prometheus::core::Collector>, name: &str) {
        if let Err(e) = self.0.register(family) {
            tracing::error!(name, error = %e, "A metric family is registered twice (a bug); it is left out.");
        }
    }
}

/// Seconds since the epoch of an RFC 3339 time.
fn ts(s: &str) -> Option<f64> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
        .ok()
}

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

impl StatusReport {
    /// The report in Prometheus text format (node_exporter's textfile
    /// collector reads it).
    pub fn to_prometheus(&self) -> String {
        let f = Families(Registry::new());
        self.service_metrics(&f);
        self.drill_metrics(&f);
        self.coverage_metrics(&f);
        self.last_run_metrics(&f);
        self.sink_metrics(&f);
        self.patch_metrics(&f);
        self.canary_metrics(&f);
        TextEncoder::new()
            .encode_to_string(&f.0.gather())
            .unwrap_or_else(|e| format!("# restoreproof: the metrics could not be written: {e}\n"))
    }

    fn service_metrics(&self, f: &Families) {
        f.gauge(
            "restoreproof_build_info",
            "Always 1; the labels say which restoreproof wrote the metrics.",
            &["version"],
            vec![(vec![env!("CARGO_PKG_VERSION")], 1.0)],
        );
        f.gauge(
            "restoreproof_ledger_rows_disagreeing",
            "Run summaries that disagree with their hash-chained events (rows changed after they were recorded); 0 when the ledger matches its chain.",
            &[],
            vec![(vec![], self.tampered.len() as f64)],
        );
        f.gauge(
            "restoreproof_evidence_chain_intact",
            "1 when the service's last check of the evidence chain (at start and hourly) found every event's hash and link intact, 0 when it does not verify; absent without a running service.",
            &[],
            self.daemon
                .iter()
                .filter(|d| d.fresh)
                .map(|d| {
                    let broken = d.state.problems.iter().any(|p| p.starts_with(super::CHAIN_PROBLEM));
                    (vec![], flag(!broken))
                })
                .collect(),
        );
        f.gauge(
            "restoreproof_daemon_up",
            "1 while the daemon's heartbeat is fresh.",
            &[],
            vec![(vec![], flag(self.daemon.as_ref().is_some_and(|d| d.fresh)))],
        );
        f.gauge(
            "restoreproof_daemon_heartbeat_timestamp_seconds",
            "Time of the daemon's last heartbeat.",
            &[],
            self.daemon
                .iter()
                .filter_map(|d| ts(&d.state.heartbeat_at).map(|t| (vec![], t)))
                .collect(),
        );
    }

    /// One sample per drill that has a value.
    fn per_drill(&self, value: impl Fn(&DrillStatus) -> Option<f64>) -> Vec<(Vec<&str>, f64)> {
        self.drills
            .iter()
            .filter_map(|d| value(d).map(|v| (vec![d.name.as_str()], v)))
            .collect()
    }

    fn drill_metrics(&self, f: &Families) {
        f.gauge(
            "restoreproof_drill_last_run_success",
            "1 if the last run that ended passed: it restored at least one recovery point and none failed (mismatch or unrecoverable). A run in progress does not change it.",
            &["drill"],
            self.per_drill(|d| d.last_outcome.map(|o| flag(o.passed()))),
        );
        f.gauge(
            "restoreproof_drill_last_success_timestamp_seconds",
            "When a run of the drill last passed.",
            &["drill"],
            self.per_drill(|d| d.last_success_at.as_deref().and_then(ts)),
        );
        f.gauge(
            "restoreproof_gate_ok",
            "1 while the drill's staleness gate is green: a run that verified a recovery point without a failure finished within gate.max_age, and rotating coverage is at least gate.min_coverage.",
            &["drill"],
            self.per_drill(|d| d.gate.as_ref().map(|g| flag(g.ok))),
        );
        f.gauge(
            "restoreproof_drill_last_run_running",
            "1 while a run of the drill is in progress.",
            &["drill"],
            self.per_drill(|d| Some(flag(d.running))),
        );
        f.gauge(
            "restoreproof_drill_next_run_timestamp_seconds",
            "When the drill runs next.",
            &["drill"],
            self.per_drill(|d| d.next_run.as_deref().and_then(ts)),
        );
        f.counter(
            "restoreproof_drill_runs_total",
            "Runs of the drill that ended, by outcome (passed, failed, aborted, error).",
            &["drill", "outcome"],
            self.drills
                .iter()
                .flat_map(|d| {
                    RunOutcome::ALL.into_iter().map(move |o| {
                        let n = d.history.runs.get(&o).copied().unwrap_or(0);
                        (vec![d.name.as_str(), o.as_str()], n as f64)
                    })
                })
                .collect(),
        );
        f.counter(
            "restoreproof_drill_samples_total",
            "Recovery points the drill restored, by verdict, over all its runs.",
            &["drill", "verdict"],
            self.drills
                .iter()
                .flat_map(|d| {
                    VERDICTS.into_iter().map(move |v| {
                        let n = d.history.samples.get(v).copied().unwrap_or(0);
                        (vec![d.name.as_str(), v], n as f64)
                    })
                })
                .collect(),
        );
    }

    fn coverage_metrics(&self, f: &Families) {
        use crate::evidence::record::Coverage;
        let coverage =
            |field: fn(&Coverage) -> f64| self.per_drill(|d| d.coverage.as_ref().map(field));
        f.gauge(
            "restoreproof_drill_coverage_ratio",
            "Share (0 to 1) of the drill's recovery points verified within its coverage period, as its last run left it.",
            &["drill"],
            coverage(|c| c.percent / 100.0),
        );
        f.gauge(
            "restoreproof_drill_coverage_population",
            "Recovery points (candidates after filters) the drill's last run listed.",
            &["drill"],
            coverage(|c| c.population as f64),
        );
        f.gauge(
            "restoreproof_drill_coverage_verified",
            "Of them, verified within the coverage period.",
            &["drill"],
            coverage(|c| c.verified_within_period as f64),
        );
    }

    fn last_run_metrics(&self, f: &Families) {
        let last = |value: fn(&LastRun) -> Option<f64>| {
            self.per_drill(|d| d.last_run.as_ref().and_then(value))
        };
        f.gauge(
            "restoreproof_drill_last_run_timestamp_seconds",
            "When the drill's last run started.",
            &["drill"],
            last(|r| ts(&r.started_at)),
        );
        f.gauge(
            "restoreproof_drill_last_run_finished_timestamp_seconds",
            "When the drill's last finished run ended.",
            &["drill"],
            last(|r| r.finished_at.as_deref().and_then(ts)),
        );
        f.gauge(
            "restoreproof_drill_last_run_samples",
            "Recovery points of the last run by verdict.",
            &["drill", "verdict"],
            self.drills
                .iter()
                .filter_map(|d| d.last_run.as_ref().map(|r| (d, r)))
                .flat_map(|(d, r)| {
                    VERDICTS.into_iter().map(move |v| {
                        let n = r.verdicts.get(v).copied().unwrap_or(0);
                        (vec![d.name.as_str(), v], n as f64)
                    })
                })
                .collect(),
        );
        f.gauge(
            "restoreproof_drill_last_run_bytes",
            "Bytes restored by the last run.",
            &["drill"],
            last(|r| Some(r.bytes_restored as f64)),
        );
        f.gauge(
            "restoreproof_drill_last_run_duration_seconds",
            "Duration of the last finished run.",
            &["drill"],
            last(|r| r.duration_ms.map(|ms| ms as f64 / 1000.0)),
        );
        f.gauge(
            "restoreproof_drill_last_run_throughput_bytes_per_second",
            "Restore throughput of the last finished run.",
            &["drill"],
            last(|r| r.throughput_bytes_per_sec.map(|b| b as f64)),
        );
    }

    fn sink_metrics(&self, f: &Families) {
        let per_sink = |value: fn(&SinkState) -> Option<f64>| {
            self.sinks
                .iter()
                .filter_map(|s| value(s).map(|v| (vec![s.sink.as_str()], v)))
                .collect()
        };
        f.gauge(
            "restoreproof_sink_backlog_events",
            "Evidence events recorded and not yet acknowledged by the sink.",
            &["sink"],
            per_sink(|s| Some(s.backlog as f64)),
        );
        f.counter(
            "restoreproof_sink_delivered_events_total",
            "Evidence events the sink acknowledged.",
            &["sink"],
            per_sink(|s| Some(s.delivered_total as f64)),
        );
        f.counter(
            "restoreproof_sink_delivery_failures_total",
            "Failed delivery attempts.",
            &["sink"],
            per_sink(|s| Some(s.failures_total as f64)),
        );
        f.gauge(
            "restoreproof_sink_failing",
            "1 while the sink's last delivery attempt failed.",
            &["sink"],
            per_sink(|s| Some(flag(s.last_error.is_some()))),
        );
        f.gauge(
            "restoreproof_sink_last_success_timestamp_seconds",
            "When the sink last acknowledged evidence.",
            &["sink"],
            per_sink(|s| s.last_success_at.as_deref().and_then(ts)),
        );
    }

    fn patch_metrics(&self, f: &Families) {
        f.gauge(
            "restoreproof_patch_check_passing",
            "1 while the latest patch check's finding passes (0: fail or unknown), per check (patch.security_updates, patch.automatic_updates, patch.reboot, patch.cloud, ...).",
            &["check"],
            self.patch
                .iter()
                .flat_map(|p| &p.findings)
                .map(|c| (vec![c.check.as_str()], flag(c.status == "pass")))
                .collect(),
        );
        f.gauge(
            "restoreproof_patch_last_check_timestamp_seconds",
            "When the host's patch state was last recorded.",
            &[],
            self.patch
                .iter()
                .filter_map(|p| ts(&p.checked_at).map(|t| (vec![], t)))
                .collect(),
        );
    }

    fn canary_metrics(&self, f: &Families) {
        f.gauge(
            "restoreproof_canary_last_check_ok",
            "1 when the canary's latest check restored it intact (or it is not yet due), 0 when it was gone (retention failed), changed, or could not be checked.",
            &["canary", "source"],
            self.canaries
                .iter()
                .map(|c| (vec![c.canary.as_str(), c.source.as_str()], flag(c.ok())))
                .collect(),
        );
        f.gauge(
            "restoreproof_canary_last_check_timestamp_seconds",
            "When the canary was last checked.",
            &["canary", "source"],
            self.canaries
                .iter()
                .filter_map(|c| {
                    ts(&c.checked_at).map(|t| (vec![c.canary.as_str(), c.source.as_str()], t))
                })
                .collect(),
        );
    }
}
