//! The status as Prometheus text exposition (the node_exporter textfile
//! collector's format, and `status --prometheus`).

use super::*;

impl StatusReport {
    /// The report in Prometheus text format (node_exporter's textfile
    /// collector reads it).
    #[expect(
        clippy::too_many_lines,
        reason = "to be split into named steps, as drill/run.rs is"
    )]
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let ts = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis() as f64 / 1000.0)
                .ok()
        };
        let label = |drill: &str| format!("{{drill=\"{}\"}}", escape(drill));
        let fresh = self.daemon.as_ref().is_some_and(|d| d.fresh);
        family(
            "restoreproof_build_info",
            "gauge",
            "Always 1; the labels say which restoreproof wrote the metrics.",
            vec![(
                format!("{{version=\"{}\"}}", escape(env!("CARGO_PKG_VERSION"))),
                1.0,
            )],
        );
        family(
            "restoreproof_ledger_rows_disagreeing",
            "gauge",
            "Run summaries that disagree with their hash-chained events (rows changed after they were recorded); 0 when the ledger matches its chain.",
            vec![(String::new(), self.tampered.len() as f64)],
        );
        family(
            "restoreproof_daemon_up",
            "gauge",
            "1 while the daemon's heartbeat is fresh.",
            vec![(String::new(), f64::from(u8::from(fresh)))],
        );
        family(
            "restoreproof_daemon_heartbeat_timestamp_seconds",
            "gauge",
            "Time of the daemon's last heartbeat.",
            self.daemon
                .iter()
                .filter_map(|d| ts(&d.state.heartbeat_at).map(|t| (String::new(), t)))
                .collect(),
        );
        let runs: Vec<(&DrillStatus, &LastRun)> = self
            .drills
            .iter()
            .filter_map(|d| d.last_run.as_ref().map(|r| (d, r)))
            .collect();
        family(
            "restoreproof_drill_last_run_timestamp_seconds",
            "gauge",
            "When the drill's last run started.",
            runs.iter()
                .filter_map(|(d, r)| ts(&r.started_at).map(|t| (label(&d.name), t)))
                .collect(),
        );
        family(
            "restoreproof_drill_last_run_finished_timestamp_seconds",
            "gauge",
            "When the drill's last finished run ended.",
            runs.iter()
                .filter_map(|(d, r)| {
                    r.finished_at
                        .as_deref()
                        .and_then(ts)
                        .map(|t| (label(&d.name), t))
                })
                .collect(),
        );
        family(
            "restoreproof_drill_last_run_success",
            "gauge",
            "1 if the last run that ended passed: it restored at least one recovery point and none failed (mismatch or unrecoverable). A run in progress does not change it.",
            self.drills
                .iter()
                .filter_map(|d| {
                    d.last_outcome
                        .map(|o| (label(&d.name), f64::from(u8::from(o.passed()))))
                })
                .collect(),
        );
        family(
            "restoreproof_drill_last_success_timestamp_seconds",
            "gauge",
            "When a run of the drill last passed.",
            self.drills
                .iter()
                .filter_map(|d| {
                    d.last_success_at
                        .as_deref()
                        .and_then(ts)
                        .map(|t| (label(&d.name), t))
                })
                .collect(),
        );
        family(
            "restoreproof_gate_ok",
            "gauge",
            "1 while the drill's staleness gate is green: a run that verified a recovery point without a failure finished within gate.max_age, and rotating coverage is at least gate.min_coverage.",
            self.drills
                .iter()
                .filter_map(|d| {
                    d.gate
                        .as_ref()
                        .map(|g| (label(&d.name), f64::from(u8::from(g.ok))))
                })
                .collect(),
        );
        family(
            "restoreproof_patch_check_passing",
            "gauge",
            "1 while the latest patch check's finding passes (0: fail or unknown), per check (patch.security_updates, patch.automatic_updates, patch.reboot, patch.cloud, ...).",
            self.patch
                .iter()
                .flat_map(|p| &p.findings)
                .map(|f| {
                    (
                        format!("{{check=\"{}\"}}", escape(&f.check)),
                        f64::from(u8::from(f.status == "pass")),
                    )
                })
                .collect(),
        );
        family(
            "restoreproof_patch_last_check_timestamp_seconds",
            "gauge",
            "When the host's patch state was last recorded.",
            self.patch
                .iter()
                .filter_map(|p| ts(&p.checked_at).map(|t| (String::new(), t)))
                .collect(),
        );
        let coverage = |field: fn(&crate::evidence::record::Coverage) -> f64,
                        scale: f64|
         -> Vec<(String, f64)> {
            self.drills
                .iter()
                .filter_map(|d| {
                    d.coverage
                        .as_ref()
                        .map(|c| (label(&d.name), field(c) * scale))
                })
                .collect()
        };
        family(
            "restoreproof_drill_coverage_ratio",
            "gauge",
            "Share (0 to 1) of the drill's recovery points verified within its coverage period, as its last run left it.",
            coverage(|c| c.percent, 0.01),
        );
        family(
            "restoreproof_drill_coverage_population",
            "gauge",
            "Recovery points (candidates after filters) the drill's last run listed.",
            coverage(|c| c.population as f64, 1.0),
        );
        family(
            "restoreproof_drill_coverage_verified",
            "gauge",
            "Of them, verified within the coverage period.",
            coverage(|c| c.verified_within_period as f64, 1.0),
        );
        family(
            "restoreproof_drill_runs_total",
            "counter",
            "Runs of the drill that ended, by outcome (passed, failed, aborted, error).",
            self.drills
                .iter()
                .flat_map(|d| {
                    RunOutcome::ALL.into_iter().map(move |o| {
                        (
                            format!("{{drill=\"{}\",outcome=\"{o}\"}}", escape(&d.name)),
                            d.history.runs.get(&o).copied().unwrap_or(0) as f64,
                        )
                    })
                })
                .collect(),
        );
        family(
            "restoreproof_drill_samples_total",
            "counter",
            "Recovery points the drill restored, by verdict, over all its runs.",
            self.drills
                .iter()
                .flat_map(|d| {
                    VERDICTS.into_iter().map(move |v| {
                        (
                            format!("{{drill=\"{}\",verdict=\"{v}\"}}", escape(&d.name)),
                            d.history.samples.get(v).copied().unwrap_or(0) as f64,
                        )
                    })
                })
                .collect(),
        );
        family(
            "restoreproof_drill_last_run_running",
            "gauge",
            "1 while a run of the drill is in progress.",
            self.drills
                .iter()
                .map(|d| (label(&d.name), f64::from(u8::from(d.running))))
                .collect(),
        );
        let mut verdicts = Vec::new();
        for (d, r) in &runs {
            for v in VERDICTS {
                verdicts.push((
                    format!("{{drill=\"{}\",verdict=\"{v}\"}}", escape(&d.name)),
                    r.verdicts.get(v).copied().unwrap_or(0) as f64,
                ));
            }
        }
        family(
            "restoreproof_drill_last_run_samples",
            "gauge",
            "Recovery points of the last run by verdict.",
            verdicts,
        );
        family(
            "restoreproof_drill_last_run_bytes",
            "gauge",
            "Bytes restored by the last run.",
            runs.iter()
                .map(|(d, r)| (label(&d.name), r.bytes_restored as f64))
                .collect(),
        );
        family(
            "restoreproof_drill_last_run_duration_seconds",
            "gauge",
            "Duration of the last finished run.",
            runs.iter()
                .filter_map(|(d, r)| r.duration_ms.map(|ms| (label(&d.name), ms as f64 / 1000.0)))
                .collect(),
        );
        family(
            "restoreproof_drill_last_run_throughput_bytes_per_second",
            "gauge",
            "Restore throughput of the last finished run.",
            runs.iter()
                .filter_map(|(d, r)| {
                    r.throughput_bytes_per_sec
                        .map(|b| (label(&d.name), b as f64))
                })
                .collect(),
        );
        let sink = |s: &SinkState| format!("{{sink=\"{}\"}}", escape(&s.sink));
        family(
            "restoreproof_sink_backlog_events",
            "gauge",
            "Evidence events recorded and not yet acknowledged by the sink.",
            self.sinks
                .iter()
                .map(|s| (sink(s), s.backlog as f64))
                .collect(),
        );
        family(
            "restoreproof_sink_delivered_events_total",
            "counter",
            "Evidence events the sink acknowledged.",
            self.sinks
                .iter()
                .map(|s| (sink(s), s.delivered_total as f64))
                .collect(),
        );
        family(
            "restoreproof_sink_delivery_failures_total",
            "counter",
            "Failed delivery attempts.",
            self.sinks
                .iter()
                .map(|s| (sink(s), s.failures_total as f64))
                .collect(),
        );
        family(
            "restoreproof_sink_failing",
            "gauge",
            "1 while the sink's last delivery attempt failed.",
            self.sinks
                .iter()
                .map(|s| (sink(s), f64::from(u8::from(s.last_error.is_some()))))
                .collect(),
        );
        family(
            "restoreproof_sink_last_success_timestamp_seconds",
            "gauge",
            "When the sink last acknowledged evidence.",
            self.sinks
                .iter()
                .filter_map(|s| {
                    s.last_success_at
                        .as_deref()
                        .and_then(ts)
                        .map(|t| (sink(s), t))
                })
                .collect(),
        );
        family(
            "restoreproof_drill_next_run_timestamp_seconds",
            "gauge",
            "When the drill runs next.",
            self.drills
                .iter()
                .filter_map(|d| {
                    d.next_run
                        .as_deref()
                        .and_then(ts)
                        .map(|t| (label(&d.name), t))
                })
                .collect(),
        );
        out
    }
}

/// Escapes a Prometheus label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
