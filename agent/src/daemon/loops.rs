//! The service's background loops beside the drill scheduler: patch checks,
//! anchoring, canaries and posture checks, each waiting for its next fire
//! time or the stop.

use super::*;

/// Runs posture checks on `[posture] schedule` until the daemon stops. The
/// schedule is read from the configuration in force each time the next run
/// is computed.
/// What waiting for a fire time ended with.
pub(super) enum Wait {
    Fired,
    /// No fire time: the config is read again (a reload may bring one).
    LookAgain,
    Stopping,
}

/// Sleeps until `fire`, or a minute when there is none, unless the agent
/// stops first.
pub(super) async fn wait_for(agent: &Agent, stop: &Stop, fire: Option<DateTime<Utc>>) -> Wait {
    let Some(fire) = fire else {
        return tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(60)) => Wait::LookAgain,
            () = stop.finishing() => Wait::Stopping,
        };
    };
    tokio::select! {
        () = scheduler::sleep_until(&*agent.clock, fire) => Wait::Fired,
        () = stop.finishing() => Wait::Stopping,
    }
}

/// Records the host's patch state on `[patch] schedule`; the config is
/// read again for every fire time.
pub(super) async fn patch_loop(agent: Arc<Agent>, stop: Stop) {
    loop {
        let config = agent.config();
        let fire = config
            .patch_schedule
            .as_ref()
            .and_then(|s| s.next_after(agent.clock.now()));
        match wait_for(&agent, &stop, fire).await {
            Wait::Fired => {}
            Wait::LookAgain => continue,
            Wait::Stopping => return,
        }
        let policy = config.patch_policy;
        let cloud = crate::providers::patch::view(&config).await;
        let recorded = tokio::task::block_in_place(|| {
            crate::patch::check_and_record(&mut lock(&agent.recorder), &policy, cloud)
        });
        match recorded {
            Ok((_, findings)) => tracing::info!(
                failed = findings
                    .iter()
                    .filter(|f| f.status == crate::posture::Status::Fail)
                    .count(),
                "Patch state recorded."
            ),
            Err(e) => tracing::error!(error = %e, "Cannot record the patch state."),
        }
    }
}

/// Checks at start that the anchor is write-once (a finding when it is
/// not), then writes new checkpoints there at every heartbeat interval.
pub(super) async fn anchor_loop(agent: Arc<Agent>, stop: Stop) {
    if let Some(a) = agent.config().anchor.clone() {
        let locked = crate::providers::s3::anchor::Anchor::open(&a)
            .await
            .locked()
            .await;
        let (status, observed, reason) = match locked {
            Ok(true) => (crate::posture::Status::Pass, "Object Lock enabled".to_owned(), None),
            Ok(false) => (
                crate::posture::Status::Fail,
                "Object Lock is not enabled".to_owned(),
                Some("checkpoints written there can be changed or deleted: create the anchor bucket with Object Lock enabled".to_owned()),
            ),
            Err(e) => (
                crate::posture::Status::Unknown,
                "not readable".to_owned(),
                Some(format!("cannot read the bucket's Object Lock configuration: {e}")),
            ),
        };
        let finding = crate::posture::Finding {
            source: a.source.clone(),
            check: "anchor.object_lock",
            status,
            observed,
            required: "Object Lock enabled; checkpoints are written in COMPLIANCE mode".into(),
            reason,
            controls: vec![crate::controls::LOGGING_AND_PROTECTION],
        };
        if let Err(e) =
            crate::posture::record_one(&mut lock(&agent.recorder), &AgentInfo::current(), &finding)
        {
            tracing::error!(error = %e, "Cannot record the anchor's check.");
        }
        if status != crate::posture::Status::Pass {
            tracing::warn!(bucket = %a.s3.bucket, "The evidence anchor is not write-once.");
        }
    }
    loop {
        let config = agent.config();
        tokio::select! {
            () = tokio::time::sleep(config.daemon.heartbeat_interval) => {}
            () = stop.finishing() => return,
        }
        if let Some(a) = &config.anchor {
            if let Err(e) = crate::providers::s3::anchor::sync(a, &agent.recorder).await {
                tracing::warn!(error = %e, "Cannot anchor checkpoints; trying again at the next heartbeat.");
            }
        }
    }
}

/// Writes (and deletes) each canary on its schedule; the config is read
/// again for every fire time, so a reload takes effect.
pub(super) async fn canary_loop(agent: Arc<Agent>, stop: Stop) {
    loop {
        let config = agent.config();
        let now = agent.clock.now();
        let next =
            |c: &crate::config::CanaryConfig| c.schedule.as_ref().and_then(|s| s.next_after(now));
        let fire = config.canaries.values().filter_map(next).min();
        match wait_for(&agent, &stop, fire).await {
            Wait::Fired => {}
            Wait::LookAgain => continue,
            Wait::Stopping => return,
        }
        for c in config.canaries.values().filter(|c| next(c) == fire) {
            let Some(source_config) = config.sources.get(&c.source) else {
                continue;
            };
            let options = BuildOptions {
                attempts: crate::config::defaults::ATTEMPTS,
                timeout: Duration::from_secs(300),
            };
            match crate::providers::build(&c.source, source_config, options).await {
                Ok(s) => {
                    if let Err(e) = crate::canary::write(c, &*s, &agent.recorder).await {
                        tracing::error!(canary = %c.name, error = %e, "Cannot write the canary.");
                    }
                }
                Err(e) => {
                    tracing::error!(canary = %c.name, error = %e, "Cannot set up the canary's source.");
                }
            }
        }
    }
}

pub(super) async fn posture_loop(agent: Arc<Agent>, stop: Stop) {
    loop {
        let config = agent.config();
        let Some(schedule) = config.posture_schedule.clone() else {
            // No schedule now; look again after a reload.
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(60)) => continue,
                () = stop.finishing() => return,
            }
        };
        let Some(fire) = schedule.next_after(agent.clock.now()) else {
            return;
        };
        tracing::info!(next_run = %fire.to_rfc3339_opts(SecondsFormat::Secs, true), schedule = schedule.expr(), "Next posture check scheduled.");
        tokio::select! {
            () = scheduler::sleep_until(&*agent.clock, fire) => {}
            () = stop.finishing() => return,
        }
        let (findings, not_checked) = crate::providers::check_posture(&config, None).await;
        let recorded = crate::posture::record(&mut lock(&agent.recorder), &findings);
        let failed = findings
            .iter()
            .filter(|f| f.status == crate::posture::Status::Fail)
            .count();
        match recorded {
            Ok(_) if failed > 0 => tracing::warn!(
                failed,
                checked = findings.len(),
                "Posture checks found settings that fail their requirement."
            ),
            Ok(_) => tracing::info!(
                checked = findings.len(),
                not_checked = not_checked.len(),
                "Posture checks recorded."
            ),
            Err(e) => tracing::error!(error = %e, "Cannot record posture findings."),
        }
    }
}

/// With `[aws_backup]`: takes the restore-testing queue's events as they
/// come (SQS long polling, 20 s) and validates each restore job; looks
/// again after a reload when the section is absent. A queue that cannot be
/// read is retried after a minute, said once per distinct error.
pub(super) async fn restore_testing_loop(agent: Arc<Agent>, stop: Stop) {
    let mut last_error: Option<String> = None;
    loop {
        let config = agent.config();
        let Some(validator) = crate::restore_testing::Validator::new(&config).await else {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(60)) => continue,
                () = stop.finishing() => return,
            }
        };
        let polled = tokio::select! {
            r = validator.once(&agent.recorder, &stop, 20) => r,
            () = stop.finishing() => return,
        };
        match polled {
            Ok(handled) => {
                last_error = None;
                for h in &handled {
                    tracing::info!(message_id = %h.message_id, restore_job = h.restore_job_id.as_deref().unwrap_or(""), outcome = h.outcome, posted = h.posted.unwrap_or(""), "Restore-testing event handled.");
                }
            }
            Err(e) => {
                if last_error.as_deref() != Some(e.as_str()) {
                    tracing::error!(error = %e, "Cannot validate AWS Backup restore tests; trying again in a minute.");
                    last_error = Some(e);
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(60)) => {}
                    () = stop.finishing() => return,
                }
            }
        }
    }
}

/// Collects the S3 Batch Operations jobs of `provider_checksum` runs at
/// every heartbeat interval: a run whose jobs all ended gets its verdicts
/// and finishes, whichever process submitted it and however often the
/// service restarted since.
pub(super) async fn provider_jobs_loop(agent: Arc<Agent>, stop: Stop) {
    loop {
        let config = agent.config();
        let waiting = lock(&agent.recorder)
            .ledger
            .waiting_runs()
            .map(|w| !w.is_empty())
            .unwrap_or(false);
        if waiting {
            match crate::drill::provider::collect(&config, &agent.recorder, &stop).await {
                Ok(runs) => {
                    for s in &runs {
                        tracing::info!(drill = %s.drill, run_id = %s.run_id, outcome = s.outcome.map_or("", crate::outcome::RunOutcome::as_str), verified = s.counts.verified, mismatch = s.counts.mismatch, unrecoverable = s.counts.unrecoverable, "Provider checksum jobs collected.");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "Cannot collect provider checksum jobs; trying again at the next heartbeat.");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(config.daemon.heartbeat_interval) => {}
            () = stop.finishing() => return,
        }
    }
}

/// How often the service verifies the whole evidence chain (and once at
/// start): each event's hash and link, read from the ledger by a
/// connection of its own, so recording never waits for it.
const CHAIN_CHECK_EVERY: Duration = Duration::from_secs(3600);

/// Verifies the evidence chain at start and every hour; a chain that does
/// not verify is a problem the heartbeat reports (`status` exits 1, the
/// metric `restoreproof_evidence_chain_intact` drops to 0).
pub(super) async fn chain_loop(agent: Arc<Agent>, stop: Stop) {
    loop {
        let path = agent.config().ledger_path.clone();
        let checked = tokio::task::spawn_blocking(move || {
            // A connection of its own, never an immutable one in the
            // process that writes the ledger (see `Ledger::open_reader`).
            let ledger = crate::ledger::Ledger::open_reader(&path)?;
            let lines = ledger.evidence_lines()?;
            let anchor = ledger.chain_anchor()?;
            Ok::<_, crate::ledger::LedgerError>(crate::evidence::chain::verify_lines(
                lines,
                (anchor.0 > 0).then_some(anchor),
                None,
            ))
        })
        .await;
        match checked {
            Ok(Ok(r)) => {
                let problem = (!r.intact()).then(|| {
                    r.findings
                        .first()
                        .map(|f| format!("{} at {}: {}", f.kind, f.location, f.message))
                        .unwrap_or_else(|| "the chain does not verify".into())
                });
                if let Some(p) = &problem {
                    tracing::error!(problem = %p, "The evidence chain does not verify.");
                }
                *agent
                    .chain_problem
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = problem;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Cannot read the evidence chain to verify it; trying again within the hour.")
            }
            Err(e) => tracing::error!(error = %e, "The evidence chain check failed (a bug)."),
        }
        tokio::select! {
            () = tokio::time::sleep(CHAIN_CHECK_EVERY) => {}
            () = stop.finishing() => return,
        }
    }
}
