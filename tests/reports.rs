//! `restoreproof report` over a ledger filled by real drills against moto:
//! the numbers against hand-computed values, every format, and the HTML
//! page rendered in headless Chromium (Debian's, installed by
//! `scripts/test`) with its charts present.

use crate::azure::Container;
use crate::util::{data, Agent, Bucket};
use restoreproof_testkit::{Fault, Rule};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_coverage_success_and_failures_and_renders_in_chromium() {
    let b = Bucket::new("report").await;
    let mut versions = Vec::new();
    for (i, key) in ["a", "b", "c", "d"].iter().enumerate() {
        versions.push(b.put(key, &data(i as u8, 100_000), None).await);
    }
    let c = Container::new("report").await;
    c.put("db.dump", &data(7, 50_000)).await;
    c.snapshot("db.dump").await;
    c.put("db.dump", &data(8, 60_000)).await;
    c.snapshot("db.dump").await;
    let agent = Agent::from_toml(&format!(
        "[sources.src]\nkind = \"s3\"\nbucket = \"{}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         [drills.d]\nsource = \"src\"\nsample = 4\n{}[drills.az]\nsource = \"az\"\nsample = 10\n",
        b.name,
        b.proxy.url(),
        c.source_toml("az")
    ));
    // Run 1: b's bytes are corrupted on the way back.
    b.proxy.add(Rule::get(
        format!("versionId={}", versions[1]),
        Fault::FlipByte(10),
    ));
    let run1 = agent.drill(&[]).await;
    assert_eq!(run1.code, 1, "{}", run1.stderr);
    // Run 2: all four restore intact.
    b.proxy.clear();
    let run2 = agent.drill(&[]).await;
    assert_eq!(run2.code, 0, "{}", run2.stderr);
    let mismatch_event = run1.sample("b")["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // And the Azure container: the blob and its two snapshots.
    let az = agent.run(&["drill", "az", "--json"]).await;
    assert_eq!(az.code, 0, "{}", az.stderr);

    let json = agent
        .run(&["report", "--since", "1d", "--format", "json"])
        .await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let r: Value = serde_json::from_str(&json.stdout).expect("json");
    // The uniform samples bound the failing share per source: src had
    // 8 (one mismatch), az 3 (none).
    let conf = r["confidence"].as_array().expect("confidence");
    let src = conf.iter().find(|c| c["source"] == "src").expect("src");
    assert_eq!(
        (src["samples"].as_u64(), src["failures"].as_u64()),
        (Some(8), Some(1))
    );
    let bound = src["upper_bound"].as_f64().expect("bound");
    assert!((0.40..0.50).contains(&bound), "{bound}");
    let az = conf.iter().find(|c| c["source"] == "az").expect("az");
    assert_eq!(
        (az["samples"].as_u64(), az["failures"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(az["samples_for_target"], 299);
    let text = agent.run(&["report", "--since", "1d"]).await;
    assert!(
        text.stdout.contains("with 95 % confidence, at most ")
            && text.stdout.contains("(8 uniform samples, 1 failure(s))"),
        "{}",
        text.stdout
    );
    let drills = r["drills"].as_array().expect("drills");
    assert_eq!(drills.len(), 2);
    let a = &drills[0];
    assert_eq!(
        (a["drill"].as_str(), a["source"].as_str()),
        (Some("az"), Some("az"))
    );
    assert_eq!(a["samples"], 3);
    assert_eq!(a["success_rate"].as_f64(), Some(1.0));
    assert_eq!(a["coverage"].as_f64(), Some(1.0));
    assert_eq!(a["bytes_restored"], 50_000 + 60_000 + 60_000);
    let d = &drills[1];
    assert_eq!(d["drill"], "d");
    assert_eq!(d["runs"], 2);
    assert_eq!(d["samples"], 8);
    assert_eq!(d["verdicts"]["verified"], 7);
    assert_eq!(d["verdicts"]["mismatch"], 1);
    // Hand-computed: 7 verified of 8 compared; all 4 points verified once.
    assert_eq!(d["success_rate"].as_f64(), Some(0.875));
    assert_eq!(d["distinct_verified"], 4);
    assert_eq!(d["candidates"], 4);
    assert_eq!(d["coverage"].as_f64(), Some(1.0));
    assert_eq!(d["bytes_restored"], 800_000);
    assert!(d["throughput_bytes_per_sec"].as_u64().unwrap_or(0) > 0);
    assert!(d["projected_full_restore_secs"].as_u64().is_some());
    assert!(d["newest_verified_age_secs"]
        .as_i64()
        .is_some_and(|a| (0..3600).contains(&a)));
    let failures = r["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["key"], "b");
    assert_eq!(
        failures[0]["event_id"].as_str(),
        Some(mismatch_event.as_str())
    );
    assert_eq!(r["chain"]["intact"], true);
    assert_eq!(r["chain"]["signed_checkpoints_in_period"], 3);
    let control = |id: &str| {
        r["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .find(|c| c["iso_2013"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no control {id}"))
    };
    assert_eq!(control("A.12.3.1")["iso_2022"], "8.13");
    assert_eq!(
        control("A.12.3.1")["status"],
        "partly",
        "one recovery point failed"
    );
    assert_eq!(
        control("A.12.4.1-3")["status"],
        "partly",
        "no sink ships a copy"
    );
    assert_eq!(control("A.17.2.1")["status"], "no_evidence");
    assert!(control("A.9")["explanation"]
        .as_str()
        .unwrap_or_default()
        .contains("default credential chain"));

    // The other formats.
    let text = agent.run(&["report", "--since", "1d"]).await;
    assert!(
        text.stdout
            .contains("success rate 87.5%; coverage 100.0% (4 of 4 recovery points verified)"),
        "{}",
        text.stdout
    );
    let md = agent
        .run(&["report", "--since", "1d", "--format", "md"])
        .await;
    assert!(
        md.stdout
            .contains("| A.12.3.1 | 8.13 | Information backup | partly |"),
        "{}",
        md.stdout
    );
    // One table per CSV file: drills, failures, the control matrix.
    let mut csvs = Vec::new();
    for table in ["drills", "failures", "controls"] {
        let r = agent
            .run(&[
                "report", "--since", "1d", "--format", "csv", "--table", table,
            ])
            .await;
        assert_eq!(r.code, 0, "{table}: {}", r.stderr);
        assert!(!r.stdout.contains("\n\n"), "one table: {}", r.stdout);
        csvs.push(r.stdout);
    }
    let tables: Vec<Vec<&str>> = csvs.iter().map(|t| t.lines().collect()).collect();
    let csv = crate::util::Run {
        code: 0,
        stdout: csvs.join("\n"),
        stderr: String::new(),
    };
    let none = agent.run(&["report", "--format", "csv"]).await;
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("give --table drills"),
        "{}",
        none.stderr
    );
    let rows = &tables[0];
    assert_eq!(rows.len(), 3, "{}", csv.stdout);
    assert!(
        rows[2].starts_with("\"d\",\"src\",2,2,0,0,8,7,1,0,"),
        "{}",
        rows[2]
    );
    // One run of d passed, the one with the mismatch failed.
    assert!(rows[2].ends_with(",1,1"), "{}", rows[2]);
    assert!(
        tables[1][0].starts_with("failure_time,drill,"),
        "{}",
        csv.stdout
    );
    assert_eq!(tables[1].len(), 2, "one failure: {}", csv.stdout);
    assert!(tables[1][1].contains("\"mismatch\""), "{}", tables[1][1]);
    assert!(tables[2][0].starts_with("control_2013,control_2022,"));
    assert!(
        tables[2]
            .iter()
            .any(|l| l.starts_with("\"A.12.3.1\",\"8.13\",")),
        "{}",
        csv.stdout
    );
    let only = agent
        .run(&[
            "report", "--since", "1d", "--format", "json", "--source", "az",
        ])
        .await;
    let only: Value = serde_json::from_str(&only.stdout).expect("json");
    assert_eq!(only["drills"].as_array().map(Vec::len), Some(1));
    assert!(only["failures"].as_array().is_some_and(Vec::is_empty));
    let bad = agent.run(&["report", "--source", "nope"]).await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("no source named `nope`"),
        "{}",
        bad.stderr
    );

    // The HTML page, rendered.
    let html = agent.path("report.html");
    let out = agent
        .run(&[
            "report",
            "--since",
            "1d",
            "--format",
            "html",
            "--output",
            html.to_str().unwrap_or_default(),
        ])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let page = std::fs::read_to_string(&html).expect("html");
    // Self-contained: no script and nothing loaded from elsewhere (the
    // text may name an endpoint URL).
    assert!(
        !page.contains("<script")
            && !["src=\"http", "href=\"http", "url(http", "@import"]
                .iter()
                .any(|x| page.contains(x)),
        "self-contained"
    );
    // It opens with its conclusion, tied to the evidence and the config.
    let json: Value = serde_json::from_str(
        &agent
            .run(&["report", "--since", "1d", "--format", "json"])
            .await
            .stdout,
    )
    .expect("json");
    let head = json["chain"]["head_hash"].as_str().expect("the chain head");
    let config_hash = json["config_sha256"].as_str().expect("the config hash");
    let summary_at = page.find("id=\"summary\"").expect("a summary block");
    assert!(
        summary_at < page.find("<h2>Drills</h2>").expect("drills"),
        "the summary comes first"
    );
    for want in [
        head,
        config_hash,
        "A.12.3.1 / 8.13 Information backup: ",
        "Scope: 2 source(s)",
        "Latest checkpoint: size",
    ] {
        assert!(
            page[summary_at..].contains(want),
            "{want} not in the summary"
        );
    }
    // Run and event ids are folded, whole when opened.
    assert!(
        page.contains("<details class=\"id\"><summary>"),
        "ids folded"
    );
    let png = agent.path("report.png");
    let url = format!("file://{}", html.display());
    let shot = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1100,1400",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .expect("chromium (Debian package `chromium`) must be installed; scripts/test installs it");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "a real screenshot: {} bytes",
        bytes.len()
    );
    let dom = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(&url)
        .output()
        .expect("chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("id=\"chart-verdicts\""), "{dom}");
    assert_eq!(
        dom.matches("class=\"bar\"").count(),
        2,
        "verified and mismatch bars of one day"
    );
    assert!(dom.contains("id=\"chart-throughput\""));
    assert_eq!(
        dom.matches("class=\"point\"").count(),
        3,
        "one point per run"
    );
    // One series per drill: a line joins d's two runs, never runs of
    // different drills; values are written, not only in tooltips.
    assert_eq!(dom.matches("class=\"series\"").count(), 1, "{dom}");
    assert!(dom.contains("class=\"series\" data-drill=\"d\""), "{dom}");
    assert!(dom.matches("class=\"value\"").count() >= 3, "{dom}");
    assert!(dom.matches("class=\"tick\"").count() >= 6, "axis ticks");
    assert!(dom.contains("class=\"date\""), "dates on the axes");
    // Reproducible and attributable: per-run seeds, where each source is,
    // who signed the checkpoints.
    let runs_table = dom
        .split("id=\"runs\"")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("a table of runs");
    assert_eq!(
        runs_table.matches("<tr><td>").count(),
        3,
        "a row per run: {runs_table}"
    );
    let seeds: Vec<i64> = {
        let ledger = agent.ledger();
        let mut stmt = ledger
            .prepare("SELECT seed FROM runs WHERE seed IS NOT NULL")
            .expect("seeds");
        stmt.query_map([], |r| r.get(0))
            .expect("seeds")
            .map(|s| s.expect("seed"))
            .collect()
    };
    assert!(!seeds.is_empty());
    for seed in seeds {
        assert!(
            runs_table.contains(&format!("<code>{seed}</code>")),
            "{seed} in {runs_table}"
        );
    }
    assert!(dom.contains("s3://"), "{dom}");
    assert!(dom.contains("id=\"signers\""), "{dom}");
    assert!(dom.contains("Information backup"));

    // At 800 px nothing is wider than the window (measured by Chromium in a
    // page that frames the report), and the page prints.
    let frame = agent.path("frame.html");
    std::fs::write(
        &frame,
        format!(
            "<!doctype html><body style=\"margin:0\"><iframe id=\"f\" src=\"{url}\" style=\"width:800px;height:600px;border:0\"></iframe>\
             <pre id=\"out\"></pre><script>document.getElementById('f').onload=function(){{\
             var d=this.contentDocument.documentElement;\
             document.getElementById('out').textContent='scrollWidth='+d.scrollWidth+' clientWidth='+d.clientWidth;}};</script>"
        ),
    )
    .expect("frame");
    let measured = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", frame.display()))
        .output()
        .expect("chromium");
    let measured = String::from_utf8_lossy(&measured.stdout);
    let at = measured
        .find("<pre id=\"out\">scrollWidth=")
        .unwrap_or_else(|| panic!("not measured: {measured}"));
    let nums: Vec<u64> = measured[at..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "{measured}");
    assert!(nums[0] <= nums[1], "wider than 800 px: {measured}");
    let pdf = agent.path("report.pdf");
    let printed = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(&url)
        .output()
        .expect("chromium");
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let pdf = std::fs::read(&pdf).expect("pdf");
    assert!(
        pdf.starts_with(b"%PDF") && pdf.len() > 10_000,
        "{} bytes",
        pdf.len()
    );
}

/// `report -o` never overwrites the agent's own files, and an existing
/// file only with `--force`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_output_never_overwrites_the_ledger_or_evidence() {
    let b = Bucket::new("report-out").await;
    b.put("a", &data(1, 1000), None).await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    assert_eq!(agent.drill(&[]).await.code, 0);
    let ledger = std::fs::read(agent.path("state/ledger.sqlite3")).expect("ledger");
    let evidence = std::fs::read(agent.path("log/evidence.jsonl")).expect("evidence");
    for (target, says) in [
        ("state/ledger.sqlite3", "ledger.path"),
        ("state/./ledger.sqlite3", "ledger.path"),
        ("state/ledger.sqlite3-wal", "ledger.path"),
        ("log/evidence.jsonl", "evidence.path"),
        ("log/evidence.jsonl.1", "evidence.path"),
    ] {
        let p = agent.path(target);
        let run = agent
            .run(&[
                "report",
                "--format",
                "json",
                "--force",
                "-o",
                p.to_str().expect("utf-8"),
            ])
            .await;
        assert_eq!(run.code, 2, "{target}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{target}: {}", run.stderr);
    }
    assert_eq!(
        std::fs::read(agent.path("state/ledger.sqlite3")).expect("ledger"),
        ledger
    );
    assert_eq!(
        std::fs::read(agent.path("log/evidence.jsonl")).expect("evidence"),
        evidence
    );

    let out = agent.path("report.json");
    let out_s = out.to_str().expect("utf-8");
    assert_eq!(
        agent
            .run(&["report", "--format", "json", "-o", out_s])
            .await
            .code,
        0
    );
    let again = agent
        .run(&["report", "--format", "json", "-o", out_s])
        .await;
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let forced = agent
        .run(&["report", "--format", "json", "-o", out_s, "--force"])
        .await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).expect("report")).expect("json");
    assert!(doc.is_object());
}

/// Commands that only read work on a ledger nobody may write: a read-only
/// mount of an auditor's copy (in a mount namespace of the test's own, so
/// the read-only bind mount is real even for root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_commands_read_a_read_only_ledger() {
    let b = Bucket::new("report-ro").await;
    b.put("a", &data(1, 1000), None).await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    assert_eq!(agent.drill(&[]).await.code, 0);
    let exe = env!("CARGO_BIN_EXE_restoreproof");
    let state = agent.path("state");
    let config = agent.config.display().to_string();
    let ledger = agent.path("state/ledger.sqlite3").display().to_string();
    let before = std::fs::read(&ledger).expect("ledger");
    let script = format!(
        "set -e; mount --bind '{s}' '{s}'; mount -o remount,ro,bind '{s}'; \
         if touch '{s}/probe' 2>/dev/null; then echo 'the mount is writable' >&2; exit 9; fi; set +e; \
         '{exe}' --config '{config}' status --json > /dev/null; echo status=$?; \
         '{exe}' --config '{config}' report --format json > /dev/null; echo report=$?; \
         '{exe}' --config '{config}' evidence verify 2>&1; echo verify=$?",
        s = state.display()
    );
    let out = tokio::process::Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
        .await
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    for want in ["status=0", "report=0", "verify=0"] {
        assert!(stdout.contains(want), "{want}:\n{stdout}{stderr}");
    }
    assert_eq!(
        std::fs::read(&ledger).expect("ledger"),
        before,
        "nothing written"
    );
}

/// Keys are untrusted text: in every format they render as the text they
/// are, never as markup, never splitting a table cell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_keys_are_escaped_in_every_report_format() {
    const KEY: &str =
        "evil|`</code><img src=x onerror=alert(1)>`*_[x](javascript:alert(2))\"',=cmd";
    let b = Bucket::new("report-hostile").await;
    let v = b.put(KEY, &data(1, 5000), None).await;
    b.proxy
        .add(Rule::get(format!("versionId={v}"), Fault::FlipByte(10)));
    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let render = |format: &'static str| {
        let agent = &agent;
        async move {
            let r = agent.run(&["report", "--format", format]).await;
            assert_eq!(r.code, 0, "{format}: {}", r.stderr);
            r.stdout
        }
    };

    let md = render("md").await;
    let row = md
        .lines()
        .find(|l| l.contains("evil"))
        .expect("the failure row");
    // Every character Markdown or HTML would act on is backslash-escaped,
    // so it renders as itself (parentheses are inert once brackets are).
    let chars: Vec<char> = row.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if matches!(c, '<' | '>' | '[' | ']' | '`' | '*' | '_') {
            assert_eq!(
                chars.get(i.wrapping_sub(1)),
                Some(&'\\'),
                "{c} at {i} in {row}"
            );
        }
    }
    // Cells split on unescaped pipes only: time, verdict, drill, recovery
    // point, reason, evidence.
    let mut cells = 0;
    let mut prev = ' ';
    for c in row.chars() {
        if c == '|' && prev != '\\' {
            cells += 1;
        }
        prev = c;
    }
    assert_eq!(cells, 7, "{row}");
    // Times and numbers are not escaped: only what Markdown would read.
    assert!(
        !md.contains("\\-") && !md.contains("\\:") && !md.contains("\\."),
        "{md}"
    );

    let html = render("html").await;
    assert!(!html.contains("<img"), "an element from a key");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));

    let json = render("json").await;
    let doc: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(doc["failures"][0]["key"], KEY);

    let text = render("text").await;
    assert!(text.contains(KEY), "plain text shows the key as it is");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_matrix_is_crossed_with_the_frameworks_asked_for() {
    let b = crate::util::Bucket::new("crosswalk").await;
    b.put("k", &crate::util::data(1, 1000), None).await;
    let agent = crate::util::Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 10\n[sinks.f]\nkind = \"file\"\npath = \"log/ocsf.jsonl\"\n",
    );
    assert_eq!(agent.drill(&[]).await.code, 0);
    let r = agent
        .run(&[
            "report",
            "--format",
            "json",
            "--framework",
            "iso27001-2022,soc2,nist-800-53",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    crate::schemas::assert_valid(&[("report", j.clone())]);
    assert_eq!(
        j["frameworks"],
        serde_json::json!(["iso27001-2022", "soc2", "nist-800-53"])
    );
    let backup = j["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|c| c["iso_2022"] == "8.13")
        .cloned()
        .unwrap_or_default();
    let cw: Vec<&str> = backup["crosswalk"]
        .as_array()
        .expect("crosswalk")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        cw.contains(&"NIST SP 800-53 Rev. 5 CP-9(1)")
            && cw.contains(&"SOC 2 (TSC 2017) A1.3 (partly)"),
        "{cw:?}"
    );
    assert!(
        !cw.iter()
            .any(|c| c.starts_with("DORA") || c.starts_with("BSI")),
        "only the frameworks asked for: {cw:?}"
    );
    // Without --framework: ISO/IEC 27001 only, as before.
    let plain = agent.run(&["report", "--format", "json"]).await;
    let j: serde_json::Value = serde_json::from_str(&plain.stdout).expect("json");
    assert!(j["controls"][0].get("crosswalk").is_none());
    let text = agent.run(&["report", "--framework", "dora,nis2,c5"]).await;
    assert!(text.stdout.contains("also serves: BSI C5:2020 OPS-07 (partly); BSI C5:2020 OPS-08 (partly); DORA (EU) 2022/2554 Art. 12(2) (partly)"), "{}", text.stdout);
    let bad = agent.run(&["report", "--framework", "pci"]).await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("`pci` is not a framework") && bad.stderr.contains("nist-800-53"),
        "{}",
        bad.stderr
    );
    // OCSF records list the mapped requirements.
    assert_eq!(agent.run(&["ship", "--once"]).await.code, 0);
    let ocsf = crate::util::read_jsonl(&agent.path("log/ocsf.jsonl"));
    let verdict = ocsf
        .iter()
        .find(|e| e["class_uid"] == 2003)
        .expect("a verdict");
    let reqs = verdict["compliance"]["requirements"].to_string();
    assert!(
        reqs.contains("NIST SP 800-53 Rev. 5 CP-9(1)")
            && reqs.contains("NIS2 (EU) 2022/2555 Art. 21(2)(c) (partly)"),
        "{reqs}"
    );
}

/// Validates an OSCAL document against the NIST OSCAL 1.0.4
/// assessment-results JSON schema (vendored in tests/fixtures/oscal-1.0.4)
/// with Python's `jsonschema`, and round-trips it through JSON. The schema's
/// `\p{L}`/`\p{N}` patterns are Unicode-property classes Python's `re` lacks;
/// they are translated to their `re` equivalents first, and said so here.
fn validate_oscal(doc: &str) -> Result<(), String> {
    let python = std::env::var("RESTOREPROOF_TEST_PYTHON").expect("RESTOREPROOF_TEST_PYTHON");
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oscal-1.0.4/oscal_assessment-results_schema.json");
    let script = r#"
import json, sys
from jsonschema import Draft7Validator
text = open(sys.argv[1]).read()
text = text.replace("\\\\p{L}", "[^\\\\W\\\\d_]").replace("\\\\p{N}", "\\\\d")
schema = json.loads(text)
doc = json.loads(sys.stdin.read())
errors = sorted(Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
for e in errors[:20]:
    print("/".join(map(str, e.path)) + ": " + e.message)
again = json.loads(json.dumps(doc))
if again != doc:
    print("the document does not round-trip")
sys.exit(1 if errors or again != doc else 0)
"#;
    let mut child = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(doc.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oscal_assessment_results_of_real_drills_on_s3_and_azure_validate_against_the_nist_schema()
{
    let c = crate::azure::Container::new("oscal").await;
    c.put("a.txt", b"azure bytes").await;
    let b = crate::util::Bucket::new("oscal").await;
    b.put("b.txt", &crate::util::data(1, 500), None).await;
    b.put_with_wrong_sha256("bad.txt", &crate::util::data(2, 500))
        .await;
    let agent = crate::util::Agent::from_toml(&format!(
        "{}[sources.s3]\nkind = \"s3\"\nbucket = \"{}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         [drills.az]\nsource = \"az\"\n[drills.s3]\nsource = \"s3\"\n",
        c.source_toml("az"),
        b.name,
        b.proxy.url()
    ));
    assert_eq!(agent.run(&["drill", "az"]).await.code, 0);
    assert_eq!(agent.run(&["drill", "s3"]).await.code, 1);
    let r = agent
        .run(&["report", "--format", "oscal", "--framework", "nist-800-53"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    if let Err(problems) = validate_oscal(&r.stdout) {
        panic!("OSCAL output does not validate:\n{problems}\n{}", r.stdout);
    }
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let ar = &j["assessment-results"];
    assert_eq!(ar["metadata"]["oscal-version"], "1.0.4");
    let plan = ar["import-ap"]["href"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('#')
        .to_owned();
    assert_eq!(
        ar["back-matter"]["resources"][0]["uuid"],
        plan.as_str(),
        "the imported plan is in the document"
    );
    let result = &ar["results"][0];
    let observations = result["observations"].as_array().expect("observations");
    assert!(observations
        .iter()
        .any(|o| o["title"] == "Restore drill az on source az"));
    let s3 = observations
        .iter()
        .find(|o| o["title"] == "Restore drill s3 on source s3")
        .expect("s3 drill");
    assert!(s3["relevant-evidence"][0]["href"]
        .as_str()
        .unwrap_or_default()
        .starts_with("urn:uuid:"));
    let backup = result["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["target"]["target-id"] == "iso27001-2022_8.13")
        .cloned()
        .unwrap_or_default();
    // A mismatch in the period: the backup control is not satisfied.
    assert_eq!(
        backup["target"]["status"]["state"], "not-satisfied",
        "{backup}"
    );
    assert_eq!(
        backup["related-observations"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(backup["remarks"]
        .as_str()
        .unwrap_or_default()
        .contains("CP-9(1)"));
    // The validator is not vacuous: a finding without its target is refused.
    let mut broken = j.clone();
    broken["assessment-results"]["results"][0]["findings"][0]
        .as_object_mut()
        .expect("finding")
        .remove("target");
    let refused = validate_oscal(&broken.to_string()).expect_err("refused");
    assert!(
        refused.contains("'target' is a required property"),
        "{refused}"
    );
}
