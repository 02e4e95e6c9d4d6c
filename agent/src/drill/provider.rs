//! `mode = "provider_checksum"`: nothing is restored. Each sampled S3
//! version's strongest independent reference is chosen — the ledger's
//! first-seen SHA-256 where one exists, else the checksum the store keeps
//! for it, else its MD5 ETag — and S3 Batch Operations computes that
//! algorithm over the version's bytes at rest, one job per algorithm and
//! checksum type ([`crate::providers::s3::batch`]). Submitting records the
//! jobs and points in the ledger and leaves the run `waiting`; collecting
//! (the service at a later heartbeat, `restoreproof collect`, or `drill
//! --wait`) reads each job's completion report, records a verdict per
//! point and finishes the run. Any process can collect: nothing of a
//! waiting run lives only in memory.
//!
//! What it proves: that the bytes S3 holds at rest for each version still
//! hash to a value recorded independently of them. What it does not: that
//! the restore path works (sampled restores prove that); its verdicts never
//! count as restore coverage.

use super::*;
use crate::config::provider_checksum::ProviderChecksumConfig;
use crate::config::Config;
use crate::ledger::provider::ProviderJobRow;
use crate::providers::s3::batch::{self, BatchOps, Entry, JobSpec, JobState, ReportRow};
use crate::source::ChecksumScope;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;

mod collect;
mod judge;

pub use collect::collect;

/// AWS's list price for Compute checksum: per job, per million objects,
/// per GB (10⁹ bytes) processed.
pub const PRICE_PER_JOB: f64 = 0.25;
pub const PRICE_PER_MILLION_OBJECTS: f64 = 1.0;
pub const PRICE_PER_GB: f64 = 0.004;

/// The estimated cost in US dollars of `jobs` jobs over `objects` objects
/// of `bytes` bytes in all.
pub fn estimate(jobs: usize, objects: u64, bytes: u64) -> f64 {
    let cost = PRICE_PER_JOB * jobs as f64
        + PRICE_PER_MILLION_OBJECTS * objects as f64 / 1e6
        + PRICE_PER_GB * bytes as f64 / 1e9;
    (cost * 100.0).round() / 100.0
}

/// What one sampled version is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// As S3 Control names it.
    pub algorithm: String,
    pub checksum_type: String,
    /// The reference's check name (`baseline.sha256`, `s3.checksum.crc64nvme`,
    /// `s3.etag`).
    pub reference: String,
    pub kind: ReferenceKind,
    /// As the reference states it: hex (baseline, ETag) or base64.
    pub value: String,
}

impl Expected {
    /// The reference's digest bytes.
    fn digest(&self) -> Option<Vec<u8>> {
        if self.kind == ReferenceKind::ProviderChecksum {
            let bare = self
                .value
                .split_once('-')
                .map_or(self.value.as_str(), |(d, _)| d);
            base64::engine::general_purpose::STANDARD.decode(bare).ok()
        } else {
            hex::decode(&self.value).ok()
        }
    }

    /// `digest` written as the reference writes its value.
    fn show(&self, digest: &[u8]) -> String {
        if self.kind == ReferenceKind::ProviderChecksum {
            base64::engine::general_purpose::STANDARD.encode(digest)
        } else {
            hex::encode(digest)
        }
    }
}

/// The strongest independent reference of a version for a job to compute:
/// its first-seen baseline (SHA-256), else the checksum the store keeps for
/// it (bound to the listing), else its ETag when that is an MD5 of the
/// bytes (single-part, not SSE-KMS or SSE-C). `None`: nothing S3 could
/// compute would be compared with anything.
pub fn choose(attrs: &StoredAttributes, baseline: Option<&Baseline>) -> Option<Expected> {
    if let Some(b) = baseline {
        return Some(Expected {
            algorithm: "SHA256".into(),
            checksum_type: "FULL_OBJECT".into(),
            reference: "baseline.sha256".into(),
            kind: ReferenceKind::Baseline,
            value: b.sha256.clone(),
        });
    }
    if let Some(c) = attrs.checksums.first() {
        let algorithm: &'static str = c.algorithm.into();
        return Some(Expected {
            algorithm: algorithm.to_ascii_uppercase(),
            checksum_type: match c.scope {
                ChecksumScope::FullObject => "FULL_OBJECT".into(),
                ChecksumScope::Composite => "COMPOSITE".into(),
            },
            reference: c.name.clone(),
            kind: ReferenceKind::ProviderChecksum,
            value: c.value.clone(),
        });
    }
    let etag = attrs.etag.as_deref()?;
    let md5 = etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit());
    (md5 && !attrs.etag_not_md5).then(|| Expected {
        algorithm: "MD5".into(),
        checksum_type: "FULL_OBJECT".into(),
        reference: "s3.etag".into(),
        kind: ReferenceKind::Etag,
        value: etag.to_ascii_lowercase(),
    })
}

/// One sampled version as the ledger keeps it while its run waits.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Point {
    key: String,
    version_id: Option<String>,
    size: u64,
    last_modified: DateTime<Utc>,
    is_latest: bool,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    storage_class: Option<String>,
    expected: Expected,
}

impl Point {
    fn of(c: &Candidate, expected: Expected) -> Self {
        Self {
            key: c.key.clone(),
            version_id: c.version_id.clone(),
            size: c.size,
            last_modified: c.last_modified,
            is_latest: c.is_latest,
            etag: c.etag.clone(),
            storage_class: c.storage_class.clone(),
            expected,
        }
    }

    fn candidate(&self) -> Candidate {
        Candidate {
            key: self.key.clone(),
            version_id: self.version_id.clone(),
            size: self.size,
            last_modified: self.last_modified,
            is_latest: self.is_latest,
            etag: self.etag.clone(),
            storage_class: self.storage_class.clone(),
            ..Candidate::default()
        }
    }
}

/// What a waiting run's summary needs from its submission (kept in the
/// run's row until it finishes).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Waiting {
    source: SourceInfo,
    started_at: String,
    seed: Option<u64>,
    trigger: Trigger,
    population: crate::sample::Population,
    population_from: String,
    population_as_of: Option<String>,
    sampled: u64,
    sampled_bytes: u64,
    error: Option<String>,
    provider: ProviderRun,
}

/// The clients of a drill's jobs.
///
/// # Errors
/// The drill is not a `provider_checksum` drill.
pub async fn batch_for(cfg: &DrillConfig) -> Result<(BatchOps, ProviderChecksumConfig), String> {
    let pc = cfg.provider_checksum.clone().ok_or_else(|| {
        format!(
            "drill `{}` has no [drills.{}.provider_checksum] settings",
            cfg.name, cfg.name
        )
    })?;
    let ops = BatchOps::new(&pc.s3, &pc.account_id, pc.endpoint.as_deref()).await;
    Ok((ops, pc))
}

impl Drill<'_> {
    /// Draws the sample, chooses each version's reference, estimates the
    /// cost (refusing above `max_cost`), submits one job per algorithm and
    /// records the run as `waiting`. Versions with no reference, or whose
    /// attributes cannot be read, get their verdict at once.
    pub(super) async fn provider_submit(
        &mut self,
        run_id: &str,
        source: Arc<dyn RecoverySource>,
        observer: &dyn Observer,
    ) -> Result<RunSummary, DrillError> {
        let (ops, pc) = batch_for(self.config)
            .await
            .map_err(DrillError::Unrunnable)?;
        let mut run = self.begin(run_id, source.describe())?;
        let Some(sample) = self.draw_sample(&mut run, &*source, observer).await? else {
            return Ok(run.summary);
        };
        let sampled = self.with_baselines(&run, sample)?;
        run.summary.sampled = sampled.len() as u64;
        run.summary.sampled_bytes = sampled.iter().map(|(c, _)| c.size).sum();
        let chosen = expectations(&source, sampled, self.config.concurrency).await;
        let (groups, mut at_once, bytes) = grouped(&chosen);
        if self.too_costly(&mut run, &pc, &groups, bytes)? {
            return Ok(run.summary);
        }
        let info = run.info.clone();
        let agent = run.agent.clone();
        self.record_batch(&run.id, &info, &agent, self.config, &mut at_once, observer)?;
        let points = self
            .submit_groups(&mut run, &ops, &pc, &chosen, &groups, observer)
            .await?;
        if run
            .summary
            .provider_checksum
            .as_ref()
            .is_none_or(|p| p.jobs.is_empty())
        {
            // Nothing to wait for.
            if run.summary.error.is_some() {
                run.summary.status = RunStatus::Error;
            }
            run.summary.counts = self.counts(&run.id)?;
            self.finish(&mut run.summary, &run.agent, run.started)?;
            return Ok(run.summary);
        }
        self.wait_for_jobs(&mut run, &points)?;
        Ok(run.summary)
    }

    /// Records the jobs and points and marks the run `waiting`.
    fn wait_for_jobs(
        &mut self,
        run: &mut run::Run,
        points: &[(Option<String>, String)],
    ) -> Result<(), DrillError> {
        let s = &mut run.summary;
        s.status = RunStatus::Waiting;
        // Until it is collected: when the submission ended.
        s.finished_at = now_rfc3339();
        s.counts = self.counts(&run.id)?;
        let provider = s.provider_checksum.clone().unwrap_or_default();
        let waiting = Waiting {
            source: run.info.clone(),
            started_at: s.started_at.clone(),
            seed: s.seed,
            trigger: s.trigger,
            population: s.population,
            population_from: s.population_from.to_owned(),
            population_as_of: s.population_as_of.clone(),
            sampled: s.sampled,
            sampled_bytes: s.sampled_bytes,
            error: s.error.clone(),
            provider: provider.clone(),
        };
        let rows: Vec<ProviderJobRow> = provider
            .jobs
            .iter()
            .map(|j| ProviderJobRow {
                job_id: j.job_id.clone(),
                algorithm: j.algorithm.clone(),
                checksum_type: j.checksum_type.clone(),
                manifest: j.manifest.clone(),
                objects: j.objects,
                submitted_at: now_rfc3339(),
            })
            .collect();
        let waiting_json = serde_json::to_string(&waiting).unwrap_or_default();
        let mut event = Event::new(
            Some(run.id.clone()),
            &Submitted {
                agent: &run.agent,
                drill: &self.config.name,
                source: &run.info,
                estimated_cost_usd: provider.estimated_cost_usd,
                max_cost_usd: provider.max_cost_usd,
                jobs: &provider.jobs,
            },
        );
        lock(self.recorder).commit(&mut event, |l, e| {
            l.submit_provider_jobs(&run.id, &rows, points, &waiting_json, e)
        })?;
        tracing::info!(run_id = %run.id, jobs = provider.jobs.len(), "The run waits for its S3 Batch Operations jobs.");
        Ok(())
    }

    /// The run's verdicts so far, from the ledger.
    fn counts(&self, run_id: &str) -> Result<Counts, DrillError> {
        let mut c = Counts::default();
        for (verdict, n) in lock(self.recorder).ledger.verdict_counts(run_id)? {
            if let Ok(v) = verdict.parse::<Verdict>() {
                for _ in 0..n {
                    c.add(v);
                }
            }
        }
        Ok(c)
    }
}

/// Each sampled version's reference (or its verdict at once), read
/// `concurrency` at a time, in sample order.
async fn expectations(
    source: &Arc<dyn RecoverySource>,
    sampled: Vec<(Candidate, Option<Baseline>)>,
    concurrency: usize,
) -> Vec<(Candidate, Result<Expected, SampleResult>)> {
    futures::stream::iter(sampled)
        .map(|(c, b)| {
            let source = source.clone();
            async move {
                let e = judge::expect(&*source, &c, b.as_ref()).await;
                (c, e)
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// The jobs to create — the places of their versions, by algorithm and
/// checksum type — the verdicts given at once, and the bytes the jobs
/// process.
type Groups = std::collections::BTreeMap<(String, String), Vec<usize>>;
fn grouped(
    chosen: &[(Candidate, Result<Expected, SampleResult>)],
) -> (Groups, Vec<(SampleResult, bool)>, u64) {
    let mut groups = Groups::new();
    let mut at_once = Vec::new();
    let mut bytes = 0;
    for (i, (c, e)) in chosen.iter().enumerate() {
        match e {
            Ok(x) => {
                groups
                    .entry((x.algorithm.clone(), x.checksum_type.clone()))
                    .or_default()
                    .push(i);
                bytes += c.size;
            }
            Err(r) => at_once.push((r.clone(), false)),
        }
    }
    (groups, at_once, bytes)
}

impl Drill<'_> {
    /// Records the estimate in the summary; above `max_cost`, ends the run
    /// in `error` before any job exists and returns `true`.
    fn too_costly(
        &mut self,
        run: &mut run::Run,
        pc: &ProviderChecksumConfig,
        groups: &Groups,
        bytes: u64,
    ) -> Result<bool, DrillError> {
        let objects = groups.values().map(Vec::len).sum::<usize>() as u64;
        let cost = estimate(groups.len(), objects, bytes);
        run.summary.provider_checksum = Some(ProviderRun {
            estimated_cost_usd: cost,
            max_cost_usd: pc.max_cost,
            jobs: Vec::new(),
        });
        tracing::info!(
            objects,
            bytes,
            jobs = groups.len(),
            estimated_cost_usd = cost,
            "Provider checksum jobs planned."
        );
        if cost > pc.max_cost {
            let s = &mut run.summary;
            s.status = RunStatus::Error;
            s.not_started = s.sampled;
            s.error = Some(format!(
                "the estimated cost of the S3 Batch Operations jobs, ${cost:.2} ({} job(s), {objects} object(s), {}), is above max_cost ${:.2}: sample fewer recovery points or raise drills.{}.provider_checksum.max_cost",
                groups.len(),
                crate::config::human_bytes(bytes),
                pc.max_cost,
                self.config.name
            ));
            self.finish(&mut run.summary, &run.agent, run.started)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes each group's manifest and creates its job; the versions of a
    /// job that could not be created are recorded `aborted` and the run's
    /// error says why. Returns the points to keep while the run waits.
    async fn submit_groups(
        &mut self,
        run: &mut run::Run,
        ops: &BatchOps,
        pc: &ProviderChecksumConfig,
        chosen: &[(Candidate, Result<Expected, SampleResult>)],
        groups: &Groups,
        observer: &dyn Observer,
    ) -> Result<Vec<(Option<String>, String)>, DrillError> {
        let info = run.info.clone();
        let agent = run.agent.clone();
        let mut jobs = Vec::new();
        let mut points: Vec<(Option<String>, String)> = Vec::new();
        let mut failed_groups = Vec::new();
        for ((algorithm, checksum_type), members) in groups {
            let entries: Vec<Entry> = members
                .iter()
                .map(|i| Entry {
                    bucket: info.bucket.clone(),
                    key: chosen[*i].0.key.clone(),
                    version_id: chosen[*i].0.version_id.clone(),
                })
                .collect();
            let spec = JobSpec {
                manifest: pc.manifests.clone(),
                manifest_key: format!(
                    "{}{}/{}/{}-{}.csv",
                    pc.manifests.prefix, self.config.name, run.id, algorithm, checksum_type
                ),
                csv: batch::manifest_csv(&entries),
                algorithm: algorithm.clone(),
                checksum_type: checksum_type.clone(),
                report: pc.reports.clone(),
                role_arn: pc.role_arn.clone(),
                token: format!("{}-{algorithm}", run.id),
                description: format!("restoreproof {} run {}", self.config.name, run.id),
            };
            match ops.submit(&spec).await {
                Ok(job_id) => {
                    tracing::info!(
                        job_id,
                        algorithm,
                        objects = entries.len(),
                        "S3 Batch Operations job created."
                    );
                    for i in members {
                        let (c, e) = &chosen[*i];
                        let Ok(e) = e else { continue };
                        let p = serde_json::to_string(&Point::of(c, e.clone())).unwrap_or_default();
                        points.push((Some(job_id.clone()), p));
                    }
                    jobs.push(ProviderJob {
                        job_id,
                        algorithm: algorithm.clone(),
                        checksum_type: checksum_type.clone(),
                        objects: entries.len() as u64,
                        manifest: format!("s3://{}/{}", spec.manifest.bucket, spec.manifest_key),
                        status: "New".into(),
                        failures: Vec::new(),
                    });
                }
                Err(e) => failed_groups.push((members.clone(), e)),
            }
        }
        // A job that could not be created says nothing of its versions:
        // they are recorded `aborted`, and the run ends in `error`.
        let mut not_submitted = Vec::new();
        for (members, why) in &failed_groups {
            tracing::error!(error = %why, "Cannot create an S3 Batch Operations job.");
            for i in members {
                let mut r = SampleResult::unrecoverable(chosen[*i].0.clone());
                r.verdict = Verdict::Aborted;
                r.reason = Some(format!("not checked: {why}"));
                not_submitted.push((r, false));
            }
        }
        self.record_batch(
            &run.id,
            &info,
            &agent,
            self.config,
            &mut not_submitted,
            observer,
        )?;
        if let Some((_, why)) = failed_groups.first() {
            run.summary.error = Some(format!("cannot create an S3 Batch Operations job: {why}"));
        }
        if let Some(p) = run.summary.provider_checksum.as_mut() {
            p.jobs = jobs;
        }
        Ok(points)
    }
}

/// The body of a `provider_job_submitted` event.
#[derive(Serialize)]
struct Submitted<'a> {
    agent: &'a AgentInfo,
    drill: &'a str,
    source: &'a SourceInfo,
    estimated_cost_usd: f64,
    max_cost_usd: f64,
    jobs: &'a [ProviderJob],
}

impl Body for Submitted<'_> {
    const KIND: EventKind = EventKind::ProviderJobSubmitted;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::StoredChecksum;

    #[test]
    fn the_estimate_is_aws_list_price() {
        // 1 million 2 MB objects in one job: $0.25 + $1 + 2,000 GB × $0.004.
        assert_eq!(estimate(1, 1_000_000, 2_000_000_000_000), 9.25);
        assert_eq!(estimate(2, 3, 9000), 0.5);
    }

    #[test]
    fn the_strongest_independent_reference_is_chosen() {
        let baseline = Baseline {
            sha256: "ab".repeat(32),
            size: 1,
            first_seen: "2026-12-01T00:00:00Z".into(),
        };
        let mut attrs = StoredAttributes {
            etag: Some("9e107d9d372bb6826bd81d3542a419d6".into()),
            ..StoredAttributes::default()
        };
        let md5 = choose(&attrs, None).expect("an MD5 ETag");
        assert_eq!(
            (md5.algorithm.as_str(), md5.reference.as_str()),
            ("MD5", "s3.etag")
        );
        attrs.checksums.push(StoredChecksum {
            name: "s3.checksum.crc64nvme".into(),
            note: None,
            algorithm: crate::source::ChecksumAlgorithm::Crc64Nvme,
            scope: ChecksumScope::FullObject,
            value: "AAAAAAAAAAA=".into(),
        });
        let stored = choose(&attrs, None).expect("the stored checksum");
        assert_eq!(
            (stored.algorithm.as_str(), stored.checksum_type.as_str()),
            ("CRC64NVME", "FULL_OBJECT")
        );
        let sha = choose(&attrs, Some(&baseline)).expect("the baseline");
        assert_eq!(
            (sha.algorithm.as_str(), sha.reference.as_str()),
            ("SHA256", "baseline.sha256")
        );
        // An ETag that is no MD5 of the bytes (multipart, SSE-KMS) is none.
        let kms = StoredAttributes {
            etag: Some("9e107d9d372bb6826bd81d3542a419d6".into()),
            etag_not_md5: true,
            ..StoredAttributes::default()
        };
        assert!(choose(&kms, None).is_none());
        let multipart = StoredAttributes {
            etag: Some("9e107d9d372bb6826bd81d3542a419d6-3".into()),
            ..StoredAttributes::default()
        };
        assert!(choose(&multipart, None).is_none());
    }
}
