//! An Azure Blob Inventory report as a drill's population. The test writes
//! a real report in the layout Azure documents —
//! `YYYY/MM/DD/HH-MM-SS/RULE/RULE-manifest.json` (files with their sizes,
//! the rule's format, status), its MD5 in `RULE-manifest.checksum`, data
//! files as CSV with the schema row first or as Parquet (written by
//! pyarrow), `Name` as `container/blob` — into an Azurite container
//! (Azurite keeps the blobs; no local server generates inventory reports),
//! then drills from it. Azurite has snapshots but no versions or soft
//! delete: the report's soft-deleted row stands for a blob Azurite cannot
//! hold, and is `skipped` as a listed one would be.

use crate::azure::Container;
use crate::inventory::parquet_file;
use crate::util::{data, Agent};
use azure_core::http::RequestContent;
use azure_storage_blob::models::{BlobContainerClientListBlobsOptions, ListBlobsIncludeItem};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures::StreamExt as _;
use md5::{Digest as _, Md5};

const RULE: &str = "daily-versions";

/// One row of the report.
struct Row {
    name: String,
    snapshot: String,
    length: u64,
    md5: String,
    last_modified: i64,
    deleted: bool,
}

/// The container's blobs and snapshots as the report lists them, plus a
/// soft-deleted blob and another container's blob.
async fn rows_now(c: &Container) -> Vec<Row> {
    let options = BlobContainerClientListBlobsOptions {
        include: Some(vec![ListBlobsIncludeItem::Snapshots]),
        ..Default::default()
    };
    let mut pages = c
        .client
        .list_blobs(Some(options))
        .expect("list")
        .into_pages();
    let mut rows = Vec::new();
    while let Some(page) = pages.next().await {
        for b in page.expect("page").into_model().expect("model").blob_items {
            let p = b.properties.unwrap_or_default();
            rows.push(Row {
                name: format!("{}/{}", c.name, b.name.unwrap_or_default()),
                snapshot: b.snapshot.unwrap_or_default(),
                length: p.content_length.unwrap_or(0),
                md5: p.content_md5.map(|m| B64.encode(m)).unwrap_or_default(),
                last_modified: p.last_modified.map_or(0, |t| {
                    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
                }),
                deleted: false,
            });
        }
    }
    for (name, deleted) in [
        (format!("{}/gone.dump", c.name), true),
        ("another-container/db.dump".to_owned(), false),
    ] {
        rows.push(Row {
            name,
            snapshot: String::new(),
            length: 10,
            md5: B64.encode([1u8; 16]),
            last_modified: 1_700_000_000_000,
            deleted,
        });
    }
    rows
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Form {
    Csv,
    Parquet,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Damage {
    None,
    Checksum,
    Size,
    Pending,
}

/// Writes a report of `rows` started `age` ago into `dest`.
async fn write_report(
    dest: &Container,
    rows: &[Row],
    age: chrono::Duration,
    form: Form,
    damage: Damage,
) {
    let started = chrono::Utc::now() - age;
    let dir = format!("{}/{RULE}", started.format("%Y/%m/%d/%H-%M-%S"));
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let (file, ext) = match form {
        Form::Csv => {
            let mut csv = String::from(
                "Name,Last-Modified,Content-Length,Content-MD5,AccessTier,Snapshot,Deleted,RemainingRetentionDays\n",
            );
            for r in rows {
                csv.push_str(&format!(
                    "{},{},{},{},Hot,{},{},{}\n",
                    r.name,
                    time(r.last_modified),
                    r.length,
                    r.md5,
                    r.snapshot,
                    r.deleted,
                    if r.deleted { "7" } else { "" }
                ));
            }
            (csv.into_bytes(), "csv")
        }
        Form::Parquet => {
            let columns = serde_json::json!([
                ["Name", "str"],
                ["Last-Modified", "ms"],
                ["Content-Length", "int"],
                ["Content-MD5", "str"],
                ["AccessTier", "str"],
                ["Snapshot", "str"],
                ["Deleted", "bool"]
            ]);
            let rows: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "Name": r.name, "Last-Modified": r.last_modified,
                        "Content-Length": r.length, "Content-MD5": r.md5, "AccessTier": "Hot",
                        "Snapshot": (!r.snapshot.is_empty()).then_some(&r.snapshot),
                        "Deleted": r.deleted,
                    })
                })
                .collect();
            (
                parquet_file(&columns.to_string(), &serde_json::Value::Array(rows)),
                "parquet",
            )
        }
    };
    let file_blob = format!("{dir}/{RULE}_1000000_0.{ext}");
    let size = file.len() + usize::from(damage == Damage::Size);
    let manifest = serde_json::json!({
        "destinationContainer": dest.name,
        "endpoint": "https://devstoreaccount1.blob.core.windows.net",
        "files": [{ "blob": file_blob, "size": size }],
        "inventoryCompletionTime": (started + chrono::Duration::minutes(10)).to_rfc3339(),
        "inventoryStartTime": started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "ruleDefinition": {
            "filters": { "blobTypes": ["blockBlob"], "includeSnapshots": true, "includeBlobVersions": false },
            "format": if form == Form::Csv { "csv" } else { "parquet" },
            "objectType": "blob",
            "schedule": "daily",
            "schemaFields": ["Name", "Last-Modified", "Content-Length", "Content-MD5", "AccessTier", "Snapshot", "Deleted"]
        },
        "ruleName": RULE,
        "status": if damage == Damage::Pending { "Pending" } else { "Succeeded" },
        "summary": { "objectCount": rows.len(), "totalObjectSize": 0 },
        "version": "1.0"
    })
    .to_string();
    let checksum = if damage == Damage::Checksum {
        "0".repeat(32)
    } else {
        hex::encode(Md5::digest(manifest.as_bytes()))
    };
    for (blob, body) in [
        (file_blob, file),
        (format!("{dir}/{RULE}-manifest.json"), manifest.into_bytes()),
        (
            format!("{dir}/{RULE}-manifest.checksum"),
            checksum.into_bytes(),
        ),
    ] {
        dest.client
            .blob_client(&blob)
            .upload(RequestContent::from(body), None)
            .await
            .expect("upload");
    }
}

fn agent_for(c: &Container, dest: &Container) -> Agent {
    Agent::from_toml(&format!(
        "{}[sources.az.inventory]\nlocation = \"{}/{}/\"\nrule = \"{RULE}\"\n\
         [drills.d]\nsource = \"az\"\nscratch_dir = \"scratch\"\nsample = \"100%\"\n",
        c.source_toml("az"),
        c.account_url(),
        dest.name
    ))
}

/// The population is exactly the report's blobs and snapshots of the
/// source's container: one added after the report is absent, a snapshot
/// deleted after it is found gone (`unrecoverable`), a soft-deleted blob is
/// `skipped` with the reason, another container's rows are not the
/// source's; CSV and Parquet alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_takes_its_population_from_the_newest_azure_inventory_report() {
    for form in [Form::Csv, Form::Parquet] {
        let c = Container::new("inv-src").await;
        let dest = Container::new("inv-dest").await;
        c.put("db/a.dump", &data(1, 3000)).await;
        let snap = c.snapshot("db/a.dump").await;
        c.put("db/a.dump", &data(2, 3100)).await;
        c.put("db/b.dump", &data(3, 1200)).await;
        let doomed = c.snapshot("db/b.dump").await;
        write_report(
            &dest,
            &rows_now(&c).await,
            chrono::Duration::hours(3),
            form,
            Damage::None,
        )
        .await;
        c.put("db/new.dump", &data(4, 900)).await;
        c.client
            .blob_client("db/b.dump")
            .with_snapshot(&doomed)
            .expect("snapshot client")
            .delete(None)
            .await
            .expect("delete snapshot");

        let agent = agent_for(&c, &dest);
        let run = agent.drill(&[]).await;
        assert_eq!(run.code, 1, "{form:?}: {}\n{}", run.stdout, run.stderr);
        let json = run.json();
        let mut got: Vec<(String, String, String)> = json["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .map(|s| {
                (
                    s["recovery_point"]["key"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    s["recovery_point"]["snapshot"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    s["verdict"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        got.sort();
        let v = |k: &str, s: &str, verdict: &str| (k.to_owned(), s.to_owned(), verdict.to_owned());
        assert_eq!(
            got,
            [
                v("db/a.dump", "", "verified"),
                v("db/a.dump", &snap, "verified"),
                v("db/b.dump", "", "verified"),
                v("db/b.dump", &doomed, "unrecoverable"),
                v("gone.dump", "", "skipped"),
            ],
            "{form:?}"
        );
        let s = &json["summary"];
        assert_eq!(s["population_from"], "inventory", "{s}");
        assert!(s["population_as_of"].is_string(), "{s}");
        assert_eq!(s["population"]["candidates"], 5, "{s}");
    }
}

/// A manifest that does not match its checksum, a run still pending, a
/// data file of another size than the manifest's stop the drill with the
/// reason; no verdict comes from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_incomplete_azure_inventory_report_stops_the_drill() {
    for (damage, form, says) in [
        (Damage::Checksum, Form::Csv, "its checksum file says"),
        (Damage::Pending, Form::Csv, "status Pending"),
        (Damage::Size, Form::Csv, "the manifest says"),
        (Damage::Size, Form::Parquet, "the manifest says"),
    ] {
        let c = Container::new("inv-bad").await;
        let dest = Container::new("inv-bad-dest").await;
        c.put("a.dump", &data(1, 2000)).await;
        write_report(
            &dest,
            &rows_now(&c).await,
            chrono::Duration::hours(1),
            form,
            damage,
        )
        .await;
        let agent = agent_for(&c, &dest);
        let run = agent.drill(&[]).await;
        assert_eq!(
            run.code, 2,
            "{damage:?} {form:?}: {}\n{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stdout.contains(says),
            "{damage:?} {form:?}: {}",
            run.stdout
        );
        assert!(
            !agent
                .evidence()
                .iter()
                .any(|e| e["kind"] == "sample_verdict"),
            "no verdict from a report that cannot be used"
        );
    }
}

/// Rotating coverage over a report whose rows are in no order (Azure says
/// its reports need not be): every run takes recovery points not yet
/// verified, none twice, until all are; a point deleted after the next
/// report counts as departed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_coverage_works_over_a_report_in_no_order() {
    let c = Container::new("inv-cov").await;
    let dest = Container::new("inv-cov-dest").await;
    for i in 0..6u8 {
        c.put(&format!("k{i}.dump"), &data(i, 500)).await;
    }
    let mut rows = rows_now(&c).await;
    rows.retain(|r| !r.deleted && r.name.starts_with(&c.name));
    // Out of key order: k3, k0, k5, k1, k4, k2.
    let order = ["k3", "k0", "k5", "k1", "k4", "k2"];
    rows.sort_by_key(|r| {
        order
            .iter()
            .position(|k| r.name.ends_with(&format!("/{k}.dump")))
    });
    write_report(
        &dest,
        &rows,
        chrono::Duration::hours(2),
        Form::Csv,
        Damage::None,
    )
    .await;
    let agent = Agent::from_toml(&format!(
        "{}[sources.az.inventory]\nlocation = \"{}/{}/\"\nrule = \"{RULE}\"\n\
         [drills.d]\nsource = \"az\"\nscratch_dir = \"scratch\"\nsample = 2\ncoverage = \"30d\"\n",
        c.source_toml("az"),
        c.account_url(),
        dest.name
    ));
    let mut seen = std::collections::BTreeSet::new();
    for k in 1..=3u64 {
        let run = agent.drill(&[]).await;
        assert_eq!(run.code, 0, "run {k}: {}\n{}", run.stdout, run.stderr);
        for (key, verdict) in run.verdicts() {
            assert_eq!(verdict, "verified");
            assert!(seen.insert(key.clone()), "run {k} repeated {key}");
        }
        let cov = &run.json()["summary"]["coverage"];
        assert_eq!(cov["population"], 6, "{cov}");
        assert_eq!(cov["verified_within_period"], 2 * k, "run {k}: {cov}");
        assert_eq!(cov["departed"], 0, "run {k}: {cov}");
    }
    // The next report no longer holds two of them.
    rows.retain(|r| !r.name.ends_with("k1.dump") && !r.name.ends_with("k4.dump"));
    write_report(
        &dest,
        &rows,
        chrono::Duration::hours(1),
        Form::Csv,
        Damage::None,
    )
    .await;
    let run = agent.drill(&[]).await;
    let cov = &run.json()["summary"]["coverage"];
    assert_eq!(cov["population"], 4, "{cov}");
    assert_eq!(cov["departed"], 2, "{cov}");
}
