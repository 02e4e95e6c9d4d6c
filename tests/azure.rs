//! Azure Blob recovery points against Azurite, through the fault proxy.
//!
//! Azurite implements containers, Put Blob (which stores Content-MD5),
//! snapshots and their download. It does not implement versioning (and
//! silently ignores `versionid`), soft delete or CRC64, so nothing here
//! drills a version.

use crate::util::{checks_with, data, Agent, Bucket};
use azure_core::http::{RequestContent, Url};
use azure_storage_blob::models::BlobClientCreateSnapshotResultHeaders;
use azure_storage_blob::BlobContainerClient;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use restoreproof_testkit::{Fault, FaultProxy, Rule};
use sha2::Sha256;

/// Azurite's well-known development account and key (public, documented).
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The Azurite blob endpoint started by `scripts/test`.
pub fn endpoint() -> String {
    std::env::var("RESTOREPROOF_TEST_AZURE_ENDPOINT").unwrap_or_else(|_| {
        panic!("RESTOREPROOF_TEST_AZURE_ENDPOINT is not set: run the suite with `scripts/test`, which starts Azurite")
    })
}

/// An account SAS over the development account (all permissions, blob
/// service), signed as the Azure Storage REST documentation describes
/// ("Create an account SAS", version 2020-12-06 string-to-sign).
pub fn account_sas() -> String {
    let (sv, ss, srt, sp, se, spr) = (
        "2020-12-06",
        "b",
        "sco",
        "rwdlacup",
        "2035-01-01T00:00:00Z",
        "https,http",
    );
    let to_sign = format!("{ACCOUNT}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n{spr}\n{sv}\n\n");
    let key = B64.decode(KEY).expect("key");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("hmac");
    mac.update(to_sign.as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    let sig: String = url_encode(&sig);
    format!(
        "sv={sv}&ss={ss}&srt={srt}&sp={sp}&se={}&spr={}&sig={sig}",
        url_encode(se),
        url_encode(spr)
    )
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn upstream() -> std::net::SocketAddr {
    let e = endpoint();
    let host = e
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("host")
        .to_owned();
    host.parse().expect("127.0.0.1:PORT")
}

/// A fresh container on Azurite with a proxy in front of it.
pub struct Container {
    pub name: String,
    pub client: BlobContainerClient,
    pub proxy: FaultProxy,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Container {
    pub async fn new(test: &str) -> Self {
        let name = format!(
            "{}-{}",
            test.replace('_', "-"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let url = Url::parse(&format!("{}/{name}?{}", endpoint(), account_sas())).expect("url");
        let client = BlobContainerClient::new(url, None, None).expect("client");
        client.create(None).await.expect("create container");
        let proxy = FaultProxy::start("127.0.0.1:0".parse().expect("addr"), upstream())
            .await
            .expect("proxy");
        Self {
            name,
            client,
            proxy,
        }
    }

    /// Uploads a blob (Azurite stores its Content-MD5).
    pub async fn put(&self, blob: &str, body: &[u8]) {
        self.client
            .blob_client(blob)
            .upload(RequestContent::from(body.to_vec()), None)
            .await
            .expect("upload");
    }

    /// Snapshots a blob; returns the snapshot time.
    pub async fn snapshot(&self, blob: &str) -> String {
        self.client
            .blob_client(blob)
            .create_snapshot(None)
            .await
            .expect("snapshot")
            .snapshot()
            .expect("header")
            .expect("snapshot time")
    }

    /// The account URL through the proxy.
    pub fn account_url(&self) -> String {
        format!("{}/{ACCOUNT}", self.proxy.url())
    }

    /// A source table for this container, SAS from the environment.
    pub fn source_toml(&self, name: &str) -> String {
        format!(
            "[sources.{name}]\nkind = \"azure_blob\"\naccount_url = \"{}\"\ncontainer = \"{}\"\n[sources.{name}.auth]\nmethod = \"sas\"\nsas_env = \"RP_TEST_AZURE_SAS\"\n",
            self.account_url(),
            self.name
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_restore_and_content_md5_is_compared() {
    let c = Container::new("snapshots").await;
    c.put("db.dump", &data(1, 300_000)).await;
    let first = c.snapshot("db.dump").await;
    c.put("db.dump", &data(2, 310_000)).await;
    let second = c.snapshot("db.dump").await;
    c.put("db.dump", &data(3, 320_000)).await;
    c.put("flipped.bin", &data(4, 50_000)).await;
    c.proxy.add(Rule::get("/flipped.bin", Fault::FlipByte(100)));

    let agent = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"az\"\nsample = 100\n",
        c.source_toml("az")
    ));
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let samples = run.json()["samples"].as_array().expect("samples").clone();
    assert_eq!(
        samples.len(),
        4,
        "3 points of db.dump + flipped.bin: {}",
        run.stdout
    );
    let mut snapshots: Vec<String> = samples
        .iter()
        .filter_map(|s| s["recovery_point"]["snapshot"].as_str().map(str::to_owned))
        .collect();
    snapshots.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(snapshots, want);
    for s in &samples {
        let key = s["recovery_point"]["key"].as_str().unwrap_or_default();
        if key == "flipped.bin" {
            assert_eq!(s["verdict"], "mismatch");
            assert_eq!(checks_with(s, "mismatch"), ["azure.content_md5"]);
        } else {
            assert_eq!(s["verdict"], "verified", "{s}");
            assert!(
                checks_with(s, "match").contains(&"azure.content_md5".to_owned()),
                "{s}"
            );
            let md5 = s["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .find(|c| c["name"] == "azure.content_md5")
                .expect("md5")
                .clone();
            assert!(
                md5["note"].as_str().unwrap_or_default().contains("claim"),
                "{md5}"
            );
        }
    }
    // One request per recovery point: Get Blob alone, its identity bound to
    // the listing, whose Content-MD5 is the reference (no Get Blob
    // Properties).
    let requests = c.proxy.requests();
    assert_eq!(
        requests.iter().filter(|r| r.method == "HEAD").count(),
        0,
        "{requests:?}"
    );
    let gets = requests
        .iter()
        .filter(|r| r.method == "GET" && !r.target.contains("comp=list"))
        .count();
    assert_eq!(gets, 4, "{requests:?}");
    for s in &samples {
        assert!(
            s["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .any(|c| c["name"] == "identity"
                    && c["outcome"] == "match"
                    && c["expected"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("content_md5")),
            "{s}"
        );
    }
    // Snapshots of one blob each got their own baseline.
    let baselines: i64 = agent
        .ledger()
        .query_row(
            "SELECT COUNT(*) FROM baselines WHERE key = 'db.dump'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(baselines, 3);
    // People's output says nothing of delete markers, which Azure has not.
    let text = agent.run(&["drill", "d", "--no-ship"]).await;
    assert!(
        text.stdout.contains("recovery points listed") && !text.stdout.contains("delete marker"),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_containers_and_refused_access_cannot_run_and_say_why() {
    let c = Container::new("errors").await;
    let missing = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"az\"\n",
        c.source_toml("az").replace(&c.name, "no-such-container")
    ));
    let run = missing.run(&["drill", "d"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("the container does not exist"),
        "{}",
        run.stderr
    );

    c.put("x", b"x").await;
    c.proxy.add(Rule::any(
        "comp=list",
        Fault::Status(403, "AuthorizationPermissionMismatch"),
    ));
    let denied = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"az\"\n",
        c.source_toml("az")
    ));
    let run = denied.run(&["drill", "d", "-vv"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("Storage Blob Data Reader"),
        "{}",
        run.stderr
    );
    // The SAS signature never reaches output or evidence.
    let sig = account_sas()
        .split("sig=")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let evidence = std::fs::read_to_string(denied.path("log/evidence.jsonl")).unwrap_or_default();
    for (what, text) in [
        ("stderr", &run.stderr),
        ("stdout", &run.stdout),
        ("evidence", &evidence),
    ] {
        assert!(
            !text.contains(&sig) && !text.contains("sig="),
            "SAS signature in {what}:\n{text}"
        );
    }

    // A wrong account URL (nothing listens there).
    let nowhere = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"az\"\nattempts = 1\n",
        c.source_toml("az")
            .replace(&c.account_url(), "http://127.0.0.1:9/devstoreaccount1")
    ));
    let run = nowhere.run(&["drill", "d"]).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("check `account_url`"), "{}", run.stderr);

    // Secrets that are not where the config says.
    let no_sas = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"az\"\n",
        c.source_toml("az")
            .replace("RP_TEST_AZURE_SAS", "RP_TEST_UNSET_SAS")
    ));
    let run = no_sas.run(&["drill", "d"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("environment variable RP_TEST_UNSET_SAS, which is not set"),
        "{}",
        run.stderr
    );
    let no_secret = Agent::from_toml(
        "[sources.sp]\nkind = \"azure_blob\"\naccount = \"acme\"\ncontainer = \"backups\"\n\
         [sources.sp.auth]\nmethod = \"service_principal\"\ntenant_id = \"00000000-0000-0000-0000-000000000000\"\n\
         client_id = \"c\"\nclient_secret_file = \"missing-secret\"\n[drills.d]\nsource = \"sp\"\n",
    );
    let run = no_secret.run(&["drill", "d"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read the client secret from"),
        "{}",
        run.stderr
    );

    // A blob that disappears between listing and restore.
    c.proxy.clear();
    c.proxy
        .add(Rule::any("/x", Fault::Status(404, "BlobNotFound")));
    let run = denied.drill(&[]).await;
    assert_eq!(run.code, 1);
    assert_eq!(run.sample("x")["error_class"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_and_azure_drills_share_one_config_ledger_and_evidence() {
    let c = Container::new("mixed").await;
    c.put("a.txt", b"azure bytes").await;
    let b = Bucket::new("mixed").await;
    b.put(
        "b.txt",
        b"s3 bytes",
        Some(aws_sdk_s3::types::ChecksumAlgorithm::Sha256),
    )
    .await;
    let agent = Agent::from_toml(&format!(
        "{}[sources.s3]\nkind = \"s3\"\nbucket = \"{}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         [drills.az]\nsource = \"az\"\n[drills.s3]\nsource = \"s3\"\n",
        c.source_toml("az"),
        b.name,
        b.proxy.url()
    ));
    let az = agent.run(&["drill", "az", "--json"]).await;
    let s3 = agent.run(&["drill", "s3", "--json"]).await;
    assert_eq!((az.code, s3.code), (0, 0), "{}\n{}", az.stderr, s3.stderr);
    assert_eq!(az.json()["summary"]["source"]["kind"], "azure_blob");
    assert_eq!(s3.json()["summary"]["source"]["kind"], "s3");
    let kinds: Vec<String> = agent
        .evidence()
        .iter()
        .filter(|e| e["kind"] == "sample_verdict")
        .map(|e| e["source"]["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, ["azure_blob", "s3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_mode_copies_snapshots_server_side_and_removes_the_copies() {
    let c = Container::new("copy").await;
    c.put("vm.vhd", &data(5, 200_000)).await;
    let snap = c.snapshot("vm.vhd").await;
    c.put("vm.vhd", &data(6, 210_000)).await;
    let agent = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"az\"\nsample = 100\nmode = \"copy\"\n",
        c.source_toml("az")
    ));
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let samples = run.json()["samples"].as_array().expect("samples").clone();
    assert_eq!(samples.len(), 2);
    let snapshot = samples
        .iter()
        .find(|s| s["recovery_point"]["snapshot"] == snap.as_str())
        .expect("the snapshot was drilled");
    assert_eq!(snapshot["verdict"], "verified");
    assert!(
        checks_with(snapshot, "match").contains(&"azure.content_md5".to_owned()),
        "{snapshot}"
    );
    assert_eq!(snapshot["copy"]["removed"], true);
    // The copies are gone from the container.
    let names: Vec<String> = {
        use futures::StreamExt;
        let mut pages = c.client.list_blobs(None).expect("list").into_pages();
        let mut names = Vec::new();
        while let Some(p) = pages.next().await {
            for b in p.expect("page").into_model().expect("model").blob_items {
                names.extend(b.name);
            }
        }
        names
    };
    assert_eq!(names, ["vm.vhd"]);
}

/// A source on the documented-responses responder (SAS auth; the responder
/// does not check it).
pub fn docs_source(docs: &restoreproof_testkit::azure_docs::AzureDocs, extra: &str) -> String {
    format!(
        "[sources.docs]\nkind = \"azure_blob\"\naccount_url = \"{}\"\ncontainer = \"docs\"\n{extra}[sources.docs.auth]\nmethod = \"sas\"\nsas_env = \"RP_TEST_AZURE_SAS\"\n",
        docs.account_url()
    )
}

fn docs_blobs() -> Vec<restoreproof_testkit::azure_docs::DocBlob> {
    use restoreproof_testkit::azure_docs::DocBlob;
    let mut v1 = DocBlob::new("report.pdf", &data(1, 5000));
    v1.version_id = Some("2026-11-27T10:00:00.0000000Z".into());
    let mut v2 = DocBlob::new("report.pdf", &data(2, 6000));
    v2.version_id = Some("2026-11-28T10:00:00.0000000Z".into());
    v2.is_current_version = true;
    let mut lied = DocBlob::new("ledger.xlsx", &data(3, 7000));
    lied.version_id = Some("2026-11-28T11:00:00.0000000Z".into());
    lied.is_current_version = true;
    lied.content_md5_override = Some(vec![0; 16]);
    let mut gone = DocBlob::new("old.log", &data(4, 3000));
    gone.deleted = true;
    let mut cold = DocBlob::new("2019.tar", &data(5, 1000));
    cold.access_tier = "Archive";
    vec![v1, v2, lied, gone, cold]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_responses_versions_and_soft_deleted_blobs_are_listed_and_restored() {
    let docs = restoreproof_testkit::azure_docs::AzureDocs::start(docs_blobs())
        .await
        .expect("responder");
    let agent = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"docs\"\nsample = 100\n",
        docs_source(&docs, "")
    ));
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let samples = run.json()["samples"].as_array().expect("samples").clone();
    // Five recovery points; the HasVersionsOnly entry of a deleted versioned
    // blob is not one (its versions are).
    assert_eq!(samples.len(), 5, "{}", run.stdout);
    let find = |key: &str, version: Option<&str>| {
        samples
            .iter()
            .find(|s| {
                s["recovery_point"]["key"] == key
                    && s["recovery_point"]["version_id"].as_str() == version
            })
            .unwrap_or_else(|| panic!("no sample for {key} {version:?}: {}", run.stdout))
            .clone()
    };
    let old = find("report.pdf", Some("2026-11-27T10:00:00.0000000Z"));
    assert_eq!(old["verdict"], "verified", "{old}");
    assert_eq!(old["recovery_point"]["is_latest"], false);
    let cur = find("report.pdf", Some("2026-11-28T10:00:00.0000000Z"));
    assert_eq!(cur["recovery_point"]["is_latest"], true);
    assert_eq!(cur["verdict"], "verified");
    // A stored Content-MD5 that disagrees with the bytes is a mismatch.
    let lied = find("ledger.xlsx", Some("2026-11-28T11:00:00.0000000Z"));
    assert_eq!(checks_with(&lied, "mismatch"), ["azure.content_md5"]);
    // Without versioning a soft-deleted blob needs Undelete, which this drill
    // may not do.
    let gone = find("old.log", None);
    assert_eq!(gone["verdict"], "skipped");
    assert!(
        gone["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Undelete Blob"),
        "{gone}"
    );
    assert_eq!(
        gone["recovery_point"]["deleted"]["remaining_retention_days"],
        6
    );
    let cold = find("2019.tar", None);
    assert_eq!(cold["verdict"], "skipped");
    assert!(
        cold["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Archive tier and needs rehydration"),
        "{cold}"
    );
    // The old version was read by its version id.
    let reqs = docs.requests();
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("GET /docaccount/docs/report.pdf?")
                && r.contains("versionid=2026-11-27")),
        "{reqs:#?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.contains("include=snapshots%2Cversions%2Cdeleted")
                || r.contains("include=snapshots,versions,deleted")),
        "{reqs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_responses_undelete_verifies_and_puts_the_soft_deleted_state_back() {
    let docs = restoreproof_testkit::azure_docs::AzureDocs::start(docs_blobs())
        .await
        .expect("responder");

    // Not allowed unless the source says so.
    let refused = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"docs\"\nmode = \"undelete\"\n",
        docs_source(&docs, "")
    ));
    let run = refused.run(&["validate"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("allow_undelete = true"),
        "{}",
        run.stderr
    );
    let validate_says = run
        .stderr
        .lines()
        .find(|l| l.contains("allow_undelete"))
        .expect("the problem line")
        .trim()
        .to_owned();

    // The same drill as written (stream), with `--mode undelete` on the
    // command line: the override passes the same validation and is refused
    // with the same words, before anything is listed or changed.
    let stream = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"docs\"\n",
        docs_source(&docs, "")
    ));
    let before = docs.requests().len();
    for args in [
        vec!["drill", "d", "--mode", "undelete"],
        vec!["drill", "--source", "docs", "--mode", "undelete"],
    ] {
        let run = stream.run(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let problem = validate_says.replace("drills.d.", "");
        assert!(
            run.stderr.contains(&problem),
            "{args:?}: {}\nvalidate: {validate_says}",
            run.stderr
        );
    }
    assert_eq!(
        docs.requests().len(),
        before,
        "nothing was asked of the store"
    );

    let agent = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"docs\"\nmode = \"undelete\"\nsample = 100\n",
        docs_source(&docs, "allow_undelete = true\n")
    ));
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let samples = run.json()["samples"].as_array().expect("samples").clone();
    assert_eq!(
        samples.len(),
        1,
        "only soft-deleted blobs are undelete candidates: {}",
        run.stdout
    );
    let s = &samples[0];
    assert_eq!(s["recovery_point"]["key"], "old.log");
    assert_eq!(s["verdict"], "verified", "{s}");
    assert!(checks_with(s, "match").contains(&"azure.content_md5".to_owned()));

    assert_undeleted_then_deleted_again(&docs);

    // Each step is an evidence event, the intent recorded before the act;
    // as OCSF, every record of the run conforms.
    crate::util::assert_ocsf_conforms(&agent.evidence());
    let steps: Vec<(String, String)> = agent
        .evidence()
        .iter()
        .filter(|e| e["kind"] == "restore_mutation")
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["phase"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("undelete", "intent"),
        ("undelete", "done"),
        ("redelete", "intent"),
        ("redelete", "done"),
    ]
    .iter()
    .map(|(a, p)| (a.to_string(), p.to_string()))
    .collect();
    assert_eq!(steps, want);
}

/// Writes a self-signed certificate and its key as PKCS#12 (no password) to
/// `dir/name`, as a service principal's certificate credential.
fn make_pfx(dir: &std::path::Path, name: &str) {
    let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let (key, cert) = (path("sp-key.pem"), path("sp-cert.pem"));
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=restoreproof-test",
            "-days",
            "1",
            "-keyout",
            &key,
            "-out",
            &cert,
        ],
        vec![
            "pkcs12",
            "-export",
            "-passout",
            "pass:",
            "-inkey",
            &key,
            "-in",
            &cert,
            "-out",
            &path(name),
        ],
    ] {
        let out = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "{out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_principal_certificates_are_read_and_bad_ones_named() {
    let agent = Agent::from_toml("");
    let dir = agent.path("");
    make_pfx(&dir, "sp.pfx");
    std::fs::write(dir.join("not-a.pfx"), "hello").expect("write");

    let config = |cert: &str| {
        format!(
            "[ledger]\npath = \"l.db\"\n[evidence]\npath = \"e.jsonl\"\n\
             [sources.sp]\nkind = \"azure_blob\"\naccount_url = \"https://127.0.0.1:9\"\ncontainer = \"backups\"\n\
             [sources.sp.auth]\nmethod = \"service_principal\"\ntenant_id = \"00000000-0000-0000-0000-000000000000\"\n\
             client_id = \"11111111-1111-1111-1111-111111111111\"\nclient_certificate_file = \"{cert}\"\n\
             [drills.d]\nsource = \"sp\"\nattempts = 1\n"
        )
    };
    std::fs::write(&agent.config, config("not-a.pfx")).expect("config");
    let run = agent.run(&["drill", "d"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("must be a PKCS#12 (.pfx) file"),
        "{}",
        run.stderr
    );

    // A real certificate is accepted; the token request then goes to the
    // authority host, here a closed loopback port, and fails as a
    // credential problem — never reaching out of this machine.
    std::fs::write(&agent.config, config("sp.pfx")).expect("config");
    let out = agent
        .command(&["drill", "d"])
        .env("AZURE_AUTHORITY_HOST", "https://127.0.0.1:9")
        .output()
        .await
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("PKCS#12"), "{stderr}");
    assert!(
        stderr.contains("no usable Azure credential") || stderr.contains("check `account_url`"),
        "{stderr}"
    );
}

/// Azurite over HTTPS with `--oauth basic`, and a local Entra ID token
/// endpoint (`scripts/token-server.py`), both started by `scripts/test` with a
/// test CA the agent trusts through `SSL_CERT_FILE`.
struct OAuth {
    endpoint: String,
    authority: String,
    token_log: std::path::PathBuf,
    ca: String,
}

impl OAuth {
    fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var(k)
                .unwrap_or_else(|_| panic!("{k} is not set: run the suite with `scripts/test`"))
        };
        Self {
            endpoint: var("RESTOREPROOF_TEST_AZURE_TLS_ENDPOINT"),
            authority: var("RESTOREPROOF_TEST_TOKEN_AUTHORITY"),
            token_log: var("RESTOREPROOF_TEST_TOKEN_LOG").into(),
            ca: var("RESTOREPROOF_TEST_CA"),
        }
    }

    /// Token requests the endpoint saw for this client id, as (flow, scope).
    fn grants(&self, client_id: &str) -> Vec<(String, String)> {
        crate::util::read_jsonl(&self.token_log)
            .into_iter()
            .filter(|g| g["client_id"] == client_id)
            .map(|g| {
                (
                    g["flow"].as_str().unwrap_or_default().to_owned(),
                    g["scope"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_auth_reaches_azurite_over_https_for_each_entra_flow() {
    let oauth = OAuth::from_env();
    let container = format!("oauth-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // Seed through a SAS (the test process trusts the test CA as well).
    let url =
        Url::parse(&format!("{}/{container}?{}", oauth.endpoint, account_sas())).expect("url");
    let seed = BlobContainerClient::new(url, None, None).expect("client");
    seed.create(None).await.expect("create container");
    seed.blob_client("db.dump")
        .upload(RequestContent::from(data(9, 40_000)), None)
        .await
        .expect("upload");

    let agent = Agent::from_toml("");
    let dir = agent.path("");
    std::fs::write(dir.join("secret"), "s3cr3t-client-secret\n").expect("secret");
    std::fs::write(dir.join("federated-token"), "eyJhbGciOiJub25lIn0.e30.").expect("token file");
    make_pfx(&dir, "sp.pfx");
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let flows = [
        ("service-principal-secret", format!("method = \"service_principal\"\ntenant_id = \"{tenant}\"\nclient_id = \"sp-secret\"\nclient_secret_file = \"secret\"\n"), "sp-secret", "client_secret"),
        ("service-principal-certificate", format!("method = \"service_principal\"\ntenant_id = \"{tenant}\"\nclient_id = \"sp-cert\"\nclient_certificate_file = \"sp.pfx\"\n"), "sp-cert", "client_assertion"),
        ("workload-identity", "method = \"workload_identity\"\n".to_owned(), "wi-client", "client_assertion"),
        ("managed-identity", "method = \"managed_identity\"\nclient_id = \"mi-client\"\n".to_owned(), "mi-client", "managed_identity"),
        ("azure-cli", "method = \"azure_cli\"\n".to_owned(), "az-cli", "azure_cli"),
    ];
    let path = fake_az_cli(&dir, &oauth, tenant);
    for (name, auth, client_id, flow) in flows {
        std::fs::write(
            &agent.config,
            format!(
                "[ledger]\npath = \"{name}.db\"\n[evidence]\npath = \"{name}.jsonl\"\n\
                 [sources.az]\nkind = \"azure_blob\"\naccount_url = \"{}\"\ncontainer = \"{container}\"\n\
                 [sources.az.auth]\n{auth}[drills.d]\nsource = \"az\"\nattempts = 1\n",
                oauth.endpoint
            ),
        )
        .expect("config");
        let out = agent
            .command(&["drill", "d", "--json"])
            .current_dir(&dir)
            .env("SSL_CERT_FILE", &oauth.ca)
            .env("AZURE_AUTHORITY_HOST", &oauth.authority)
            .env("AZURE_TENANT_ID", tenant)
            .env("AZURE_CLIENT_ID", "wi-client")
            .env("AZURE_FEDERATED_TOKEN_FILE", dir.join("federated-token"))
            .env(
                "IDENTITY_ENDPOINT",
                format!("{}/msi/token", oauth.authority),
            )
            .env("IDENTITY_HEADER", "test-identity-header")
            .env("PATH", &path)
            .output()
            .await
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{name}:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("\"verdict\": \"verified\""),
            "{name}: {stdout}"
        );
        assert!(
            !stderr.contains("s3cr3t-client-secret") && !stdout.contains("s3cr3t-client-secret")
        );
        let grants = oauth.grants(client_id);
        let (flow, scope) = match flow {
            // The stand-in `az` used the client-secret grant for its token.
            "azure_cli" => ("client_secret", "https://storage.azure.com/.default"),
            "managed_identity" => ("managed_identity", "https://storage.azure.com"),
            f => (f, "https://storage.azure.com/.default"),
        };
        assert_eq!(
            grants.first().map(|(f, s)| (f.as_str(), s.as_str())),
            Some((flow, scope)),
            "{name}: {grants:?}"
        );
    }
}

/// `az` as a stand-in on PATH (no local server implements the Azure CLI):
/// it asks the test token endpoint for a token, records the call, and
/// answers as `az account get-access-token -o json` does. The `PATH` that
/// finds it.
fn fake_az_cli(dir: &std::path::Path, oauth: &OAuth, tenant: &str) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let az = bin.join("az");
    std::fs::write(
        &az,
        format!(
            "#!/usr/bin/env python3\n\
             import json, ssl, sys, time, urllib.parse, urllib.request\n\
             scope = sys.argv[sys.argv.index('--scope') + 1]\n\
             form = urllib.parse.urlencode({{'client_id': 'az-cli', 'client_secret': 'x', 'scope': scope}}).encode()\n\
             ctx = ssl.create_default_context(cafile='{ca}')\n\
             reply = urllib.request.urlopen('{authority}/{tenant}/oauth2/v2.0/token', form, context=ctx)\n\
             token = json.load(reply)['access_token']\n\
             print(json.dumps({{'accessToken': token, 'expires_on': int(time.time()) + 3600, 'tokenType': 'Bearer'}}))\n",
            ca = oauth.ca,
            authority = oauth.authority,
        ),
    )
    .expect("az");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Undelete, read, delete again — in that order — and the blob is back in
/// its soft-deleted state.
fn assert_undeleted_then_deleted_again(docs: &restoreproof_testkit::azure_docs::AzureDocs) {
    let reqs: Vec<String> = docs
        .requests()
        .into_iter()
        .filter(|r| r.contains("old.log"))
        .map(|r| {
            r.split('?').next().unwrap_or_default().to_owned()
                + if r.contains("comp=undelete") {
                    " undelete"
                } else {
                    ""
                }
        })
        .collect();
    assert_eq!(
        reqs.first().map(String::as_str),
        Some("PUT /docaccount/docs/old.log undelete"),
        "{reqs:?}"
    );
    assert_eq!(
        reqs.last().map(String::as_str),
        Some("DELETE /docaccount/docs/old.log"),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().any(|r| r == "GET /docaccount/docs/old.log"),
        "{reqs:?}"
    );
    let old = docs
        .blobs()
        .into_iter()
        .find(|b| b.name == "old.log")
        .expect("old.log");
    assert!(old.deleted, "the soft-deleted state was put back");
}
