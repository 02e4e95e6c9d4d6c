//! Drills that record their verified samples in batches
//! (`record_verified = "batched"`), against the in-memory store: what is an
//! event and what a leaf, the roots held to the chain, inclusion proofs.

use super::*;
use crate::evidence::batch::Proof;
use crate::evidence::record::{Body as RecordBody, Record};

fn batched() -> Harness {
    Harness::with("record_verified = \"batched\"")
}

impl Harness {
    async fn run_over(&self, store: MemoryStore) -> RunSummary {
        self.run(Arc::new(store), Trigger::Manual)
            .await
            .expect("the drill runs")
    }

    fn records(&self) -> Vec<Record> {
        self.evidence().lines().map(Record::parse).collect()
    }

    fn sql(&self, statement: &str) {
        rusqlite::Connection::open(self.dir.path().join("ledger"))
            .and_then(|c| c.execute_batch(statement))
            .expect("sql");
    }
}

/// 200 versions, one of them corrupted.
fn store() -> (MemoryStore, String) {
    let store = MemoryStore::new("s");
    let mut ids: Vec<String> = (0..200)
        .map(|i| store.put(&format!("k/{i:03}"), format!("body {i}").into_bytes()))
        .collect();
    let bad = ids.swap_remove(17);
    store.fault(&bad, Fault::Corrupt { offset: 2 });
    (store, bad)
}

/// Verified samples are leaves under a root the chain records; the
/// failure is an event of its own; the ledger's rows hash to the root.
#[tokio::test]
async fn verified_samples_are_leaves_and_failures_stay_events() {
    let h = batched();
    let (store, bad) = store();
    let s = h.run_over(store).await;
    assert_eq!(
        (s.counts.verified, s.counts.mismatch),
        (199, 1),
        "{:?}",
        s.counts
    );
    let records = h.records();
    let verdicts: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.body {
            RecordBody::SampleVerdict(v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts.len(), 1, "only the failure is a verdict event");
    assert_eq!(verdicts[0].verdict_name, "mismatch");
    assert_eq!(
        verdicts[0].recovery_point.version_id.as_deref(),
        Some(bad.as_str())
    );
    let batches: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.body {
            RecordBody::SampleBatch(b) => Some(b),
            _ => None,
        })
        .collect();
    assert!(!batches.is_empty());
    assert_eq!(batches.iter().map(|b| b.count).sum::<u64>(), 199);
    assert!(batches
        .iter()
        .all(|b| b.verdict_name == "verified" && b.root.len() == 64));
    let ledger = &lock(&h.recorder).ledger;
    assert_eq!(ledger.rows_disagreeing_with_chain().expect("check"), vec![]);
    // Reports read a batched row as they read a verdict event.
    let samples = ledger.samples_since("").expect("samples");
    assert_eq!(samples.len(), 200);
    let leaf = samples
        .iter()
        .find(|s| s.verdict == "verified")
        .expect("one");
    assert_eq!(leaf.pick.as_deref(), Some("uniform"));
    assert!(leaf
        .last_modified
        .as_deref()
        .is_some_and(|t| t.starts_with("2023-")));
}

/// A batched row edited, removed or added no longer hashes to the root its
/// event states: the ledger's check names the batch.
#[tokio::test]
async fn an_edited_removed_or_added_leaf_breaks_its_batchs_root() {
    for tamper in [
        "UPDATE samples SET sha256 = 'ff' || substr(sha256, 3) WHERE rowid = (SELECT MIN(rowid) FROM samples WHERE batch_seq IS NOT NULL)",
        "DELETE FROM samples WHERE rowid = (SELECT MAX(rowid) FROM samples WHERE batch_seq IS NOT NULL)",
        "INSERT INTO samples SELECT 'forged', run_id, source, 'k/forged', version_id, size, verdict, reason, sha256, bytes, duration_ms, checks, recorded_at, batch_seq, 9999 FROM samples WHERE batch_seq IS NOT NULL LIMIT 1",
    ] {
        let h = batched();
        let (store, _) = store();
        h.run_over(store).await;
        h.sql(tamper);
        let found = lock(&h.recorder)
            .ledger
            .rows_disagreeing_with_chain()
            .expect("check");
        assert_eq!(found.len(), 1, "{tamper}: {found:?}");
        assert!(found[0].row.starts_with("batch "), "{found:?}");
        assert!(found[0].message.contains("was edited, added or removed"), "{found:?}");
    }
}

/// Any verified sample has an inclusion proof that checks on its own —
/// leaf, path, the batch event and the chain up to the signed checkpoint —
/// and fails when any part of it is changed.
#[tokio::test]
async fn a_proof_of_one_sample_checks_alone_and_fails_when_altered() {
    let h = batched();
    let key = crate::evidence::chain::NoteKey::generate("test-key");
    lock(&h.recorder).signer = Some(key.clone());
    let (store, bad) = store();
    h.run_over(store).await;
    let ledger = &lock(&h.recorder).ledger;
    let samples = ledger.samples_since("").expect("samples");
    let verifier = crate::evidence::chain::NoteVerifier::parse(&key.vkey()).expect("vkey");
    for s in samples
        .iter()
        .filter(|s| s.verdict == "verified")
        .step_by(37)
    {
        let proof: Proof = ledger.prove(&s.event_id).expect("prove").expect("batched");
        let proven = proof.check(Some(&verifier)).expect("the proof checks");
        assert_eq!(
            (proven.key.as_str(), proven.event_id.as_str()),
            (s.key.as_str(), s.event_id.as_str())
        );
        assert_eq!(proven.signed_by_key, Some(true));
        // A path through JSON and back is the same proof.
        let again: Proof =
            serde_json::from_str(&serde_json::to_string(&proof).expect("json")).expect("parse");
        assert!(again.check(None).is_ok());
        let mut edited = proof.clone();
        edited.leaf = edited.leaf.replace(&s.key, "k/elsewhere");
        assert!(
            edited.check(None).unwrap_err().contains("root"),
            "an edited leaf"
        );
        let mut moved = proof.clone();
        moved.index = (moved.index + 1) % moved.tree_size;
        assert!(moved.check(None).is_err(), "another index");
        let mut cut = proof.clone();
        cut.lines.pop();
        assert!(cut.check(None).is_err(), "no checkpoint");
        let mut forged = proof.clone();
        let n = forged.lines.len();
        forged.lines[n - 1] =
            forged.lines[n - 1].replacen("\"reason\":\"run\"", "\"reason\":\"forged\"", 1);
        assert!(
            forged.check(None).unwrap_err().contains("edited"),
            "an edited line"
        );
    }
    // The failure is an event of its own, not a leaf.
    let failure = samples
        .iter()
        .find(|s| s.version_id == bad)
        .expect("failure");
    assert!(ledger.prove(&failure.event_id).expect("prove").is_none());
    let other = crate::evidence::chain::NoteKey::generate("other");
    let s = samples
        .iter()
        .find(|s| s.verdict == "verified")
        .expect("one");
    let proof = ledger.prove(&s.event_id).expect("prove").expect("batched");
    assert_eq!(
        proof
            .check(Some(
                &crate::evidence::chain::NoteVerifier::parse(&other.vkey()).expect("vkey")
            ))
            .expect("checks")
            .signed_by_key,
        Some(false)
    );
}
