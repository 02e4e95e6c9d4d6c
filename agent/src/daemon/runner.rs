//! The scheduler's view of the service: when a drill last ran, running
//! one (its source set up, or the reason it could not be recorded as a run
//! with status error), and where each drill's next run is noted.

use super::*;

#[async_trait::async_trait]
impl Runner for Agent {
    fn last_run(&self, drill: &str) -> Option<DateTime<Utc>> {
        let runs = lock(&self.recorder).ledger.last_runs().ok()?;
        let run = runs.get(drill)?;
        DateTime::parse_from_rfc3339(&run.started_at)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    async fn run(&self, drill: Arc<DrillConfig>, stop: Stop) {
        let config = self.config();
        let mut run = Drill {
            config: &drill,
            recorder: &self.recorder,
            stop,
            trigger: crate::drill::Trigger::Schedule,
        };
        // Validation guarantees the source is configured; a fire whose
        // source cannot be set up is a run that could not run, recorded
        // with the reason (never a silent skip).
        let built = match config.sources.get(&drill.source) {
            Some(c) => crate::providers::build(&drill.source, c, BuildOptions::for_drill(&drill))
                .await
                .map_err(|e| {
                    (
                        source::SourceInfo::of_config(&drill.source, c),
                        e.to_string(),
                    )
                }),
            None => Err((
                source::SourceInfo {
                    name: drill.source.clone(),
                    kind: crate::config::Provider::S3,
                    bucket: String::new(),
                    prefix: String::new(),
                    endpoint: None,
                },
                format!(
                    "the drill names source `{}`, which is not configured",
                    drill.source
                ),
            )),
        };
        let outcome = match built {
            Ok(source) => run.run(source, Arc::new(Quiet)).await,
            Err((info, why)) => {
                let reason = format!("cannot set up the source `{}`: {why}", drill.source);
                tracing::error!(drill = %drill.name, source = %drill.source, reason, "The drill could not run; recorded as a run with status error.");
                run.record_error(None, info, &reason)
                    .and_then(|_| Err(crate::drill::DrillError::Unrunnable(reason)))
            }
        };
        match outcome {
            Ok(s) if s.counts.any_failure() => tracing::warn!(
                drill = %drill.name, run_id = %s.run_id, status = %s.status,
                mismatch = s.counts.mismatch, unrecoverable = s.counts.unrecoverable,
                "Drill found recovery points that failed verification."
            ),
            Ok(s) => tracing::info!(
                drill = %drill.name, run_id = %s.run_id, status = %s.status,
                verified = s.counts.verified, aborted = s.counts.aborted,
                "Drill run ended."
            ),
            Err(e) => tracing::error!(drill = %drill.name, error = %e, "Drill could not run."),
        }
        if let Err(e) = self.judge_gates(&config) {
            tracing::error!(error = %e, "Cannot judge the staleness gates.");
        }
        self.write_metrics(&config);
    }

    fn next_run(&self, drill: &str, at: Option<DateTime<Utc>>) {
        self.next_runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(drill.to_owned(), at);
    }
}
