//! One run from the shards of a sharded drill (`drill --shard`).
//!
//! Where shard outputs meet: a directory every shard and the merge can
//! reach (a shared volume; `--shard-dir`). Shard `I` of `N` of run `RUN`
//! records into `DIR/RUN/shard-I-of-N/` — a ledger and an evidence file of
//! its own, its checkpoints signed with the agent's key — and ships
//! nothing. The merge then, for every shard:
//!
//! - verifies its evidence chain and that it ends with a checkpoint signed
//!   by the agent's key (so nothing was edited, removed or appended);
//! - takes its last finished run of the drill (a retried shard's earlier
//!   attempt is passed over) and that run's verdicts;
//!
//! and records one run in the main ledger and evidence: each shard's
//! verdicts (with their shard, and the event id, sequence number and hash
//! they have in the shard's chain), then one run summary over all shards. Shards
//! draw the same population, so the merged population is theirs (they
//! must agree); sample and counts are the sums. A shard that is missing,
//! unfinished, tampered with, or whose run failed to run makes the merged
//! run `error`, naming it: never a partial pass.

use super::*;
use crate::config::Shard;
use crate::evidence::chain::{verify_lines, Line, NoteVerifier};
use crate::evidence::record::Record;
use serde::Deserialize;
use serde_json::Value;

mod batches;
use batches::{checked_batches, shard_body};

/// Where shard `s` of run `run` records under `root`.
pub fn shard_dir(root: &Path, run: &str, s: Shard) -> PathBuf {
    root.join(run)
        .join(format!("shard-{}-of-{}", s.index, s.count))
}

/// The id all shards of one run share: `given`, else `RESTOREPROOF_RUN_ID`,
/// else the array job's id from `AWS_BATCH_JOB_ID` (`PARENT:INDEX` in an
/// array's children).
///
/// # Errors
/// None is set, or the id is not a plain name (it becomes a directory).
pub fn run_id(given: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let id = given
        .map(str::to_owned)
        .or_else(|| env("RESTOREPROOF_RUN_ID"))
        .or_else(|| {
            env("AWS_BATCH_JOB_ID").map(|j| j.split(':').next().unwrap_or_default().to_owned())
        })
        .ok_or("a sharded run needs an id every shard shares: give --run-id (e.g. the Kubernetes Job's name), or set RESTOREPROOF_RUN_ID; an AWS Batch array job's id is taken from AWS_BATCH_JOB_ID")?;
    let plain = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.');
    if !plain {
        return Err(format!(
            "the run id `{id}` must be 1-128 letters, digits, `-`, `_` or `.` (it names a directory)"
        ));
    }
    Ok(id)
}

/// How one shard's output was found.
#[derive(Debug, Clone, Serialize)]
pub struct ShardOutcome {
    pub index: u32,
    pub count: u32,
    /// `merged`, `missing`, `unfinished`, `tampered` or `failed_to_run`.
    pub status: &'static str,
    /// The shard's own run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Its chain's head (hash of the last event) and length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    pub events: u64,
    pub verdicts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The shards as the merged run summary records them.
#[derive(Debug, Clone, Serialize)]
pub struct MergedShards {
    /// The sharded run's id (`--run-id`).
    pub run: String,
    pub count: u32,
    pub shards: Vec<ShardOutcome>,
}

/// What a shard's run summary says, as far as the merge reads it.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ShardSummary {
    run_id: String,
    status: String,
    error: Option<String>,
    shard: Option<Shard>,
    seed: Option<u64>,
    population: Population,
    population_from: String,
    population_as_of: Option<String>,
    sampled: u64,
    sampled_bytes: u64,
    counts: Counts,
    not_started: u64,
    bytes_restored: u64,
    source: Option<crate::evidence::record::Source>,
}

/// What a shard's verdict says, as far as the ledger's row needs it.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ShardVerdict {
    recovery_point: crate::evidence::record::Point,
    verdict: String,
    reason: Option<String>,
    checks: Value,
    restore: ShardRestore,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ShardRestore {
    bytes: u64,
    duration_ms: u64,
    sha256: Option<String>,
}

/// A shard's output, read and checked.
#[derive(Debug)]
struct ShardRun {
    outcome: ShardOutcome,
    summary: Option<ShardSummary>,
    /// Its verdicts' records (the run's only), with their shard-chain hash.
    verdicts: Vec<(Record, String)>,
    /// Its batches of verified samples (`sample_batch` records, with their
    /// shard-chain hash), whose rows are in `ledger`, each checked against
    /// its root.
    batches: Vec<(Record, String)>,
    ledger: PathBuf,
}

/// Every shard of `run` under `root`: how each was found. `count` is
/// given, or taken from the shards' directories.
///
/// # Errors
/// No shard directory at all, or directories that disagree on the count.
pub fn read_shards(
    root: &Path,
    run: &str,
    count: Option<u32>,
    drill: &str,
    key: &NoteVerifier,
) -> Result<Vec<ShardRunRead>, String> {
    let dir = root.join(run);
    let mut counts = std::collections::BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = name
                .strip_prefix("shard-")
                .and_then(|r| r.split_once("-of-"))
                .and_then(|(_, n)| n.parse::<u32>().ok())
            {
                counts.insert(n);
            }
        }
    }
    let count = match (count, counts.len()) {
        (Some(n), _) => n,
        (None, 0) => {
            return Err(format!(
                "no shard of run `{run}` in {}: check --shard-dir and --run-id (the shards' own)",
                dir.display()
            ))
        }
        (None, 1) => counts.into_iter().next().unwrap_or(1),
        (None, _) => {
            return Err(format!(
                "the shards of run `{run}` in {} disagree on their number ({}): give --shards",
                dir.display(),
                counts
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    if count == 0 {
        return Err("--shards must be at least 1".into());
    }
    Ok((0..count)
        .map(|index| {
            ShardRunRead(read_one(
                &shard_dir(root, run, Shard { index, count }),
                Shard { index, count },
                drill,
                key,
            ))
        })
        .collect())
}

/// A shard as read (opaque outside this module).
#[derive(Debug)]
pub struct ShardRunRead(ShardRun);

impl ShardRunRead {
    pub fn outcome(&self) -> &ShardOutcome {
        &self.0.outcome
    }

    /// Still running (or not started): nothing wrong yet.
    pub fn pending(&self) -> bool {
        matches!(self.0.outcome.status, "missing" | "unfinished")
    }
}

fn read_one(dir: &Path, shard: Shard, drill: &str, key: &NoteVerifier) -> ShardRun {
    let mut outcome = ShardOutcome {
        index: shard.index,
        count: shard.count,
        status: "merged",
        run_id: None,
        head: None,
        events: 0,
        verdicts: 0,
        problem: None,
    };
    let fail = ShardRun::failed;
    let path = dir.join("evidence.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(
                outcome,
                "missing",
                format!(
                    "no output in {} (the shard never ran, or wrote elsewhere)",
                    dir.display()
                ),
            )
        }
        Err(e) => {
            return fail(
                outcome,
                "missing",
                format!("cannot read {}: {e}", path.display()),
            )
        }
    };
    let chain = match verified_chain(&path, &text, key) {
        Ok(c) => c,
        Err((events, head, problem)) => {
            outcome.events = events;
            outcome.head = head;
            return fail(outcome, "tampered", problem);
        }
    };
    outcome.events = chain.events;
    outcome.head.clone_from(&chain.head);
    let (records, hashes) = (chain.records, chain.hashes);
    let Some(summary_record) = records
        .iter()
        .rev()
        .find(|r| r.kind() == Some(EventKind::RunSummary) && r.drill == drill)
    else {
        return fail(
            outcome,
            "unfinished",
            format!("no finished run of drill `{drill}` in {} (still running, or it stopped before its summary)", path.display()),
        );
    };
    let summary: ShardSummary =
        serde_json::from_value(summary_record.raw.clone()).unwrap_or_default();
    outcome.run_id = Some(summary.run_id.clone());
    if summary.shard != Some(shard) {
        let said = summary
            .shard
            .map_or_else(|| "none".to_owned(), |s| format!("{}/{}", s.index, s.count));
        let problem = format!(
            "its run says it is shard {said}, not {}/{}",
            shard.index, shard.count
        );
        return fail(outcome, "tampered", problem);
    }
    let verdicts: Vec<(Record, String)> = records
        .iter()
        .filter(|r| {
            r.kind() == Some(EventKind::SampleVerdict)
                && r.run_id.as_deref() == Some(summary.run_id.as_str())
        })
        .map(|r| (r.clone(), hashes.get(&r.seq).cloned().unwrap_or_default()))
        .collect();
    let ledger = dir.join("ledger.db");
    let (batches, batched) = match checked_batches(&records, &hashes, &summary.run_id, &ledger) {
        Ok(b) => b,
        Err(problem) => return fail(outcome, "tampered", problem),
    };
    outcome.verdicts = verdicts.len() as u64 + batched;
    if summary.status != "completed" {
        outcome.status = "failed_to_run";
        outcome.problem = Some(format!(
            "its run ended `{}`: {}",
            summary.status,
            summary.error.clone().unwrap_or_default()
        ));
    }
    ShardRun {
        outcome,
        summary: Some(summary),
        verdicts,
        batches,
        ledger,
    }
}

impl ShardRun {
    /// A shard found `status`, for `problem`: nothing of it is merged.
    fn failed(mut outcome: ShardOutcome, status: &'static str, problem: String) -> Self {
        outcome.status = status;
        outcome.problem = Some(problem);
        Self {
            outcome,
            summary: None,
            verdicts: Vec::new(),
            batches: Vec::new(),
            ledger: PathBuf::new(),
        }
    }
}

/// A shard's evidence, verified.
struct Chain {
    records: Vec<Record>,
    /// Each event's hash, by sequence number.
    hashes: HashMap<u64, String>,
    events: u64,
    head: Option<String>,
}

/// Verifies a shard's evidence: an intact chain that ends with a
/// checkpoint signed by `key`. On failure: events seen, head, the problem.
fn verified_chain(
    path: &Path,
    text: &str,
    key: &NoteVerifier,
) -> Result<Chain, (u64, Option<String>, String)> {
    let torn = !text.is_empty() && !text.ends_with('\n');
    let n = text.lines().count();
    let lines: Vec<Line> = text
        .lines()
        .enumerate()
        .map(|(i, t)| Line {
            location: format!("{}:{}", path.display(), i + 1),
            text: t.to_owned(),
            first_in_file: i == 0,
            torn: torn && i + 1 == n,
        })
        .collect();
    let report = verify_lines(lines.iter().cloned(), None, Some(key));
    if let Some(f) = report.findings.first() {
        return Err((
            report.events,
            report.head.clone(),
            format!(
                "its evidence chain does not verify: {} ({})",
                f.message, f.location
            ),
        ));
    }
    let records: Vec<Record> = lines.iter().map(|l| Record::parse(&l.text)).collect();
    let signed_end = records.last().is_some_and(|r| {
        r.kind() == Some(EventKind::Checkpoint) && report.checkpoints_signed_by_key > 0
    });
    if !signed_end {
        return Err((
            report.events,
            report.head.clone(),
            "its evidence does not end with a checkpoint signed by the agent's key: events were added after the shard's last checkpoint, or it was signed with another key".into(),
        ));
    }
    Ok(Chain {
        records,
        hashes: report.hashes.iter().cloned().collect(),
        events: report.events,
        head: report.head,
    })
}

/// Envelope members a shard's record has that the merged record sets anew.
const ENVELOPE: [&str; 7] = [
    "schema",
    "seq",
    "kind",
    "time",
    "run_id",
    "prev_hash",
    "hash",
];

impl Drill<'_> {
    /// Records the merged run of `shards` (of sharded run `run`): their
    /// verdicts, then the summary.
    ///
    /// # Errors
    /// When the ledger or evidence file cannot be written.
    pub fn record_merge(
        &mut self,
        run: &str,
        shards: Vec<ShardRunRead>,
    ) -> Result<RunSummary, DrillError> {
        let started = Instant::now();
        let agent = AgentInfo::current();
        let run_id = uuid::Uuid::now_v7().to_string();
        let started_at = now_rfc3339();
        let shards: Vec<ShardRun> = shards.into_iter().map(|s| s.0).collect();
        let first = shards.iter().find_map(|s| s.summary.as_ref());
        let info = first.and_then(|s| s.source.as_ref()).map_or_else(
            || SourceInfo {
                name: self.config.source.clone(),
                kind: crate::config::Provider::S3,
                bucket: String::new(),
                prefix: String::new(),
                endpoint: None,
            },
            |s| SourceInfo {
                name: s.name.clone(),
                kind: s.provider().unwrap_or(crate::config::Provider::S3),
                bucket: s.bucket.clone(),
                prefix: s.prefix.clone(),
                endpoint: s.endpoint.clone(),
            },
        );
        let seed = first.and_then(|s| s.seed);
        self.start_run_row(&run_id, &info, &started_at, seed)?;
        let mut summary = self.new_summary(&run_id, info.clone(), started_at, seed);
        let mut problems: Vec<String> = shards
            .iter()
            .filter_map(|s| {
                s.outcome
                    .problem
                    .as_ref()
                    .map(|p| format!("shard {}/{}: {}", s.outcome.index, s.outcome.count, p))
            })
            .collect();
        if let Some(f) = first {
            for s in shards.iter().filter_map(|s| s.summary.as_ref()) {
                if s.population != f.population || s.seed != f.seed {
                    problems.push(format!(
                        "the shards did not draw from the same population and seed (shard {} listed {} candidates with seed {:?}; shard {} {} with {:?}): run every shard with the same --seed against the same inventory report",
                        f.shard.map_or(0, |x| x.index), f.population.candidates, f.seed,
                        s.shard.map_or(0, |x| x.index), s.population.candidates, s.seed
                    ));
                    break;
                }
            }
            summary.population = f.population;
            summary.population_from = match f.population_from.as_str() {
                "inventory" => "inventory",
                "parallel_listing" => "parallel_listing",
                _ => "listing",
            };
            summary.population_as_of.clone_from(&f.population_as_of);
        }
        for s in &shards {
            if s.outcome.problem.is_some() && s.outcome.status != "failed_to_run" {
                continue;
            }
            self.import_verdicts(&run_id, &info, run, s)?;
            if let Some(x) = &s.summary {
                summary.sampled += x.sampled;
                summary.sampled_bytes += x.sampled_bytes;
                summary.not_started += x.not_started;
                summary.bytes_restored += x.bytes_restored;
                summary.counts.add_all(&x.counts);
            }
        }
        if !problems.is_empty() {
            summary.status = RunStatus::Error;
            summary.error = Some(format!(
                "the sharded run `{run}` is incomplete or not to be trusted, so it does not pass: {}",
                problems.join("; ")
            ));
        }
        summary.shards = Some(MergedShards {
            run: run.to_owned(),
            count: shards.first().map_or(0, |s| s.outcome.count),
            shards: shards.into_iter().map(|s| s.outcome).collect(),
        });
        self.finish(&mut summary, &agent, started)?;
        Ok(summary)
    }

    /// Records one shard's verdicts under the merged run, in group
    /// commits: each a new event (a merge that crashed part-way and is run
    /// again records them anew under a new run; the unfinished one is
    /// closed as aborted), saying its shard, and its event id and place in
    /// the shard's chain.
    fn import_verdicts(
        &mut self,
        run_id: &str,
        info: &SourceInfo,
        run: &str,
        s: &ShardRun,
    ) -> Result<(), DrillError> {
        for group in s.verdicts.chunks(GROUP_COMMIT_SAMPLES) {
            let mut events = Vec::with_capacity(group.len());
            let mut owned = Vec::with_capacity(group.len());
            for (record, hash) in group {
                let body = shard_body(record, run, s, hash, None);
                let event = Event::with_value(
                    EventKind::SampleVerdict,
                    Some(run_id.to_owned()),
                    Value::Object(body),
                );
                events.push(event);
                let v: ShardVerdict =
                    serde_json::from_value(record.raw.clone()).unwrap_or_default();
                let rp = &v.recovery_point;
                let point_id = match (&rp.snapshot, &rp.version_id) {
                    (Some(snap), _) => format!("snapshot:{snap}"),
                    (None, Some(id)) => id.clone(),
                    (None, None) if rp.rest.contains_key("deleted") => "deleted".into(),
                    (None, None) => "current".into(),
                };
                let checks = if v.checks.is_null() {
                    "[]".to_owned()
                } else {
                    v.checks.to_string()
                };
                owned.push((v, point_id, checks));
            }
            let rows: Vec<SampleRow<'_>> = owned
                .iter()
                .map(|(v, point_id, checks)| SampleRow {
                    run_id,
                    source: &info.name,
                    key: &v.recovery_point.key,
                    version_id: point_id,
                    size: v.recovery_point.size.unwrap_or(0),
                    verdict: v.verdict.as_str(),
                    reason: v.reason.as_deref(),
                    sha256: v.restore.sha256.as_deref(),
                    bytes: v.restore.bytes,
                    duration_ms: v.restore.duration_ms,
                    checks_json: checks,
                    // A first-seen baseline is earned as a drill earns it:
                    // bytes that disagreed with no reference.
                    new_baseline: matches!(v.verdict.as_str(), "verified" | "no_reference"),
                    last_modified: v.recovery_point.last_modified.clone(),
                    content: None,
                    batched: None,
                    at_rest: false,
                })
                .collect();
            lock(self.recorder).commit_many(&mut events, |ledger, events| {
                ledger.record_samples(&rows, events)
            })?;
        }
        for (record, hash) in &s.batches {
            self.import_batch(run_id, info, run, s, record, hash)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
