//! The status for people: `restoreproof status` without `--json`.

use super::*;

impl StatusReport {
    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.daemon_text(&mut out);
        let _ = writeln!(out, "ledger: {}\n", self.ledger);
        self.drills_text(&mut out);
        self.notes_text(&mut out);
        self.patch_text(&mut out);
        self.sinks_text(&mut out);
        out
    }

    /// Whether the ledger agrees with its chain, and the service's state.
    fn daemon_text(&self, out: &mut String) {
        for t in &self.tampered {
            let _ = writeln!(
                out,
                "TAMPERED: {t}; the ledger row was changed after it was recorded, run `restoreproof evidence verify`"
            );
        }
        match &self.daemon {
            Some(d) if d.fresh => {
                let _ = writeln!(
                    out,
                    "daemon: running on {} (pid {}), heartbeat {}s ago, up since {}",
                    d.state.host, d.state.pid, d.heartbeat_age_secs, d.state.started_at
                );
                for p in &d.state.problems {
                    let _ = writeln!(out, "daemon: PROBLEM: {p}");
                }
            }
            Some(d) if d.state.state == "stopped" => {
                let _ = writeln!(
                    out,
                    "daemon: stopped (last heartbeat {} on {})",
                    d.state.heartbeat_at, d.state.host
                );
            }
            Some(d) => {
                let _ = writeln!(
                    out,
                    "daemon: NOT RESPONDING: last heartbeat {}s ago ({} on {}, pid {}); expected every {}s",
                    d.heartbeat_age_secs, d.state.heartbeat_at, d.state.host, d.state.pid, d.state.heartbeat_secs
                );
            }
            None => {
                let _ = writeln!(out, "daemon: has never run with this ledger");
            }
        }
    }

    /// One line per drill: its last run and its next.
    fn drills_text(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "{:<20} {:<10} {:<21} {:>8} {:>8} {:>8} {:>6} {:>8}  NEXT RUN",
            "DRILL", "LAST", "STARTED", "VERIFIED", "MISMATCH", "UNRECOV", "OTHER", "BYTES",
        );
        for d in &self.drills {
            let (status, started, v, m, u, o, b) = match &d.last_run {
                Some(r) => {
                    let get = |k: &str| r.verdicts.get(k).copied().unwrap_or(0);
                    let other = r.verdicts.values().sum::<u64>()
                        - get("verified")
                        - get("mismatch")
                        - get("unrecoverable");
                    (
                        if d.running {
                            "running"
                        } else {
                            r.outcome.map_or(r.status.as_str(), |o| o.as_str())
                        },
                        r.started_at.chars().take(19).collect::<String>() + "Z",
                        get("verified").to_string(),
                        get("mismatch").to_string(),
                        get("unrecoverable").to_string(),
                        other.to_string(),
                        crate::config::human_bytes(r.bytes_restored),
                    )
                }
                None => (
                    "never",
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ),
            };
            let next = match (&d.next_run, &d.schedule) {
                (Some(n), _) => n.clone(),
                (None, Some(_)) if d.running => "(running)".into(),
                (None, Some(_)) => "-".into(),
                (None, None) => "(no schedule)".into(),
            };
            let _ = writeln!(
                out,
                "{:<20} {:<10} {:<21} {:>8} {:>8} {:>8} {:>6} {:>8}  {}",
                d.name, status, started, v, m, u, o, b, next
            );
        }
    }

    /// Per drill, what needs a reader's attention: coverage, ransomware
    /// signals, a red gate.
    fn notes_text(&self, out: &mut String) {
        for d in &self.drills {
            if let Some(c) = &d.coverage {
                let _ = writeln!(
                    out,
                    "{}: coverage {:.1} % ({} of {} recovery points verified within {}){}",
                    d.name,
                    c.percent,
                    c.verified_within_period,
                    c.population,
                    c.period,
                    match (&c.warning, &c.full_coverage_at) {
                        (Some(w), _) => format!("; WARNING: {w}"),
                        (None, Some(at)) => format!("; full at {at}"),
                        _ => String::new(),
                    }
                );
            }
            if let Some(t) = d
                .last_run
                .as_ref()
                .and_then(|r| r.population_as_of.as_ref())
            {
                let _ = writeln!(
                    out,
                    "{}: population as of {t} (the source's inventory report)",
                    d.name
                );
            }
            if let Some(n) = d.last_run.as_ref().and_then(|r| r.suspicious_changes) {
                let _ = writeln!(
                    out,
                    "{}: {n} suspicious change(s) in the last run (ransomware signals; see `restoreproof report`)",
                    d.name
                );
            }
            if let Some(g) = d.gate.as_ref().filter(|g| !g.ok) {
                let _ = writeln!(out, "{}: GATE RED: {}", d.name, g.reasons.join("; "));
            }
        }
    }

    fn patch_text(&self, out: &mut String) {
        if let Some(p) = &self.patch {
            let failing: Vec<String> = p
                .findings
                .iter()
                .filter(|f| f.status != "pass")
                .map(|f| format!("{} {} ({})", f.check, f.status.to_uppercase(), f.observed))
                .collect();
            let _ = writeln!(
                out,
                "patch: checked {}: {}",
                p.checked_at,
                if failing.is_empty() {
                    format!("all {} check(s) pass", p.findings.len())
                } else {
                    format!(
                        "{} of {} check(s) not passing: {}",
                        failing.len(),
                        p.findings.len(),
                        failing.join("; ")
                    )
                }
            );
        }
    }

    fn sinks_text(&self, out: &mut String) {
        if !self.sinks.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<20} {:>8} {:>10}  STATE",
                "SINK", "BACKLOG", "DELIVERED"
            );
            for s in &self.sinks {
                let state = match (&s.last_error, &s.last_success_at) {
                    (Some(e), _) => format!(
                        "FAILING since {}: {e}",
                        s.last_error_at.as_deref().unwrap_or("?")
                    ),
                    (None, Some(t)) => format!("ok, last delivery {t}"),
                    (None, None) => "nothing delivered yet".into(),
                };
                let _ = writeln!(
                    out,
                    "{:<20} {:>8} {:>10}  {}",
                    s.sink, s.backlog, s.delivered_total, state
                );
            }
        }
    }
}
