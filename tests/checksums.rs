//! Each stored checksum algorithm, multipart objects (composite and
//! full-object checksums) and multipart ETags, against moto, with
//! `--verify thorough` so that every reference is computed (the store
//! profiles in `profiles` test what the default policy computes).

use crate::util::{checks_with, data, Agent, Bucket};
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectAttributes};
use base64::Engine;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_checksum_algorithm_is_compared() {
    let b = Bucket::new("algorithms").await;
    let algorithms = [
        (ChecksumAlgorithm::Crc32, "crc32"),
        (ChecksumAlgorithm::Crc32C, "crc32c"),
        (ChecksumAlgorithm::Crc64Nvme, "crc64nvme"),
        (ChecksumAlgorithm::Sha1, "sha1"),
        (ChecksumAlgorithm::Sha256, "sha256"),
    ];
    for (i, (alg, name)) in algorithms.iter().enumerate() {
        b.put(
            &format!("{name}.bin"),
            &data(i as u8, 70_000 + i),
            Some(alg.clone()),
        )
        .await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    let run = agent.drill(&["--verify", "thorough"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for (_, name) in &algorithms {
        let s = run.sample(&format!("{name}.bin"));
        assert_eq!(s["verdict"], "verified");
        let matched = checks_with(&s, "match");
        assert!(
            matched.contains(&format!("s3.checksum.{name}")),
            "{name}: {matched:?}"
        );
        assert!(matched.contains(&"s3.etag".to_owned()));
    }

    // The same objects with one byte flipped in transit: each algorithm on
    // its own catches it.
    for (_, name) in &algorithms {
        b.proxy.add(restoreproof_testkit::Rule::get(
            format!("/{name}.bin"),
            restoreproof_testkit::Fault::FlipByte(65_000),
        ));
    }
    let run = agent.drill(&["--verify", "thorough"]).await;
    assert_eq!(run.code, 1);
    for (_, name) in &algorithms {
        let s = run.sample(&format!("{name}.bin"));
        assert_eq!(
            checks_with(&s, "mismatch"),
            [
                format!("s3.checksum.{name}"),
                "s3.etag".into(),
                "baseline.sha256".into()
            ]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_objects_verify_composite_checksums_and_etags() {
    let b = Bucket::new("multipart").await;
    let parts = vec![data(1, 5 << 20), data(2, 5 << 20), data(3, 1 << 20)];
    b.multipart(
        "composite-crc32.bin",
        &parts,
        Some(ChecksumAlgorithm::Crc32),
    )
    .await;
    b.multipart(
        "composite-sha256.bin",
        &parts,
        Some(ChecksumAlgorithm::Sha256),
    )
    .await;
    b.multipart("plain.bin", &parts, None).await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    let run = agent.drill(&["--verify", "thorough"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for (key, composite) in [
        ("composite-crc32.bin", Some("s3.checksum.crc32.composite")),
        ("composite-sha256.bin", Some("s3.checksum.sha256.composite")),
        ("plain.bin", None),
    ] {
        let s = run.sample(key);
        assert_eq!(s["verdict"], "verified", "{s}");
        let matched = checks_with(&s, "match");
        assert!(
            matched.contains(&"s3.etag.multipart".to_owned()),
            "{key}: {matched:?}"
        );
        if let Some(c) = composite {
            assert!(matched.contains(&c.to_owned()), "{key}: {matched:?}");
        }
    }

    // A flipped byte in the second part breaks the composite checksum and
    // the multipart ETag.
    b.proxy.add(restoreproof_testkit::Rule::get(
        "/composite-sha256.bin",
        restoreproof_testkit::Fault::FlipByte(6 << 20),
    ));
    let run = agent.drill(&["--verify", "thorough"]).await;
    let s = run.sample("composite-sha256.bin");
    assert_eq!(
        checks_with(&s, "mismatch"),
        [
            "s3.checksum.sha256.composite",
            "s3.etag.multipart",
            "baseline.sha256"
        ]
    );
}

/// moto stores wrong full-object CRC64NVME values for multipart objects
/// (real S3 computes them right). The drill must report whatever the stored
/// value says honestly: verified only if it really is the CRC64NVME of the
/// bytes, otherwise a mismatch naming the reference — never a pass by
/// accident, never a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_full_object_crc64nvme_is_judged_against_the_real_bytes() {
    let b = Bucket::new("fullobject").await;
    let parts = vec![data(4, 5 << 20), data(5, 2 << 20)];
    let v = b
        .multipart("full.bin", &parts, Some(ChecksumAlgorithm::Crc64Nvme))
        .await;
    let attrs =
        b.s3.get_object_attributes()
            .bucket(&b.name)
            .key("full.bin")
            .version_id(&v)
            .object_attributes(ObjectAttributes::Checksum)
            .send()
            .await
            .expect("attributes");
    let stored = attrs
        .checksum()
        .and_then(|c| c.checksum_crc64_nvme())
        .map(str::to_owned);
    let whole: Vec<u8> = parts.concat();
    let truth = base64::engine::general_purpose::STANDARD
        .encode(crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &whole).to_be_bytes());

    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    let run = agent.drill(&["--verify", "thorough"]).await;
    let s = run.sample("full.bin");
    match stored {
        Some(value) if value == truth => {
            assert_eq!(s["verdict"], "verified");
            assert!(checks_with(&s, "match").contains(&"s3.checksum.crc64nvme".to_owned()));
        }
        Some(value) => {
            assert_eq!(run.code, 1);
            assert_eq!(s["verdict"], "mismatch");
            let mism = s["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .find(|c| c["outcome"] == "mismatch")
                .expect("a mismatched check")
                .clone();
            assert_eq!(mism["name"], "s3.checksum.crc64nvme");
            assert_eq!(mism["expected"], value);
            assert_eq!(
                mism["actual"], truth,
                "the agent computes the true CRC64NVME"
            );
        }
        None => {
            // No stored full-object checksum: the ETag still verifies it.
            assert_eq!(s["verdict"], "verified");
        }
    }
}
