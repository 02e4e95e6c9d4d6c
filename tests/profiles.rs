//! The same drill against the store dialects people run, each with an intact
//! recovery point that must be `verified` by a named stored reference and a
//! corrupted one that must be a `mismatch`, and with the requests each
//! recovery point cost counted at the fault proxy.
//!
//! Two S3 implementations with their own code bases, each started by
//! `scripts/test`: moto and SeaweedFS (`weed mini`). Tests of what both
//! implement run on both (`on_both_stores!`: a `moto` and a `seaweedfs`
//! test each). Their dialects differ where it matters here: moto lists each
//! version's checksum algorithm and its GetObjectAttributes never lists
//! parts; SeaweedFS lists no algorithm, its GetObjectAttributes lists parts
//! but never a checksum, single-part objects get no `x-amz-checksum-type`,
//! and it checks SigV4 signatures (moto checks none). The fault proxy turns
//! either into the other dialects: 501 `NotImplemented` for
//! GetObjectAttributes, checksum headers removed from GET/HEAD answers,
//! bytes flipped in transit, a stalled call, a gateway that serves another
//! version of the key with that version's headers, and one that strips
//! every reference header. Its faults never rewrite a request, so
//! SeaweedFS's signature checks pass.

use crate::util::{checks_with, data, identity_with, Agent, Bucket, Run, Store};
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

/// Generates a `moto` and a `seaweedfs` test for each named
/// `async fn NAME(store: Store)`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::util::Store;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moto() {
                super::$name(Store::Moto).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn seaweedfs() {
                super::$name(Store::Seaweed).await;
            }
        }
    )*};
}

on_both_stores!(
    aws_default_md5_etag_and_full_object_crc64nvme_cost_one_get_each,
    a_store_without_get_object_attributes_is_asked_once_and_gives_the_same_verdicts,
    etag_only_stores_verify_single_and_uneven_multipart_uploads,
    versions_behind_a_delete_marker_under_compliance_lock_verify_and_a_flipped_one_does_not,
    a_gateway_serving_another_version_with_its_headers_is_never_verified,
    a_gateway_stripping_every_reference_header_verifies_by_the_listed_etag,
);

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
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    (agent, run)
}

async fn aws_default_md5_etag_and_full_object_crc64nvme_cost_one_get_each(store: Store) {
    let b = Bucket::on(store, "aws-default").await;
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

async fn a_store_without_get_object_attributes_is_asked_once_and_gives_the_same_verdicts(
    store: Store,
) {
    let b = Bucket::on(store, "no-goa").await;
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

async fn etag_only_stores_verify_single_and_uneven_multipart_uploads(store: Store) {
    let b = Bucket::on(store, "etag-only").await;
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

/// The sample of `key`'s version `version`.
fn sample_of(run: &Run, key: &str, version: &str) -> serde_json::Value {
    run.json()["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .find(|s| s["recovery_point"]["key"] == key && s["recovery_point"]["version_id"] == version)
        .unwrap_or_else(|| panic!("no sample of {key} {version}: {}", run.stdout))
        .clone()
}

/// What the `identity` check of a sample compared (the fields, as listed).
fn identity_of(s: &serde_json::Value) -> String {
    s["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "identity")
        .and_then(|c| c["expected"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Noncurrent versions behind a delete marker, in an Object Lock bucket
/// under COMPLIANCE retention: each restores by its version id and verifies
/// by its stored SHA-256, the lock is stated, the delete marker is counted
/// and never restored, and a version flipped in transit is a mismatch.
async fn versions_behind_a_delete_marker_under_compliance_lock_verify_and_a_flipped_one_does_not(
    store: Store,
) {
    let b = Bucket::locked_on(store, "lock-versions").await;
    let compliance = Some(("COMPLIANCE", 2));
    let v1 = b
        .put_locked("db.dump", &data(1, 40_000), compliance, false)
        .await;
    let v2 = b
        .put_locked("db.dump", &data(2, 40_000), compliance, false)
        .await;
    b.delete("db.dump").await;
    b.put_locked("flipped.bin", &data(3, 40_000), compliance, false)
        .await;
    corrupt_small(&b, "flipped.bin");
    let (_agent, run) = drill_all(&b).await;
    assert_eq!(
        verdicts(&run),
        [
            ("db.dump".into(), "verified".into()),
            ("db.dump".into(), "verified".into()),
            ("flipped.bin".into(), "mismatch".into()),
        ]
    );
    for (v, seed) in [(&v1, 1), (&v2, 2)] {
        let s = sample_of(&run, "db.dump", v);
        assert_eq!(s["recovery_point"]["behind_delete_marker"], true, "{s}");
        assert!(
            checks_with(&s, "match").contains(&"s3.checksum.sha256".to_owned()),
            "{s}"
        );
        assert_eq!(s["sha256"], sha256_hex(&data(seed, 40_000)));
        assert_eq!(s["protection"]["mode"], "COMPLIANCE", "{s}");
        assert!(identity_with(&s, "mismatch").is_empty(), "{s}");
        assert_eq!(identity_with(&s, "match"), ["identity"], "{s}");
        assert!(
            identity_of(&s).starts_with(&format!("version_id {v}, etag ")),
            "{s}"
        );
    }
    assert_eq!(
        checks_with(&run.sample("flipped.bin"), "mismatch"),
        ["s3.checksum.sha256"]
    );
    assert_eq!(run.json()["summary"]["population"]["delete_markers"], 1);
    assert_no_false_verified(&run);
    assert_eq!(b.proxy.count("GetObject"), 3, "one GET per version");
}

/// A gateway (or a store) that ignores `versionId` and answers with another
/// version of the same key — same size — with that version's own ETag,
/// version id and checksum: the checksum matches the bytes it came with, so
/// only the binding to the listing can tell. No version is `verified` for
/// bytes that are not its own; the run summary says what the store did.
async fn a_gateway_serving_another_version_with_its_headers_is_never_verified(store: Store) {
    let b = Bucket::on(store, "other-version").await;
    let mut versions = Vec::new();
    for seed in 1..=3u8 {
        let v = b
            .put(
                "k.bin",
                &data(seed, 30_000),
                Some(ChecksumAlgorithm::Crc64Nvme),
            )
            .await;
        versions.push((v, seed));
    }
    b.put(
        "other.bin",
        &data(9, 30_000),
        Some(ChecksumAlgorithm::Crc64Nvme),
    )
    .await;
    b.proxy.add(Rule::get("/k.bin?", Fault::ServeOtherVersion));
    // One restore at a time: the first GET of k.bin is forwarded and
    // remembered, the next two are answered with it.
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 100\nconcurrency = 1");
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let mut verified = 0;
    for (v, seed) in &versions {
        let s = sample_of(&run, "k.bin", v);
        if s["verdict"] == "verified" {
            verified += 1;
            assert_eq!(s["sha256"], sha256_hex(&data(*seed, 30_000)), "{s}");
            continue;
        }
        assert_eq!(s["verdict"], "mismatch", "{s}");
        assert_eq!(
            identity_with(&s, "mismatch"),
            ["identity.version_id", "identity.etag"],
            "{s}"
        );
        let reason = s["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("the store served a different object than it listed")
                && reason.contains(v.as_str()),
            "{reason}"
        );
        // The served version's checksum matched its own bytes, and is set
        // aside; the listing's ETag, an MD5, names the bytes wrong.
        assert_eq!(
            checks_with(&s, "not_comparable"),
            ["s3.checksum.crc64nvme.response", "s3.etag.response"],
            "{s}"
        );
        assert_eq!(checks_with(&s, "mismatch"), ["s3.etag"], "{s}");
        assert!(checks_with(&s, "match")
            .iter()
            .all(|n| n.starts_with("size.")));
    }
    assert_eq!(verified, 1, "only the version the gateway first fetched");
    assert_eq!(run.sample("other.bin")["verdict"], "verified");
    assert_no_false_verified(&run);
    let store_seen = &run.json()["summary"]["store"];
    let entry = store_seen
        .as_array()
        .expect("store")
        .iter()
        .find(|e| e["call"] == "restore by version")
        .unwrap_or_else(|| panic!("no store entry: {store_seen}"));
    assert_eq!(entry["supported"], false);
    let detail = entry["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("2 response(s) named another object") && detail.contains("version_id"),
        "{detail}"
    );
    assert_eq!(b.proxy.count("GetObject"), 4, "no request added");
}

/// A gateway that strips `ETag` and every `x-amz-checksum-*` header from
/// the answer: the listing's ETag, an independent statement about the
/// version, is the reference (MD5 for a single part, per-part MD5 for a
/// multipart upload), never `no_reference`; a flipped byte still fails it.
async fn a_gateway_stripping_every_reference_header_verifies_by_the_listed_etag(store: Store) {
    let b = Bucket::on(store, "stripped").await;
    b.put(
        "crc.bin",
        &data(1, 60_000),
        Some(ChecksumAlgorithm::Crc64Nvme),
    )
    .await;
    b.put("plain.bin", &data(2, 60_000), None).await;
    b.put(
        "bad.bin",
        &data(3, 60_000),
        Some(ChecksumAlgorithm::Crc64Nvme),
    )
    .await;
    b.multipart("multi.bin", &even_parts(4), None).await;
    corrupt_small(&b, "bad.bin");
    b.proxy.strip_references(true);
    let (_agent, run) = drill_all(&b).await;
    assert_eq!(
        verdicts(&run),
        [
            ("bad.bin".into(), "mismatch".into()),
            ("crc.bin".into(), "verified".into()),
            ("multi.bin".into(), "verified".into()),
            ("plain.bin".into(), "verified".into()),
        ]
    );
    for key in ["crc.bin", "plain.bin"] {
        let s = run.sample(key);
        assert_eq!(
            checks_with(&s, "match"),
            ["size.listing", "size.content_length", "s3.etag"],
            "{s}"
        );
        // Bound by the version id the answer still named (its ETag is gone).
        assert_eq!(identity_with(&s, "match"), ["identity"], "{s}");
        assert!(identity_of(&s).starts_with("version_id "), "{s}");
        assert!(!identity_of(&s).contains("etag"), "{s}");
    }
    assert_eq!(checks_with(&run.sample("bad.bin"), "mismatch"), ["s3.etag"]);
    assert!(
        checks_with(&run.sample("multi.bin"), "match").contains(&"s3.etag.multipart".to_owned())
    );
    assert_no_false_verified(&run);
    assert_eq!(b.proxy.count("GetObject"), 4);
}

/// A wrong secret key is refused by a store that checks signatures
/// (SeaweedFS; moto checks none): the error names the secret key and the
/// clock, not a missing permission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_key_is_a_credentials_error_naming_the_key_and_the_clock() {
    let b = Bucket::on(Store::Seaweed, "wrong-secret").await;
    b.put("x.bin", &data(1, 1000), None).await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 100");
    let run = agent
        .command(&["drill", "d"])
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .output()
        .await
        .expect("run");
    let run = Run::from(run);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("SignatureDoesNotMatch")
            && run.stderr.contains("check the secret access key")
            && run.stderr.contains("clock"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("s3:ListBucketVersions"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-secret"), "{}", run.stderr);
}
