//! The integration-test harness.

use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart,
    VersioningConfiguration,
};
use aws_sdk_s3::Client;
use restoreproof_testkit::FaultProxy;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The moto endpoint started by `scripts/test`.
pub fn endpoint() -> String {
    std::env::var("RESTOREPROOF_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!("RESTOREPROOF_TEST_S3_ENDPOINT is not set: run the suite with `scripts/test`, which starts the local S3 server (moto)")
    })
}

/// The S3 implementations the store-profile tests run against, each
/// started by `scripts/test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// moto: checks no signature; lists checksum algorithms; its
    /// GetObjectAttributes has checksums but never `ObjectParts`.
    Moto,
    /// SeaweedFS (`weed mini`): checks SigV4 signatures; lists no checksum
    /// algorithm; its GetObjectAttributes has parts but never a checksum;
    /// refuses uploads whose checksum is wrong.
    Seaweed,
}

impl Store {
    /// The store's endpoint, straight (not through a proxy).
    pub fn endpoint(self) -> String {
        match self {
            Store::Moto => endpoint(),
            Store::Seaweed => std::env::var("RESTOREPROOF_TEST_SEAWEED_ENDPOINT").unwrap_or_else(|_| {
                panic!("RESTOREPROOF_TEST_SEAWEED_ENDPOINT is not set: run the suite with `scripts/test`, which starts SeaweedFS")
            }),
        }
    }

    fn addr(self) -> SocketAddr {
        self.endpoint()
            .trim_start_matches("http://")
            .parse()
            .expect("the test endpoint is http://127.0.0.1:PORT")
    }
}

/// An S3 client straight to `store` (not through the proxy), for seeding.
pub fn client_for(store: Store) -> Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(store.endpoint())
        .force_path_style(true)
        // Only the checksums a test asks for are stored.
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    Client::from_conf(conf)
}

/// A fresh versioned bucket on moto with a proxy in front of it.
#[derive(Debug)]
pub struct Bucket {
    pub name: String,
    pub s3: Client,
    pub proxy: FaultProxy,
}

impl Bucket {
    pub async fn new(test: &str) -> Self {
        Self::create(Store::Moto, test, false).await
    }

    /// A fresh versioned bucket on `store` with a proxy in front of it.
    pub async fn on(store: Store, test: &str) -> Self {
        Self::create(store, test, false).await
    }

    /// A bucket created with Object Lock enabled (versioning comes with it).
    pub async fn new_locked(test: &str) -> Self {
        Self::create(Store::Moto, test, true).await
    }

    /// A bucket on `store` created with Object Lock enabled.
    pub async fn locked_on(store: Store, test: &str) -> Self {
        Self::create(store, test, true).await
    }

    async fn create(store: Store, test: &str, object_lock: bool) -> Self {
        let name = format!(
            "{}-{}",
            test.replace('_', "-"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let s3 = client_for(store);
        s3.create_bucket()
            .bucket(&name)
            .set_object_lock_enabled_for_bucket(object_lock.then_some(true))
            .send()
            .await
            .expect("create bucket");
        if !object_lock {
            s3.put_bucket_versioning()
                .bucket(&name)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .expect("enable versioning");
        }
        let proxy = FaultProxy::start("127.0.0.1:0".parse().expect("addr"), store.addr())
            .await
            .expect("proxy");
        Self { name, s3, proxy }
    }

    /// Puts an object under Object Lock retention (`mode` for `days` from
    /// now), with or without a legal hold; returns the version id.
    pub async fn put_locked(
        &self,
        key: &str,
        body: &[u8],
        retention: Option<(&str, i64)>,
        legal_hold: bool,
    ) -> String {
        use aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};
        let until = retention.map(|(_, days)| {
            aws_sdk_s3::primitives::DateTime::from_secs(
                chrono::Utc::now().timestamp() + days * 86_400 + 3600,
            )
        });
        // S3 wants an integrity header on uploads under Object Lock.
        self.put_with(key, body, |r| {
            r.checksum_algorithm(ChecksumAlgorithm::Sha256)
                .set_object_lock_mode(retention.map(|(m, _)| ObjectLockMode::from(m)))
                .set_object_lock_retain_until_date(until)
                .set_object_lock_legal_hold_status(
                    legal_hold.then_some(ObjectLockLegalHoldStatus::On),
                )
        })
        .await
    }

    /// Puts an object, letting `customize` add to the request; returns the
    /// version id.
    pub async fn put_with(
        &self,
        key: &str,
        body: &[u8],
        customize: impl FnOnce(PutObjectFluentBuilder) -> PutObjectFluentBuilder,
    ) -> String {
        let request = self
            .s3
            .put_object()
            .bucket(&self.name)
            .key(key)
            .body(ByteStream::from(body.to_vec()));
        customize(request)
            .send()
            .await
            .expect("put object")
            .version_id()
            .expect("version id")
            .to_owned()
    }

    /// Puts an object, optionally asking the SDK to send a checksum of this
    /// algorithm (which the server stores).
    pub async fn put(&self, key: &str, body: &[u8], checksum: Option<ChecksumAlgorithm>) -> String {
        self.put_with(key, body, |r| r.set_checksum_algorithm(checksum))
            .await
    }

    /// Puts an object whose stored SHA-256 is not the SHA-256 of its bytes
    /// (moto stores the header without checking it, when the algorithm
    /// header names it too).
    pub async fn put_with_wrong_sha256(&self, key: &str, body: &[u8]) -> String {
        use base64::Engine;
        let wrong = base64::engine::general_purpose::STANDARD.encode([0x42u8; 32]);
        self.put_with(key, body, |r| {
            r.checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(wrong)
        })
        .await
    }

    /// Puts an object encrypted with SSE-KMS (its ETag is then no MD5).
    pub async fn put_kms(&self, key: &str, body: &[u8]) -> String {
        self.put_with(key, body, |r| {
            r.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        })
        .await
    }

    /// Puts an object in the GLACIER storage class.
    pub async fn put_glacier(&self, key: &str, body: &[u8]) -> String {
        self.put_with(key, body, |r| {
            r.storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        })
        .await
    }

    /// A multipart upload of `parts`, with a checksum algorithm (composite or
    /// full-object as the server decides) or none; returns the version id.
    pub async fn multipart(
        &self,
        key: &str,
        parts: &[Vec<u8>],
        checksum: Option<ChecksumAlgorithm>,
    ) -> String {
        let up = self
            .s3
            .create_multipart_upload()
            .bucket(&self.name)
            .key(key)
            .set_checksum_algorithm(checksum.clone())
            .send()
            .await
            .expect("create multipart upload");
        let id = up.upload_id().expect("upload id");
        let mut done = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let r = self
                .s3
                .upload_part()
                .bucket(&self.name)
                .key(key)
                .upload_id(id)
                .part_number(n)
                .set_checksum_algorithm(checksum.clone())
                .body(ByteStream::from(p.clone()))
                .send()
                .await
                .expect("upload part");
            done.push(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(r.e_tag().map(str::to_owned))
                    .set_checksum_crc32(r.checksum_crc32().map(str::to_owned))
                    .set_checksum_crc32_c(r.checksum_crc32_c().map(str::to_owned))
                    .set_checksum_crc64_nvme(r.checksum_crc64_nvme().map(str::to_owned))
                    .set_checksum_sha1(r.checksum_sha1().map(str::to_owned))
                    .set_checksum_sha256(r.checksum_sha256().map(str::to_owned))
                    .build(),
            );
        }
        self.s3
            .complete_multipart_upload()
            .bucket(&self.name)
            .key(key)
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .send()
            .await
            .expect("complete multipart upload")
            .version_id()
            .expect("version id")
            .to_owned()
    }

    /// Deletes a key (creating a delete marker).
    pub async fn delete(&self, key: &str) {
        self.s3
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .expect("delete object");
    }
}

/// Bytes that differ per seed, so each object has its own checksums.
pub fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A config directory with the agent's ledger and evidence file.
#[derive(Debug)]
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

/// One finished `restoreproof` invocation.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// The `--json` document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Verdict per key of a `--json` drill.
    pub fn verdicts(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self.json()["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .map(|s| {
                (
                    s["recovery_point"]["key"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    s["verdict"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// The sample of a `--json` drill for `key`.
    pub fn sample(&self, key: &str) -> Value {
        self.json()["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .find(|s| s["recovery_point"]["key"] == key)
            .unwrap_or_else(|| panic!("no sample for {key} in {}", self.stdout))
            .clone()
    }
}

/// Names of the reference checks (not the `identity.*` ones) in a sample
/// with the given outcome.
pub fn checks_with(sample: &Value, outcome: &str) -> Vec<String> {
    sample["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["outcome"] == outcome && c["kind"] != "identity")
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The `identity.*` checks of a sample with this outcome: what the
/// response said about which object it was, against the listing.
pub fn identity_with(sample: &Value, outcome: &str) -> Vec<String> {
    sample["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["outcome"] == outcome && c["kind"] == "identity")
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

impl Agent {
    /// A config with the given sources and drills (ledger and evidence in the
    /// agent's directory).
    pub fn from_toml(sources_and_drills: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.toml");
        let text = format!(
            "[ledger]\npath = \"state/ledger.sqlite3\"\n[evidence]\npath = \"log/evidence.jsonl\"\n{sources_and_drills}\n"
        );
        std::fs::write(&config, text).expect("write config");
        Self { dir, config }
    }

    /// A config with one S3 source `src` (through `endpoint`) and one drill
    /// `d` with the given extra TOML lines.
    pub fn new(endpoint: &str, bucket: &str, drill: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.toml");
        let text = format!(
            "[ledger]\npath = \"state/ledger.sqlite3\"\n[evidence]\npath = \"log/evidence.jsonl\"\n\
             [sources.src]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
             [drills.d]\nsource = \"src\"\nscratch_dir = \"scratch\"\n{drill}\n"
        );
        std::fs::write(&config, text).expect("write config");
        Self { dir, config }
    }

    /// Runs `restoreproof --config CONFIG ARGS...` to completion.
    pub async fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().await.expect("run restoreproof"))
    }

    /// The command, for tests that manage the process themselves.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_restoreproof"));
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RP_TEST_AZURE_SAS", crate::azure::account_sas())
            .env_remove("RUST_LOG")
            .kill_on_drop(true);
        c
    }

    /// Starts `restoreproof run` (the service) with its output discarded.
    pub fn spawn_service(&self) -> tokio::process::Child {
        self.command(&["run"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn restoreproof run")
    }

    /// `drill d --json` plus extra arguments.
    pub async fn drill(&self, extra: &[&str]) -> Run {
        let mut args = vec!["drill", "d", "--json"];
        args.extend_from_slice(extra);
        self.run(&args).await
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn evidence(&self) -> Vec<Value> {
        read_jsonl(&self.path("log/evidence.jsonl"))
    }

    pub fn ledger(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path("state/ledger.sqlite3")).expect("open ledger")
    }
}

pub fn read_jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad evidence line ({e}): {l}")))
        .collect()
}

/// The one polling helper: calls `check` every 50 ms until it gives a value,
/// for at most `secs`; past that the test fails with what `check` last said
/// (its progress: what is still missing).
pub async fn poll<T>(secs: u64, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        match check() {
            Ok(v) => return v,
            Err(why) => assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {secs}s: {why}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// [`poll`] for a condition: waits until `cond` holds.
pub async fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    poll(secs, || {
        if cond() {
            Ok(())
        } else {
            Err(format!("waiting for {what}"))
        }
    })
    .await;
}

/// Renders native evidence records as OCSF and checks each against the
/// OCSF schema's own JSON (tests/fixtures/ocsf-1.3.0, checked by
/// tests/ocsf_conformance.py); panics with every problem found.
pub fn assert_ocsf_conforms(native: &[Value]) {
    let ocsf: Vec<Value> = native
        .iter()
        .map(|e| {
            restoreproof::sink::format::render(
                restoreproof::sink::config::Format::Ocsf,
                &restoreproof::evidence::record::Record::read(e.clone()),
            )
        })
        .collect();
    if let Err(problems) = ocsf_check(&ocsf) {
        panic!("OCSF records do not conform:\n{problems}");
    }
}

/// Checks OCSF records against the vendored schema: `Err` with every
/// problem.
pub fn ocsf_check(ocsf: &[Value]) -> Result<(), String> {
    let python = std::env::var("RESTOREPROOF_TEST_PYTHON")
        .expect("RESTOREPROOF_TEST_PYTHON (run the suite with scripts/test)");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lines: String = ocsf.iter().map(|o| o.to_string() + "\n").collect();
    let mut child = std::process::Command::new(python)
        .arg(root.join("tests/ocsf_conformance.py"))
        .arg(root.join("tests/fixtures/ocsf-1.3.0"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the OCSF conformance checker");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), lines.as_bytes())
        .expect("write records");
    let out = child.wait_with_output().expect("checker");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs a Python script of the test environment (`RESTOREPROOF_TEST_PYTHON`,
/// the venv `scripts/test` makes) with `args`; panics with its output when
/// it fails.
pub fn assert_python(script: &str, args: &[&str]) {
    let python = std::env::var("RESTOREPROOF_TEST_PYTHON")
        .expect("RESTOREPROOF_TEST_PYTHON (run the suite with scripts/test)");
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `promtool check metrics` on a Prometheus text exposition: panics with
/// what Prometheus's linter says unless it finds nothing.
pub fn assert_promtool_clean(metrics: &[u8]) {
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/test installs it)");
    std::io::Write::write_all(&mut promtool.stdin.take().expect("stdin"), metrics).expect("write");
    let checked = promtool.wait_with_output().expect("promtool");
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool check metrics: {}{}\n{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr),
        String::from_utf8_lossy(metrics)
    );
}
