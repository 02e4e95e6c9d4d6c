//! A shard's records as the merge records them anew, and its batches of
//! verified samples: each checked against the
//! shard's own ledger (its rows must hash to the root its verified chain
//! states), then recorded in the main ledger as a batch of its own.

use super::*;

/// A shard's record as the merge records it anew: its members without
/// the envelope, and `shard` naming the shard and the record's place in
/// the shard's chain; a batch also takes its new `root` and names the
/// shard's.
pub(super) fn shard_body(
    record: &Record,
    run: &str,
    s: &ShardRun,
    hash: &str,
    root: Option<String>,
) -> serde_json::Map<String, Value> {
    let mut body = match &record.raw {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    for k in ENVELOPE {
        body.remove(k);
    }
    body.remove("event_id");
    let mut shard = serde_json::json!({
        "run": run,
        "index": s.outcome.index,
        "count": s.outcome.count,
        "run_id": s.outcome.run_id,
        "event_id": record.event_id,
        "seq": record.seq,
        "hash": hash,
    });
    if let (Some(root), Value::Object(shard)) = (root, &mut shard) {
        shard.insert("root".into(), body.remove("root").unwrap_or_default());
        body.insert("root".into(), root.into());
    }
    body.insert("shard".into(), shard);
    body
}

/// A shard run's batches (with their shard-chain hash), each checked
/// against the shard's ledger, and the verdicts in them.
pub(super) fn checked_batches(
    records: &[Record],
    hashes: &HashMap<u64, String>,
    run_id: &str,
    ledger: &Path,
) -> Result<(Vec<(Record, String)>, u64), String> {
    let batches: Vec<(Record, String)> = records
        .iter()
        .filter(|r| r.kind() == Some(EventKind::SampleBatch) && r.run_id.as_deref() == Some(run_id))
        .map(|r| (r.clone(), hashes.get(&r.seq).cloned().unwrap_or_default()))
        .collect();
    let mut verdicts = 0;
    for (record, _) in &batches {
        verdicts += batch_rows(ledger, record)?.len() as u64;
    }
    Ok((batches, verdicts))
}

/// The rows of a shard's batch, read from its ledger and checked against
/// the root and count its (verified) event states; the problem otherwise.
fn batch_rows(ledger: &Path, record: &Record) -> Result<Vec<crate::ledger::BatchedRow>, String> {
    let crate::evidence::record::Body::SampleBatch(b) = &record.body else {
        return Err("not a batch".into());
    };
    let rows = crate::ledger::Ledger::open_read_only(ledger)
        .and_then(|l| l.batch_rows(record.seq))
        .map_err(|e| {
            format!(
                "its ledger {} cannot be read, so its batched verdicts cannot be checked: {e}",
                ledger.display()
            )
        })?;
    let hashes: Vec<_> = rows.iter().map(|r| r.columns().hash()).collect();
    let root = hex::encode(crate::evidence::merkle::root(&hashes));
    if root != b.root || rows.len() as u64 != b.count {
        return Err(format!(
            "the {} row(s) of its batch {} in {} hash to root {root}, but its chain states {} leaves with root {}: its ledger was edited",
            rows.len(),
            record.seq,
            ledger.display(),
            b.count,
            b.root
        ));
    }
    Ok(rows)
}

impl Drill<'_> {
    /// Records one of a shard's batches under the merged run: its rows as
    /// new leaves (new ids, as verdicts get; each names its id in the
    /// shard as `shard_event_id`) under a new root, and a batch event that
    /// names the shard's batch (event id, sequence number, hash, root).
    pub(super) fn import_batch(
        &mut self,
        run_id: &str,
        info: &SourceInfo,
        run: &str,
        s: &ShardRun,
        record: &Record,
        hash: &str,
    ) -> Result<(), DrillError> {
        let rows = batch_rows(&s.ledger, record).map_err(DrillError::Unrunnable)?;
        let leaves: Vec<(String, String)> = rows
            .iter()
            .map(|r| {
                let mut rest = match serde_json::from_str::<Value>(&r.rest) {
                    Ok(Value::Object(m)) => m,
                    _ => serde_json::Map::new(),
                };
                rest.insert("shard_event_id".into(), r.event_id.clone().into());
                (
                    uuid::Uuid::now_v7().to_string(),
                    Value::Object(rest).to_string(),
                )
            })
            .collect();
        let hashes: Vec<_> = rows
            .iter()
            .zip(&leaves)
            .map(|(r, (id, rest))| {
                crate::evidence::batch::LeafColumns {
                    event_id: id,
                    rest,
                    ..r.columns()
                }
                .hash()
            })
            .collect();
        let root = hex::encode(crate::evidence::merkle::root(&hashes));
        let body = shard_body(record, run, s, hash, Some(root));
        let mut events = vec![Event::with_value(
            EventKind::SampleBatch,
            Some(run_id.to_owned()),
            Value::Object(body),
        )];
        let sample_rows: Vec<SampleRow<'_>> = rows
            .iter()
            .zip(&leaves)
            .map(|(r, (id, rest))| SampleRow {
                run_id,
                source: &info.name,
                key: &r.key,
                version_id: &r.version_id,
                size: r.size,
                verdict: "verified",
                reason: None,
                sha256: Some(&r.sha256),
                bytes: r.bytes,
                duration_ms: r.duration_ms,
                checks_json: "",
                new_baseline: true,
                last_modified: serde_json::from_str::<crate::evidence::batch::LeafRest>(rest)
                    .ok()
                    .map(|l| l.last_modified),
                content: None,
                batched: Some(crate::ledger::Batched { event_id: id, rest }),
                at_rest: false,
            })
            .collect();
        lock(self.recorder).commit_many(&mut events, |ledger, events| {
            ledger.record_samples(&sample_rows, events)
        })?;
        Ok(())
    }
}
