//! A restored bucket judged against the source as it stood at the recovery
//! point, on the in-memory store.

use super::*;
use crate::drill::restored::judge;

fn at(n: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_700_000_000 + n, 0).unwrap_or_default()
}

/// The source: a (v0, v4 after the moment), b (v1), c (v2, deleted at 3
/// before the moment); the moment is 3.5 s in (between writes 3 and 4).
fn source() -> MemoryStore {
    let s = MemoryStore::new("src");
    s.put("a", b"a first".to_vec()); // 0
    s.put("b", b"b only".to_vec()); // 1
    s.put("c", b"c gone".to_vec()); // 2
    s.delete("c"); // 3
    s.put("a", b"a after the recovery point".to_vec()); // 4
    s
}

async fn judged(restored: MemoryStore) -> Vec<(String, Verdict, Option<String>)> {
    let src = source();
    let (out, _) = judge(
        &src,
        &restored,
        at(3),
        &|_| None,
        VerifyPolicy::Efficient,
        None,
    )
    .await
    .expect("judged");
    out.into_iter()
        .map(|j| (j.key, j.verdict, j.reason))
        .collect()
}

#[tokio::test]
async fn a_faithful_restore_is_verified_key_by_key_against_the_source_versions() {
    let copy = MemoryStore::new("copy");
    copy.put("a", b"a first".to_vec());
    copy.put("b", b"b only".to_vec());
    let j = judged(copy).await;
    assert_eq!(
        j.iter()
            .map(|(k, v, _)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        [("a", Verdict::Verified), ("b", Verdict::Verified)],
        "{j:?}"
    );
}

#[tokio::test]
async fn a_changed_missing_or_extra_key_is_named() {
    let copy = MemoryStore::new("copy");
    // `a` restored as the version written after the recovery point.
    copy.put("a", b"a after the recovery point".to_vec());
    // `b` left out; `c` (deleted before the recovery point) brought back.
    copy.put("c", b"c gone".to_vec());
    let j = judged(copy).await;
    let by_key: std::collections::HashMap<&str, (Verdict, &str)> = j
        .iter()
        .map(|(k, v, r)| (k.as_str(), (*v, r.as_deref().unwrap_or(""))))
        .collect();
    assert_eq!(by_key["a"].0, Verdict::Mismatch, "{j:?}");
    assert_eq!(by_key["b"].0, Verdict::Unrecoverable, "{j:?}");
    assert!(by_key["b"].1.contains("did not bring back b"), "{j:?}");
    assert_eq!(by_key["c"].0, Verdict::Mismatch, "{j:?}");
    assert!(by_key["c"].1.contains("no current version"), "{j:?}");
}

#[tokio::test]
async fn a_corrupted_copy_is_a_mismatch_against_the_sources_own_references() {
    let copy = MemoryStore::new("copy");
    let a = copy.put("a", b"a first".to_vec());
    copy.put("b", b"b only".to_vec());
    copy.fault(&a, Fault::Corrupt { offset: 1 });
    let j = judged(copy).await;
    assert_eq!(j[0].1, Verdict::Mismatch, "{j:?}");
    assert_eq!(j[1].1, Verdict::Verified, "{j:?}");
}

/// A restore test's run records every key's verdict (over several group
/// commits) and one summary with `trigger = "aws_backup"` and its job.
#[tokio::test]
async fn a_restore_tests_run_records_every_key_and_names_its_job() {
    let src = MemoryStore::new("s");
    let copy = MemoryStore::new("copy");
    for i in 0..150 {
        let (k, b) = (format!("k/{i:03}"), format!("body {i}").into_bytes());
        src.put(&k, b.clone());
        copy.put(&k, b);
    }
    // The copy's current k/007 is not what the source held.
    copy.put("k/007", b"changed".to_vec());
    let h = Harness::new("stream");
    let mut drill = Drill {
        config: &h.config.drills["d"],
        recorder: &h.recorder,
        stop: Stop::new(),
        trigger: Trigger::AwsBackup,
    };
    let job = AwsBackupRun {
        restore_job_id: "job-1".into(),
        recovery_point_arn: "arn:aws:backup:us-east-1:1:recovery-point:x".into(),
        recovery_point_created_at: at(1000).to_rfc3339(),
        restored_bucket: "copy".into(),
        restore_testing_plan_arn: None,
        failures: Vec::new(),
    };
    let s = drill
        .restore_test(
            Arc::new(src),
            Arc::new(copy),
            at(1000),
            job,
            std::time::Instant::now() + std::time::Duration::from_secs(60),
        )
        .await
        .expect("run");
    assert_eq!(
        (s.counts.verified, s.counts.mismatch),
        (149, 1),
        "{:?}",
        s.counts
    );
    let b = s.aws_backup.as_ref().expect("job");
    assert_eq!(b.failures.len(), 1);
    assert!(
        b.failures[0].starts_with("k/007 mismatch"),
        "{:?}",
        b.failures
    );
    let evidence = h.evidence();
    assert_eq!(evidence.matches("\"kind\":\"sample_verdict\"").count(), 150);
    assert!(evidence.contains("\"trigger\":\"aws_backup\""));
    assert!(evidence.contains("\"restore_job_id\":\"job-1\""));
}
