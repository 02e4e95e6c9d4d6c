//! The source conformance suite (`restoreproof::conformance`) on every
//! real store the agent speaks to: moto and SeaweedFS for S3, Azurite for
//! Azure Blob. The same suite runs on the in-memory store in the unit
//! tests. Each store gets two versions (S3) or a snapshot and a new base
//! blob (Azure) of one key and a larger second key, written straight to the
//! store (no proxy), and the source is built as the agent builds it.

use crate::util::{Bucket, Store};
use aws_sdk_s3::types::ChecksumAlgorithm;
use restoreproof::conformance::{check, Written};
use restoreproof::source::BuildOptions;
use std::time::Duration;

fn options() -> BuildOptions {
    BuildOptions {
        attempts: 2,
        timeout: Duration::from_secs(60),
    }
}

async fn source_from(
    toml: &str,
    dir: &std::path::Path,
) -> std::sync::Arc<dyn restoreproof::source::RecoverySource> {
    let config = restoreproof::config::Config::from_toml(toml, dir).expect("config");
    restoreproof::providers::build("s", &config.sources["s"], options())
        .await
        .expect("the source builds")
}

async fn s3_conforms(store: Store) {
    let b = Bucket::on(store, "conformance").await;
    let mut w = Written {
        prefix: "c/".into(),
        expect_verified: true,
        ..Written::default()
    };
    let big = crate::util::data(3, 3 << 20);
    for (key, body, checksum) in [
        (
            "c/a.bin",
            &b"first version"[..],
            Some(ChecksumAlgorithm::Crc64Nvme),
        ),
        (
            "c/a.bin",
            b"second version",
            Some(ChecksumAlgorithm::Crc64Nvme),
        ),
        ("c/b.bin", &big[..], None),
    ] {
        b.put(key, body, checksum).await;
        w.wrote(key, body);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[sources.s]\nkind = \"s3\"\nbucket = \"{}\"\nprefix = \"c/\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n",
        b.name,
        store.endpoint()
    );
    let source = source_from(&toml, dir.path()).await;
    let problems = check(&*source, &w).await;
    assert!(problems.is_empty(), "{store:?}: {problems:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_conforms() {
    s3_conforms(Store::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seaweedfs_conforms() {
    s3_conforms(Store::Seaweed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azurite_conforms() {
    let c = crate::azure::Container::new("conformance").await;
    let mut w = Written {
        prefix: "c/".into(),
        expect_verified: true,
        ..Written::default()
    };
    let big = crate::util::data(5, 3 << 20);
    c.put("c/a.bin", b"first version").await;
    c.snapshot("c/a.bin").await;
    c.put("c/a.bin", b"second version").await;
    c.put("c/b.bin", &big).await;
    w.wrote("c/a.bin", b"first version");
    w.wrote("c/a.bin", b"second version");
    w.wrote("c/b.bin", &big);
    let dir = tempfile::tempdir().expect("tempdir");
    let sas = dir.path().join("sas");
    std::fs::write(&sas, crate::azure::account_sas()).expect("sas");
    let toml = format!(
        "[sources.s]\nkind = \"azure_blob\"\naccount_url = \"{}\"\ncontainer = \"{}\"\nprefix = \"c/\"\n[sources.s.auth]\nmethod = \"sas\"\nsas_file = \"{}\"\n",
        c.account_url(),
        c.name,
        sas.display()
    );
    let source = source_from(&toml, dir.path()).await;
    let problems = check(&*source, &w).await;
    assert!(problems.is_empty(), "{problems:#?}");
}
