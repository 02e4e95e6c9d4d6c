//! The same drill against the store dialects people run, each with an intact
//! recovery point that must be `verified` by a named stored reference and a
//! corrupted one that must be a `mismatch`, and with the requests each
//! recovery point cost counted at the fault proxy.
//!
//! moto is the store; the fault proxy turns it into the other dialects:
//! 501 `NotImplemented` for GetObjectAttributes, checksum headers removed
//! from GET/HEAD answers, bytes flipped in transit, a stalled call. moto itself is the
//! store whose GetObjectAttributes omits `ObjectParts` (it never lists part
//! sizes), so every multipart layout here comes from HeadObject
//! `partNumber`.

use crate::util::{checks_with, data, Agent, Bucket, Run};
use aws_sdk_s3::types::{ChecksumAlgorithm, ServerSideEncryption};
use restoreproof_testkit::{Fault, Rule};

const MIB: usize = 1 << 20;

/// Parts of 5 MiB, 5 MiB and 5 MiB + 123 bytes: an uneven last part larger
/// than the others, legal in S3.
fn uneven_parts(seed: u8) -> Vec<Vec<u8>> {
    vec![
        data(seed, 5 * MIB),
        data(seed.wrapping_add(1), 5 * MIB),
        data(seed.wrapping_add(2), 5 * MIB + 123),
    ]
}

/// Parts of 5, 5 and 1 MiB.
fn even_parts(seed: u8) -> Vec<Vec<u8>> {
    vec![
        data(seed, 5 * MIB),
        data(seed.wrapping_add(1), 5 * MIB),
        data(seed.wrapping_add(2), MIB),
    ]
}

/// Flips a byte of every GET of `key` (in its second part when multipart).
fn corrupt(b: &Bucket, key: &str) {
    b.proxy.add(Rule::get(
        format!("/{key}?"),
        Fault::FlipByte(6 * MIB as u64),
    ));
}

/// Flips a byte early in every GET of a small `key`.
fn corrupt_small(b: &Bucket, key: &str) {
    b.proxy
        .add(Rule::get(format!("/{key}?"), Fault::FlipByte(1000)));
}

/// No verdict is `verified` without a stored or baseline reference that
/// matched.
fn assert_no_false_verified(run: &Run) {
    for s in run.json()["samples"].as_array().expect("samples") {
        if s["verdict"] == "verified" {
            let refs: Vec<String> = checks_with(s, "match")
                .into_iter()
                .filter(|n| !n.starts_with("size."))
                .collect();
            assert!(!refs.is_empty(), "verified without a reference: {s}");
        }
    }
}

fn verdicts(run: &Run) -> Vec<(String, String)> {
    run.verdicts()
}

/// Drills every recovery point of `b` through its proxy, counting the
/// requests from its first; the drill must find the corrupted one (exit 1).
async fn drill_all(b: &Bucket) -> (Agent, Run) {
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 100");
    b.proxy.clear_requests();
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    (agent, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_default_md5_etag_and_full_object_crc64nvme_cost_one_get_each() {
    let b = Bucket::new("aws-default").await;
    b.put(
        "single.bin",
        &data(1, 200_000),
        Some(ChecksumAlgorithm::Crc64Nvme),
    )
    .await;
    b.put(
        "bad.bin",
        &data(2, 200_000),
        Some(ChecksumAlgorithm::Crc64Nvme),
    )
    .await;
    b.multipart(
        "multi.bin",
        &even_parts(3),
        Some(ChecksumAlgorithm::Crc64Nvme),
    )
    .await;
    corrupt_small(&b, "bad.bin");
    let (_agent, run) = drill_all(&b).await;
    assert_eq!(
        verdicts(&run),
        [
            ("bad.bin".into(), "mismatch".into()),
            ("multi.bin".into(), "verified".into()),
            ("single.bin".into(), "verified".into()),
        ]
    );
    let single = run.sample("single.bin");
    assert!(checks_with(&single, "match").contains(&"s3.checksum.crc64nvme".to_owned()));
    // MD5 (the slowest hash) is not computed when CRC64NVME proves the bytes.
    assert_eq!(checks_with(&single, "not_computed"), ["s3.etag"]);
    let multi = run.sample("multi.bin");
    assert!(checks_with(&multi, "match").contains(&"s3.checksum.crc64nvme".to_owned()));
    assert_eq!(checks_with(&multi, "not_computed"), ["s3.etag.multipart"]);
    assert_eq!(
        checks_with(&run.sample("bad.bin"), "mismatch"),
        ["s3.checksum.crc64nvme"]
    );
    assert_no_false_verified(&run);
    // One request per recovery point: the GET carries every reference.
    assert_eq!(b.proxy.count("GetObject"), 3);
    assert_eq!(b.proxy.count("HeadObject"), 0);
    assert_eq!(b.proxy.count("GetObjectAttributes"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_kms_opaque_etags_verify_by_stored_checksum_and_no_reference_is_said() {
    let b = Bucket::new("sse-kms").await;
    let kms = |alg: Option<ChecksumAlgorithm>| {
        move |r: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder| {
            r.server_side_encryption(ServerSideEncryption::AwsKms)
                .set_checksum_algorithm(alg.clone())
        }
    };
    b.put_with(
        "sha.bin",
        &data(1, 50_000),
        kms(Some(ChecksumAlgorithm::Sha256)),
    )
    .await;
    b.put_with(
        "crc.bin",
        &data(2, 50_000),
        kms(Some(ChecksumAlgorithm::Crc32C)),
    )
    .await;
    b.put_with(
        "bad.bin",
        &data(3, 50_000),
        kms(Some(ChecksumAlgorithm::Sha256)),
    )
    .await;
    b.put_with("plain.bin", &data(4, 50_000), kms(None)).await;
    corrupt_small(&b, "bad.bin");
    let (agent, run) = drill_all(&b).await;
    assert_eq!(
        verdicts(&run),
        [
            ("bad.bin".into(), "mismatch".into()),
            ("crc.bin".into(), "verified".into()),
            ("plain.bin".into(), "no_reference".into()),
            ("sha.bin".into(), "verified".into()),
        ]
    );
    assert!(checks_with(&run.sample("crc.bin"), "match").contains(&"s3.checksum.crc32c".to_owned()));
    assert!(checks_with(&run.sample("sha.bin"), "match").contains(&"s3.checksum.sha256".to_owned()));
    assert_eq!(
        checks_with(&run.sample("bad.bin"), "mismatch"),
        ["s3.checksum.sha256"]
    );
    // The ETag of an SSE-KMS object is no MD5: it is no reference at all.
    for s in run.json()["samples"].as_array().expect("samples") {
        assert!(
            s["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .all(|c| c["name"] != "s3.etag"),
            "{s}"
        );
    }
    // A current version with no stored reference is `no_reference` on its
    // first drill (reading it twice proves nothing), and its baseline
    // verifies it on the next.
    let plain = run.sample("plain.bin");
    assert_eq!(plain["recovery_point"]["is_latest"], true);
    assert!(plain["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("baseline recorded"));
    assert_no_false_verified(&run);
    assert_eq!(b.proxy.count("GetObject"), 4, "no second read of anything");

    let again = agent.drill(&[]).await;
    let plain = again.sample("plain.bin");
    assert_eq!(plain["verdict"], "verified");
    assert_eq!(
        checks_with(&plain, "match"),
        ["size.listing", "size.content_length", "baseline.sha256"]
    );
}

/// The objects the no-GetObjectAttributes tests drill: a single-part CRC32,
/// a single part with no additional checksum, and composite SHA-256
/// multipart objects (whose part sizes must be found), one corrupted.
async fn seed_mixed(b: &Bucket) {
    b.put("crc.bin", &data(1, 70_000), Some(ChecksumAlgorithm::Crc32))
        .await;
    b.put("plain.bin", &data(2, 70_000), None).await;
    b.multipart(
        "composite.bin",
        &even_parts(3),
        Some(ChecksumAlgorithm::Sha256),
    )
    .await;
    b.multipart(
        "bad-composite.bin",
        &even_parts(6),
        Some(ChecksumAlgorithm::Sha256),
    )
    .await;
    b.put("bad.bin", &data(9, 70_000), Some(ChecksumAlgorithm::Crc32))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_get_object_attributes_is_asked_once_and_gives_the_same_verdicts() {
    let b = Bucket::new("no-goa").await;
    seed_mixed(&b).await;
    corrupt(&b, "bad-composite.bin");
    corrupt_small(&b, "bad.bin");

    // The same data on a store that has GetObjectAttributes.
    let with = Agent::new(&b.proxy.url(), &b.name, "sample = 100");
    let reference = with.drill(&[]).await;
    assert_eq!(reference.code, 1, "{}", reference.stderr);
    let expected: Vec<(String, String)> = [
        ("bad-composite.bin", "mismatch"),
        ("bad.bin", "mismatch"),
        ("composite.bin", "verified"),
        ("crc.bin", "verified"),
        ("plain.bin", "verified"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(verdicts(&reference), expected);

    // Now GetObjectAttributes answers 501, as on several S3-compatible
    // stores; a fresh ledger, so no baseline helps.
    b.proxy.add(Rule::any(
        "attributes",
        Fault::Status(501, "NotImplemented"),
    ));
    let without = Agent::new(&b.proxy.url(), &b.name, "sample = 100\nconcurrency = 4");
    b.proxy.clear_requests();
    let run = without.drill(&[]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        verdicts(&run),
        expected,
        "the same verdicts without the call"
    );
    assert_eq!(
        b.proxy.count("GetObjectAttributes"),
        1,
        "no GetObjectAttributes after the first 501"
    );
    let composite = run.sample("composite.bin");
    assert!(
        checks_with(&composite, "match").contains(&"s3.checksum.sha256.composite".to_owned()),
        "{composite}"
    );
    assert_eq!(
        checks_with(&run.sample("bad-composite.bin"), "mismatch"),
        ["s3.checksum.sha256.composite"],
        "a layout from the first and last parts, confirmed part by part"
    );
    assert_eq!(
        checks_with(&run.sample("crc.bin"), "match"),
        ["size.listing", "size.content_length", "s3.checksum.crc32"]
    );
    assert_eq!(
        checks_with(&run.sample("plain.bin"), "match")
            .last()
            .map(String::as_str),
        Some("s3.etag")
    );
    let store = &run.json()["summary"]["store"];
    assert_eq!(store[0]["call"], "GetObjectAttributes", "{store}");
    assert_eq!(store[0]["supported"], false);
    assert!(store[0]["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("501"));
    assert_no_false_verified(&run);
    // The single-part recovery points cost one GET each.
    for key in ["crc.bin", "plain.bin", "bad.bin"] {
        let n = b
            .proxy
            .requests()
            .iter()
            .filter(|r| r.target.starts_with(&format!("/{}/{key}?", b.name)))
            .count();
        assert_eq!(n, 1, "{key}");
    }

    // The same store, also without checksum headers on GET/HEAD: the ETags
    // carry the verdicts.
    b.proxy.strip_checksums(true);
    let bare = Agent::new(&b.proxy.url(), &b.name, "sample = 100");
    let run = bare.drill(&[]).await;
    assert_eq!(verdicts(&run), expected);
    assert_eq!(
        checks_with(&run.sample("crc.bin"), "match"),
        ["size.listing", "size.content_length", "s3.etag"]
    );
    assert_eq!(checks_with(&run.sample("bad.bin"), "mismatch"), ["s3.etag"]);
    assert!(checks_with(&run.sample("composite.bin"), "match")
        .contains(&"s3.etag.multipart".to_owned()));
    assert_eq!(
        checks_with(&run.sample("bad-composite.bin"), "mismatch"),
        ["s3.etag.multipart"]
    );
    assert_no_false_verified(&run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_only_stores_verify_single_and_uneven_multipart_uploads() {
    let b = Bucket::new("etag-only").await;
    b.put("single.bin", &data(1, 90_000), None).await;
    b.put("bad-single.bin", &data(2, 90_000), None).await;
    b.multipart("uneven.bin", &uneven_parts(3), None).await;
    b.multipart("bad-uneven.bin", &uneven_parts(6), None).await;
    // A middle part larger than the first: the first and last parts do not
    // add up, so each part's size is asked.
    let middle = vec![data(9, 5 * MIB), data(10, 6 * MIB), data(11, 5 * MIB)];
    b.multipart("middle.bin", &middle, None).await;
    corrupt_small(&b, "bad-single.bin");
    corrupt(&b, "bad-uneven.bin");
    let (_agent, run) = drill_all(&b).await;
    assert_eq!(
        verdicts(&run),
        [
            ("bad-single.bin".into(), "mismatch".into()),
            ("bad-uneven.bin".into(), "mismatch".into()),
            ("middle.bin".into(), "verified".into()),
            ("single.bin".into(), "verified".into()),
            ("uneven.bin".into(), "verified".into()),
        ]
    );
    assert!(checks_with(&run.sample("single.bin"), "match").contains(&"s3.etag".to_owned()));
    assert!(
        checks_with(&run.sample("middle.bin"), "match").contains(&"s3.etag.multipart".to_owned())
    );
    let uneven = run.sample("uneven.bin");
    let etag = uneven["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "s3.etag.multipart")
        .expect("multipart etag")
        .clone();
    assert_eq!(etag["outcome"], "match", "{uneven}");
    assert_eq!(
        checks_with(&run.sample("bad-single.bin"), "mismatch"),
        ["s3.etag"]
    );
    assert_eq!(
        checks_with(&run.sample("bad-uneven.bin"), "mismatch"),
        ["s3.etag.multipart"]
    );
    assert_no_false_verified(&run);
    // GETs: one per recovery point. HEADs: parts 1 and 3 of each multipart
    // object, part 2 of the one whose first and last parts do not add up,
    // and each of the 3 parts of the corrupted one to confirm its layout
    // before calling it a mismatch. No GetObjectAttributes: an object
    // without additional checksums has no part list there.
    assert_eq!(b.proxy.count("GetObject"), 5);
    assert_eq!(b.proxy.count("HeadObject"), 2 + 2 + 3 + 3);
    assert_eq!(b.proxy.count("GetObjectAttributes"), 0);
}

/// A stalled metadata call is bounded by `restore_timeout` per attempt,
/// then `unrecoverable` with the timeout class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_metadata_call_times_out_within_attempts_times_the_timeout() {
    let b = Bucket::new("stalled-head").await;
    b.multipart("parts.bin", &even_parts(1), None).await;
    b.proxy.add(Rule::any(
        "partNumber",
        Fault::Stall(std::time::Duration::from_secs(30)),
    ));
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 1\nattempts = 2\nrestore_timeout = \"1s\"",
    );
    let started = std::time::Instant::now();
    let run = agent.drill(&[]).await;
    let took = started.elapsed();
    let s = run.sample("parts.bin");
    assert_eq!(s["verdict"], "unrecoverable", "{s}");
    assert_eq!(s["error_class"], "timeout");
    assert_eq!(s["attempts"], 2);
    assert!(
        took < std::time::Duration::from_secs(10),
        "two attempts of 1 s (plus backoff), not the SDK's 60 s read timeout: {took:?}"
    );
}
