//! A restored copy judged against what it restores: every key of a bucket
//! a restore wrote (an AWS Backup restore test's new bucket) against the
//! version of that key that was current in the source at the recovery
//! point's time ([`crate::source::as_of`]). The references are the source
//! version's own — its stored checksums and ETag (read from the source,
//! never from the copy) and the ledger's first-seen baseline — and the
//! bytes are the copy's: so a copy that differs from what was backed up is
//! a mismatch, and a key the restore left out is unrecoverable.

use super::*;
use crate::source::as_of::AsOf;
use crate::source::ListItem;
use crate::verify::{compare, identity, verdict, Baseline, Check, Hasher};
use chrono::{DateTime, Utc};

/// One key of the restore, judged.
#[derive(Debug, Clone)]
pub struct Judged {
    pub key: String,
    /// The source's version current at the recovery point (`None`: the
    /// copy holds a key that had none).
    pub source: Option<Candidate>,
    pub verdict: Verdict,
    pub reason: Option<String>,
    pub checks: Vec<Check>,
    pub sha256: Option<String>,
    pub bytes: u64,
}

impl Judged {
    /// The verdict as a drill records it (the recovery point is the source
    /// version; a key with none is named alone).
    fn into_result(self) -> SampleResult {
        let mut r = SampleResult::unrecoverable(self.source.unwrap_or_else(|| Candidate {
            key: self.key.clone(),
            ..Candidate::default()
        }));
        r.verdict = self.verdict;
        r.reason = self.reason;
        r.checks = self.checks;
        r.sha256 = self.sha256;
        r.bytes = self.bytes;
        r.attempts = 1;
        r
    }
}

/// Every key of `restored` against `source` as it stood at `at`, in key
/// order; `baseline` gives the ledger's first-seen record of a source
/// version. Past `deadline`, no further key is judged and the second value
/// is `true` (cut short).
///
/// # Errors
/// When either cannot be listed (nothing is judged then).
pub async fn judge(
    source: &dyn RecoverySource,
    restored: &dyn RecoverySource,
    at: DateTime<Utc>,
    baseline: &(dyn Fn(&Candidate) -> Option<Baseline> + Sync),
    policy: VerifyPolicy,
    deadline: Option<Instant>,
) -> Result<(Vec<Judged>, bool), SourceError> {
    let mut as_of = AsOf::new(at);
    let mut listing = source.list();
    while let Some(item) = listing.next().await {
        as_of.add(item?);
    }
    drop(listing);
    let mut expected: Vec<(String, Candidate)> = as_of.current().into_iter().collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let mut copies: HashMap<String, Candidate> = HashMap::new();
    let mut listing = restored.list();
    while let Some(item) = listing.next().await {
        if let ListItem::Version(c) = item? {
            if c.is_latest && !c.behind_delete_marker {
                copies.insert(c.key.clone(), c);
            }
        }
    }
    drop(listing);
    let mut out = Vec::with_capacity(expected.len());
    let past = || deadline.is_some_and(|d| Instant::now() >= d);
    for (key, version) in expected {
        if past() {
            return Ok((out, true));
        }
        let judged = match copies.remove(&key) {
            Some(copy) => {
                one(
                    source,
                    restored,
                    &version,
                    &copy,
                    baseline(&version),
                    policy,
                )
                .await
            }
            None => Judged {
                reason: Some(format!(
                    "the restore did not bring back {key} (version {}, current at {})",
                    version.point_id(),
                    at.to_rfc3339()
                )),
                key,
                source: Some(version),
                verdict: Verdict::Unrecoverable,
                checks: Vec::new(),
                sha256: None,
                bytes: 0,
            },
        };
        out.push(judged);
    }
    let mut extra: Vec<Candidate> = copies.into_values().collect();
    extra.sort_by(|a, b| a.key.cmp(&b.key));
    out.extend(extra.into_iter().map(|c| Judged {
        reason: Some(format!(
            "the restored bucket holds {}, which had no current version in the source at {}",
            c.key,
            at.to_rfc3339()
        )),
        key: c.key,
        source: None,
        verdict: Verdict::Mismatch,
        checks: Vec::new(),
        sha256: None,
        bytes: 0,
    }));
    Ok((out, false))
}

/// One copy against the source version it restores.
async fn one(
    source: &dyn RecoverySource,
    restored: &dyn RecoverySource,
    version: &Candidate,
    copy: &Candidate,
    baseline: Option<Baseline>,
    policy: VerifyPolicy,
) -> Judged {
    let failed = |verdict, reason: String| Judged {
        key: version.key.clone(),
        source: Some(version.clone()),
        verdict,
        reason: Some(reason),
        checks: Vec::new(),
        sha256: None,
        bytes: 0,
    };
    // The source version's references, as the source states them once
    // its answer is bound to the listing (a store that answers for another
    // version gives no reference, and says so in the checks); the
    // listing's own when its attributes cannot be read.
    let (mut attrs, identity_checks) = match source.attributes(version).await {
        Ok(a) => {
            let bound = identity::bind(identity::Responder::Attributes, version, a, None);
            let mut checks = bound.checks;
            checks.extend(bound.set_aside);
            (bound.references, checks)
        }
        Err(_) => (identity::listed_references(version), Vec::new()),
    };
    let mut body = match restored.restore(copy).await {
        Ok(b) => b,
        Err(e) => {
            return failed(
                Verdict::Unrecoverable,
                format!("the restored copy of {} cannot be read: {e}", copy.key),
            )
        }
    };
    let sse = body
        .server_side_encryption
        .clone()
        .or_else(|| attrs.server_side_encryption.clone());
    if crate::verify::Plan::new(&attrs, sse.as_deref(), policy).needs_part_sizes() {
        // A composite checksum is over the source's parts.
        let _ = source.part_sizes(version, &mut attrs).await;
    }
    let mut hasher = Hasher::plan(&attrs, sse.as_deref(), policy);
    while let Some(chunk) = body.body.next().await {
        match chunk {
            Ok(c) => hasher.update(&c),
            Err(e) => {
                return failed(
                    Verdict::Unrecoverable,
                    format!("reading the restored copy of {} failed: {e}", copy.key),
                )
            }
        }
    }
    let digests = hasher.finish();
    let mut checks = identity_checks;
    checks.extend(compare(
        version,
        &attrs,
        sse.as_deref(),
        body.content_length,
        &digests,
        baseline.as_ref(),
    ));
    let v = verdict(&checks);
    Judged {
        key: version.key.clone(),
        source: Some(version.clone()),
        verdict: v,
        reason: match v {
            Verdict::Mismatch => Some(restore::mismatch_reason(&checks)),
            Verdict::NoReference => Some(
                "the source version has no reference that could be compared (no stored checksum, no MD5 ETag, no baseline)".into(),
            ),
            _ => None,
        },
        sha256: Some(hex::encode(&digests.sha256)),
        bytes: digests.bytes,
        checks,
    }
}

impl Drill<'_> {
    /// Runs one restore test: every key of `restored` judged against
    /// `source` as it stood at the recovery point, each verdict recorded
    /// (in group commits, batched when the drill says so) and one run
    /// summary with `trigger = "aws_backup"` and `job`. The caller posts
    /// the validation from the summary.
    ///
    /// # Errors
    /// When the ledger or the evidence file cannot be written; a source
    /// that cannot be listed is a run with status `error`.
    pub async fn restore_test(
        &mut self,
        source: Arc<dyn RecoverySource>,
        restored: Arc<dyn RecoverySource>,
        at: DateTime<Utc>,
        job: AwsBackupRun,
        deadline: Instant,
    ) -> Result<RunSummary, DrillError> {
        let run_id = uuid::Uuid::now_v7().to_string();
        let mut run = self.begin(&run_id, source.describe())?;
        run.summary.aws_backup = Some(job);
        let info = run.info.clone();
        let ledger_baseline = |c: &Candidate| {
            lock(self.recorder)
                .ledger
                .baseline(&info.name, &c.key, &c.point_id())
                .ok()
                .flatten()
        };
        let judged = judge(
            &*source,
            &*restored,
            at,
            &ledger_baseline,
            self.config.verify,
            Some(deadline),
        )
        .await;
        match judged {
            Err(e) => {
                run.summary.status = RunStatus::Error;
                run.summary.error = Some(format!(
                    "the source or the restored bucket could not be listed: {e}"
                ));
            }
            Ok((judged, cut_short)) => {
                if cut_short {
                    run.summary.status = RunStatus::Aborted;
                    run.summary.error = Some(
                        "the validation window was about to close before every key was judged; the verdicts recorded stand".into(),
                    );
                }
                run.summary.population.versions_listed = judged.len() as u64;
                run.summary.population.candidates = judged.len() as u64;
                let mut pending = Vec::new();
                let failures: Vec<String> = judged
                    .iter()
                    .filter(|j| j.verdict.is_failure())
                    .take(10)
                    .map(|j| {
                        format!(
                            "{} {}: {}",
                            j.key,
                            j.verdict,
                            j.reason.as_deref().unwrap_or("")
                        )
                    })
                    .collect();
                if let Some(b) = run.summary.aws_backup.as_mut() {
                    b.failures = failures;
                }
                for j in judged {
                    run.summary.sampled += 1;
                    run.summary.counts.add(j.verdict);
                    run.summary.bytes_restored += j.bytes;
                    run.summary.sampled_bytes += j.source.as_ref().map_or(0, |c| c.size);
                    // Baselines are first-seen bytes of the source itself,
                    // never of a copy.
                    pending.push((j.into_result(), false));
                }
                // In group commits, as a drill records.
                while !pending.is_empty() {
                    let rest = pending.split_off(pending.len().min(GROUP_COMMIT_SAMPLES));
                    self.record_batch(
                        &run.id,
                        &run.info,
                        &run.agent,
                        self.config,
                        &mut pending,
                        &Quiet,
                    )?;
                    pending = rest;
                }
            }
        }
        self.finish(&mut run.summary, &run.agent, run.started)?;
        Ok(run.summary)
    }
}
