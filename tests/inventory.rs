//! An S3 Inventory report as a drill's population. The test writes a real
//! report in the layout S3 documents — `YYYY-MM-DDTHH-MMZ/manifest.json`,
//! its MD5 in `manifest.checksum`, data files listed with their MD5s: gzip
//! CSV (columns named by `fileSchema`, keys URL-encoded) or Parquet (written
//! by pyarrow, snake_case columns) — into a moto bucket (moto keeps the
//! objects; no local server generates inventory reports), then drills from
//! it.

use crate::util::{data, Agent, Bucket};
use md5::{Digest as _, Md5};
use std::io::Write as _;

const SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ChecksumAlgorithm";

/// How to damage a report.
#[derive(Clone, Copy, PartialEq)]
enum Damage {
    None,
    Manifest,
    DataFile,
}

/// One row of a report.
#[derive(serde::Serialize)]
struct Row {
    key: String,
    version_id: String,
    is_latest: bool,
    is_delete_marker: bool,
    size: Option<i64>,
    /// Milliseconds since the epoch.
    last_modified: i64,
    e_tag: String,
    storage_class: String,
}

/// The bucket's versions and delete markers as S3 Inventory reports them.
async fn rows_now(b: &Bucket) -> Vec<Row> {
    let out =
        b.s3.list_object_versions()
            .bucket(&b.name)
            .send()
            .await
            .expect("list");
    let millis = |t: Option<&aws_sdk_s3::primitives::DateTime>| {
        t.and_then(|t| t.to_millis().ok()).unwrap_or_default()
    };
    let mut rows = Vec::new();
    for v in out.versions() {
        rows.push(Row {
            key: v.key().unwrap_or_default().to_owned(),
            version_id: v.version_id().unwrap_or_default().to_owned(),
            is_latest: v.is_latest().unwrap_or(false),
            is_delete_marker: false,
            size: v.size(),
            last_modified: millis(v.last_modified()),
            e_tag: v.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
            storage_class: "STANDARD".into(),
        });
    }
    for m in out.delete_markers() {
        rows.push(Row {
            key: m.key().unwrap_or_default().to_owned(),
            version_id: m.version_id().unwrap_or_default().to_owned(),
            is_latest: m.is_latest().unwrap_or(false),
            is_delete_marker: true,
            size: None,
            last_modified: millis(m.last_modified()),
            e_tag: String::new(),
            storage_class: String::new(),
        });
    }
    rows
}

/// The rows as a CSV data file: no header, keys URL-encoded, gzip.
fn csv_file(bucket: &str, rows: &[Row]) -> Vec<u8> {
    let enc = |k: &str| {
        k.bytes()
            .map(|c| match c {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                    (c as char).to_string()
                }
                b' ' => "+".into(),
                c => format!("%{c:02X}"),
            })
            .collect::<String>()
    };
    let mut csv = String::new();
    for r in rows {
        let time = chrono::DateTime::from_timestamp_millis(r.last_modified)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        csv.push_str(&format!(
            "\"{bucket}\",\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",\"{time}\",\"{}\",\"{}\",\"false\",\"\"\n",
            enc(&r.key),
            r.version_id,
            r.is_latest,
            r.is_delete_marker,
            r.size.map(|s| s.to_string()).unwrap_or_default(),
            r.e_tag,
            r.storage_class,
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv.as_bytes()).expect("gzip");
    gz.finish().expect("gzip")
}

/// The rows as a Parquet data file in S3 Inventory's schema (snake_case
/// columns, times as timestamp milliseconds, keys not encoded), written by
/// pyarrow, not by the agent's own Parquet crate.
pub fn parquet_file(columns: &str, rows: &serde_json::Value) -> Vec<u8> {
    let python =
        std::env::var("RESTOREPROOF_TEST_PYTHON").expect("RESTOREPROOF_TEST_PYTHON (scripts/test)");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("f.parquet");
    let script = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
schema = pa.schema([pa.field(n, {"str": pa.string(), "bool": pa.bool_(), "int": pa.int64(), "ms": pa.timestamp("ms", tz="UTC")}[t]) for n, t in json.loads(sys.argv[1])])
rows = json.loads(sys.argv[2])
pq.write_table(pa.Table.from_pylist(rows, schema=schema), sys.argv[3], compression="snappy")
"#;
    let done = std::process::Command::new(python)
        .args(["-c", script, columns, &rows.to_string()])
        .arg(&out)
        .output()
        .expect("python");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    std::fs::read(&out).expect("parquet file")
}

/// The report's data file format.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Form {
    Csv,
    Parquet,
}

/// Writes a report of `rows` taken `age` ago into `b` under
/// `inventory/SOURCE/cfg/`, as `form`, damaged as asked.
async fn write_report(b: &Bucket, rows: &[Row], age: chrono::Duration, damage: Damage, form: Form) {
    let taken = chrono::Utc::now() - age;
    let base = format!("inventory/{}/cfg/", b.name);
    let dir = format!("{base}{}/", taken.format("%Y-%m-%dT%H-%MZ"));
    let (mut file, ext, format, schema) = match form {
        Form::Csv => (csv_file(&b.name, rows), "csv.gz", "CSV", SCHEMA.to_owned()),
        Form::Parquet => {
            let columns = serde_json::json!([
                ["bucket", "str"],
                ["key", "str"],
                ["version_id", "str"],
                ["is_latest", "bool"],
                ["is_delete_marker", "bool"],
                ["size", "int"],
                ["last_modified_date", "ms"],
                ["e_tag", "str"],
                ["storage_class", "str"]
            ]);
            let rows: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "bucket": b.name, "key": r.key, "version_id": r.version_id,
                        "is_latest": r.is_latest, "is_delete_marker": r.is_delete_marker,
                        "size": r.size, "last_modified_date": r.last_modified,
                        "e_tag": r.e_tag, "storage_class": r.storage_class,
                    })
                })
                .collect();
            (
                parquet_file(&columns.to_string(), &serde_json::Value::Array(rows)),
                "parquet",
                "Parquet",
                "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional binary version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker; optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); optional binary storage_class (UTF8); }".to_owned(),
            )
        }
    };
    let file_key = format!("{base}data/{}.{ext}", uuid::Uuid::new_v4());
    let file_md5 = hex::encode(Md5::digest(&file));
    if damage == Damage::DataFile {
        let last = file.len() - 9;
        file[last] ^= 0x01;
    }
    let manifest = serde_json::json!({
        "sourceBucket": b.name,
        "destinationBucket": format!("arn:aws:s3:::{}", b.name),
        "version": "2016-11-30",
        "creationTimestamp": taken.timestamp_millis().to_string(),
        "fileFormat": format,
        "fileSchema": schema,
        "files": [{ "key": file_key, "size": file.len(), "MD5checksum": file_md5 }],
    })
    .to_string();
    let checksum = if damage == Damage::Manifest {
        "0".repeat(32)
    } else {
        hex::encode(Md5::digest(manifest.as_bytes()))
    };
    for (key, body) in [
        (file_key.clone(), file),
        (format!("{dir}manifest.json"), manifest.into_bytes()),
        (format!("{dir}manifest.checksum"), checksum.into_bytes()),
    ] {
        b.put(&key, &body, None).await;
    }
}

fn agent_for(b: &Bucket, extra: &str) -> Agent {
    Agent::from_toml(&format!(
        "[sources.src]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
         [sources.src.inventory]\nlocation = \"s3://{bucket}/inventory/{bucket}/cfg/\"\n{extra}\
         [drills.d]\nsource = \"src\"\nscratch_dir = \"scratch\"\nsample = \"100%\"\n",
        bucket = b.name,
        endpoint = b.proxy.url(),
    ))
}

/// The population is exactly the report's restorable versions: a version
/// added after it is not in it, one removed after it is not `verified`
/// (found gone at restore), delete markers are counted and never restored,
/// a version behind a delete marker is; the summary says the population
/// came from a report and when that was taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_takes_its_population_from_the_newest_inventory_report() {
    for form in [Form::Csv, Form::Parquet] {
        drill_from_a_report(form).await;
    }
}

async fn drill_from_a_report(form: Form) {
    let b = Bucket::new("inventory").await;
    b.put("a.bin", &data(1, 2000), None).await;
    b.put("a.bin", &data(2, 2100), None).await;
    let removed = b.put("b c.bin", &data(3, 1500), None).await;
    b.put("c.bin", &data(4, 1200), None).await;
    b.delete("c.bin").await;
    write_report(
        &b,
        &rows_now(&b).await,
        chrono::Duration::hours(2),
        Damage::None,
        form,
    )
    .await;
    // After the report: a new object, and a version deleted for good.
    b.put("d.bin", &data(5, 900), None).await;
    b.s3.delete_object()
        .bucket(&b.name)
        .key("b c.bin")
        .version_id(&removed)
        .send()
        .await
        .expect("delete version");

    let agent = agent_for(&b, "");
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.verdicts(),
        [
            ("a.bin".into(), "verified".into()),
            ("a.bin".into(), "verified".into()),
            ("b c.bin".into(), "unrecoverable".into()),
            ("c.bin".into(), "verified".into()),
        ]
    );
    let s = &run.json()["summary"];
    assert_eq!(s["population_from"], "inventory", "{s}");
    assert!(s["population_as_of"].is_string(), "{s}");
    assert_eq!(s["population"]["delete_markers"], 1);
    assert_eq!(s["population"]["candidates"], 4);
    let as_of = s["population_as_of"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // `drill --plan`, status and the report say it too.
    let plan = agent.run(&["drill", "d", "--plan", "--json"]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let p: serde_json::Value = serde_json::from_str(&plan.stdout).expect("plan json");
    assert_eq!(p["plan"]["population_from"], "inventory");
    assert_eq!(p["plan"]["population_as_of"], as_of.as_str());
    let human = agent.run(&["drill", "d", "--plan"]).await;
    assert!(
        human.stdout.contains(&format!("population as of {as_of}")),
        "{}",
        human.stdout
    );
    let status = agent.run(&["status", "--json"]).await;
    let st: serde_json::Value = serde_json::from_str(&status.stdout).expect("status json");
    assert_eq!(
        st["drills"][0]["last_run"]["population_as_of"],
        as_of.as_str(),
        "{st}"
    );
    let text = agent.run(&["status"]).await;
    assert!(
        text.stdout.contains(&format!("population as of {as_of}")),
        "{}",
        text.stdout
    );
    let report = agent.run(&["report", "--format", "json"]).await;
    let r: serde_json::Value = serde_json::from_str(&report.stdout).expect("report json");
    assert_eq!(r["drills"][0]["population_as_of"], as_of.as_str(), "{r}");
    let docs: Vec<(&str, serde_json::Value)> = agent
        .evidence()
        .into_iter()
        .map(|e| ("evidence", e))
        .chain([
            ("drill", run.json()),
            ("drill-plan", p),
            ("status", st),
            ("report", r),
        ])
        .collect();
    crate::schemas::assert_valid(&docs);
}

/// A damaged manifest or data file, or a report older than `max_age`,
/// stops the drill with the reason: no verdict comes from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_stale_inventory_report_stops_the_drill_with_the_reason() {
    for (damage, form, age, extra, says) in [
        (Damage::Manifest, Form::Csv, 1, "", "matches its checksum"),
        (
            Damage::DataFile,
            Form::Csv,
            1,
            "",
            "does not match its MD5 checksum in the manifest",
        ),
        (
            Damage::DataFile,
            Form::Parquet,
            1,
            "",
            "does not match its MD5 checksum in the manifest",
        ),
        (
            Damage::None,
            Form::Csv,
            24 * 10,
            "",
            "older than the source's inventory.max_age (8d)",
        ),
        (
            Damage::None,
            Form::Parquet,
            3,
            "max_age = \"2h\"\n",
            "older than the source's inventory.max_age (2h)",
        ),
    ] {
        let b = Bucket::new("inventory-bad").await;
        b.put("a.bin", &data(1, 2000), None).await;
        write_report(
            &b,
            &rows_now(&b).await,
            chrono::Duration::hours(age),
            damage,
            form,
        )
        .await;
        let agent = agent_for(&b, extra);
        let run = agent.drill(&[]).await;
        assert_eq!(
            run.code, 2,
            "{form:?} {says}: {}\n{}",
            run.stdout, run.stderr
        );
        assert!(run.stdout.contains(says), "{form:?} {says}: {}", run.stdout);
        assert!(
            !agent
                .evidence()
                .iter()
                .any(|e| e["kind"] == "sample_verdict"),
            "no verdict from a report that cannot be used"
        );
    }
    // The reports are read with the inventory's own credentials when it
    // has some: with no credentials in the environment, a source with its
    // own keys and an inventory naming a profile that does not exist stops
    // at the report, and the same inventory with keys of its own works.
    let b = Bucket::new("inventory-own").await;
    b.put("a.bin", &data(1, 2000), None).await;
    write_report(
        &b,
        &rows_now(&b).await,
        chrono::Duration::hours(1),
        Damage::None,
        Form::Csv,
    )
    .await;
    let keys =
        "[sources.src.credentials]\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\n";
    for (inventory, code) in [
        ("profile = \"no-such-inventory-profile\"\n", 2),
        ("[sources.src.inventory.credentials]\naccess_key_id = \"inv\"\nsecret_access_key = \"inv\"\n", 0),
    ] {
        let agent = agent_for(&b, &format!("{inventory}{keys}"));
        let out = agent
            .command(&["drill", "d", "--json"])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .output()
            .await
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{inventory}: {stdout}");
        if code == 2 {
            assert!(stdout.contains("ListObjectsV2 on s3://") && stdout.contains("no usable AWS credentials"), "{stdout}");
        }
    }
    // A location that is not the report destination is refused by validate.
    let b = Bucket::new("inventory-config").await;
    let agent = Agent::from_toml(&format!(
        "[sources.src]\nkind = \"s3\"\nbucket = \"{}\"\n[sources.src.inventory]\nlocation = \"inventory/cfg\"\n\
         [drills.d]\nsource = \"src\"\n",
        b.name
    ));
    let run = agent.run(&["validate"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("sources.src.inventory.location")
            && run
                .stderr
                .contains("s3://BUCKET/PREFIX/SOURCE-BUCKET/CONFIG-ID/"),
        "{}",
        run.stderr
    );
}
