//! `restoreproof patch` on the test machine itself: its real OS, its real
//! apt state (simulated, nothing changed), judged by policy, recorded as
//! evidence, shipped as OCSF and counted in the report's control matrix.
//! Parsing of apt and dnf outputs (security and other updates, none, held
//! packages, dated advisories, dnf 4 and dnf 5) is unit-tested on fixtures
//! in agent/src/patch; the dnf path runs end to end here with a fixture
//! `dnf` program, as this machine has no dnf.

use crate::util::{read_jsonl, Agent};
use serde_json::Value;

fn apt_security_pending() -> Option<usize> {
    let out = std::process::Command::new("apt-get")
        .args(["-s", "-o", "Debug::NoLocking=1", "dist-upgrade"])
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("Inst ") && l.contains("-security"))
            .count()
    })
}

/// `[patch.policy]` for the real-host tests: the test machine's apt lists
/// are as old as its image (a CI machine that finds everything installed
/// runs no `apt-get update`), so their age is not judged here, except where
/// a test says so.
fn any_lists_age(policy: &str) -> String {
    format!("[patch.policy]\nmax_package_lists_age = \"36500d\"\n{policy}")
}

/// A text field of a finding (empty when absent).
fn field(f: &Value, key: &str) -> String {
    f[key].as_str().unwrap_or_default().to_owned()
}

/// The finding of `check` in `patch --json` output (null when absent).
fn finding(j: &Value, check: &str) -> Value {
    j["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["check"] == check)
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_real_patch_state_is_recorded_judged_and_reported() {
    let Some(security) = apt_security_pending() else {
        panic!("the test machine is Debian: apt-get -s must work here");
    };
    let agent = Agent::from_toml(&format!(
        "[sinks.f]\nkind = \"file\"\npath = \"log/ocsf.jsonl\"\n{}",
        any_lists_age("")
    ));
    let run = agent.run(&["patch", "--json"]).await;
    assert_eq!(
        run.code, 0,
        "the default policy: nothing pending for 14 days yet\n{}\n{}",
        run.stdout, run.stderr
    );
    let j: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(j["schema"], "restoreproof.patch/v1");
    crate::schemas::assert_valid(&[("patch", j.clone())]);
    let os = std::fs::read_to_string("/etc/os-release").expect("os-release");
    let pretty = os
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .unwrap_or_default()
        .trim_matches('"');
    assert_eq!(j["host"]["os"], pretty);
    assert_eq!(j["host"]["package_manager"], "apt");
    assert_eq!(
        j["host"]["pending_security"], security as u64,
        "as apt-get -s counts them"
    );
    assert!(j["host"]["kernel"].as_str().is_some_and(|k| !k.is_empty()));
    let lists = j["host"]["package_lists_updated"]
        .as_str()
        .expect("apt works here, so it has package lists")
        .to_owned();

    // Lists older than the policy allows (every real list is older than a
    // second) fail the security check, whatever is pending: apt cannot see
    // what was published since.
    let fresh_only = Agent::from_toml("[patch.policy]\nmax_package_lists_age = \"1s\"\n");
    let r = fresh_only.run(&["patch", "--json"]).await;
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let jf: Value = serde_json::from_str(&r.stdout).expect("json");
    let f = finding(&jf, "patch.security_updates");
    assert_eq!(f["status"], "fail", "{f}");
    assert!(
        field(&f, "observed").ends_with(&format!("package lists updated {lists}"))
            && field(&f, "reason").contains("so updates published since are not seen"),
        "{f}"
    );
    let periodic = std::process::Command::new("apt-config")
        .args(["dump", "APT::Periodic::Unattended-Upgrade"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let enabled = !periodic.is_empty()
        && !periodic.contains("\"0\"")
        && std::path::Path::new("/usr/bin/unattended-upgrade").exists();
    assert_eq!(j["host"]["automatic_updates"]["enabled"], enabled);

    // A policy that requires automatic security updates fails on a host
    // without them (and passes with them).
    let strict = Agent::from_toml(&any_lists_age("automatic_updates = true\n"));
    let r = strict.run(&["patch"]).await;
    assert_eq!(r.code, if enabled { 0 } else { 1 }, "{}", r.stdout);
    if !enabled {
        assert!(
            r.stdout.contains("FAIL") && r.stdout.contains("patch.automatic_updates"),
            "{}",
            r.stdout
        );
    }

    // Findings are evidence: in the chain, shipped as OCSF Compliance
    // Findings naming A.12.6.1 / 8.8, and in the control matrix.
    let findings: Vec<Value> = agent
        .evidence()
        .into_iter()
        .filter(|e| {
            e["kind"] == "posture_finding"
                && e["check"].as_str().is_some_and(|c| c.starts_with("patch."))
        })
        .collect();
    assert_eq!(findings.len(), 3, "{findings:#?}");
    assert!(findings
        .iter()
        .all(|f| f["controls"][0]["iso_2022"] == "8.8"));
    assert_eq!(agent.run(&["evidence", "verify"]).await.code, 0);
    assert_eq!(agent.run(&["ship", "--once"]).await.code, 0);
    let ocsf = read_jsonl(&agent.path("log/ocsf.jsonl"));
    let patch: Vec<&Value> = ocsf
        .iter()
        .filter(|e| {
            e["compliance"]["control"]
                .as_str()
                .is_some_and(|c| c.starts_with("patch."))
        })
        .collect();
    assert_eq!(patch.len(), 3);
    assert!(patch[0]["compliance"]["requirements"]
        .to_string()
        .contains("ISO/IEC 27001:2013 A.12.6.1 / 2022 8.8"));
    crate::util::assert_ocsf_conforms(&findings);
    let report = agent.run(&["report", "--format", "json"]).await;
    let r: Value = serde_json::from_str(&report.stdout).expect("report");
    let row = r["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|c| c["iso_2022"] == "8.8")
        .cloned()
        .unwrap_or_default();
    assert_ne!(row["status"], "no_evidence", "{row}");
    assert!(field(&row, "explanation").contains("patch.security_updates"));

    // `status` and the metrics show the latest check (this agent's ledger
    // holds one; a second check replaces it, not adds to it).
    assert_eq!(agent.run(&["patch"]).await.code, 0);
    let status = agent.run(&["status", "--json"]).await;
    let st: Value = serde_json::from_str(&status.stdout).expect("status");
    crate::schemas::assert_valid(&[("status", st.clone())]);
    let checks: Vec<&str> = st["patch"]["findings"]
        .as_array()
        .expect("patch in status")
        .iter()
        .filter_map(|f| f["check"].as_str())
        .collect();
    assert_eq!(
        checks,
        [
            "patch.security_updates",
            "patch.automatic_updates",
            "patch.reboot"
        ]
    );
    assert_eq!(st["patch"]["compliant"], true, "{}", st["patch"]);
    let text = agent.run(&["status"]).await.stdout;
    assert!(
        text.contains("patch: checked ") && text.contains("all 3 check(s) pass"),
        "{text}"
    );
    let metrics = agent.run(&["status", "--prometheus"]).await.stdout;
    assert!(
        metrics.contains("restoreproof_patch_check_passing{check=\"patch.security_updates\"} 1")
            && metrics.contains("restoreproof_patch_last_check_timestamp_seconds "),
        "{metrics}"
    );
    let strict_status = strict.run(&["status"]).await.stdout;
    if !enabled {
        assert!(
            strict_status.contains("1 of 3 check(s) not passing: patch.automatic_updates FAIL"),
            "{strict_status}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_responses_the_cloud_view_of_systems_manager_sits_beside_the_hosts() {
    use restoreproof_testkit::aws_docs::AwsDocs;
    let docs = AwsDocs::start(3, 0).await.expect("responder");
    let agent = Agent::from_toml(&format!(
        "[patch]\ncloud = \"aws\"\naws_imds_endpoint = \"{0}\"\naws_ssm_endpoint = \"{0}\"\n",
        docs.url()
    ));
    let run = |agent: &Agent| {
        let mut c = agent.command(&["patch", "--json"]);
        c.env_remove("AWS_EC2_METADATA_DISABLED");
        async move { crate::util::Run::from(c.output().await.expect("patch")) }
    };
    let r = run(&agent).await;
    let j: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    let cloud = finding(&j, "patch.cloud");
    assert_eq!(cloud["status"], "fail", "{cloud}");
    assert!(field(&cloud, "observed").contains("Systems Manager (i-0123456789abcdef0 in eu-central-1, baseline pb-0c10e65780EXAMPLE): 3 missing, 0 failed"), "{cloud}");
    let host_pending = j["host"]["pending_security"].as_u64().unwrap_or(0);
    let agreement = finding(&j, "patch.agreement");
    assert_eq!(
        agreement["status"],
        if host_pending > 0 { "pass" } else { "fail" },
        "{agreement}"
    );
    assert_eq!(r.code, 1, "a cloud that reports missing patches fails");
    // IMDSv2: a token first, then the instance and its region.
    let requests = docs.requests();
    assert!(
        requests[0].starts_with("PUT /latest/api/token"),
        "{requests:?}"
    );
    assert!(requests
        .iter()
        .any(|q| q.ends_with("AmazonSSM.DescribeInstancePatchStates")));

    // A denied call is `unknown` with the permission to grant.
    docs.deny(true);
    let r = run(&agent).await;
    let j: Value = serde_json::from_str(&r.stdout).expect("json");
    let cloud = finding(&j, "patch.cloud");
    assert_eq!(cloud["status"], "unknown", "{cloud}");
    assert!(
        field(&cloud, "reason").contains("grant it to the instance's role"),
        "{cloud}"
    );
    assert!(field(&cloud, "reason").contains("ssm:DescribeInstancePatchStates"));
    assert_eq!(r.code, 2, "could not check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_responses_azure_update_managers_view_sits_beside_the_hosts() {
    use restoreproof_testkit::azure_mgmt::{AzureMgmt, MgmtState, IDENTITY_HEADER, VM};
    let docs = AzureMgmt::start(MgmtState {
        patch_mode: Some("AutomaticByPlatform"),
        assessment: Some(("Succeeded", 2, 1, 5)),
        deny_vm: false,
        deny_graph: false,
    })
    .await
    .expect("responder");
    let config = |extra: &str| {
        format!(
            "[patch]\ncloud = \"azure\"\nazure_imds_endpoint = \"{0}\"\nazure_management_endpoint = \"{0}\"\n{extra}\n[sinks.f]\nkind = \"file\"\npath = \"log/ocsf.jsonl\"\n",
            docs.url()
        )
    };
    let agent = Agent::from_toml(&config(""));
    // The managed identity answers as App Service's identity endpoint does
    // (azure_identity picks it from these variables; on a VM it asks IMDS).
    let run = |agent: &Agent| {
        let mut c = agent.command(&["patch", "--json"]);
        c.env("IDENTITY_ENDPOINT", docs.identity_endpoint())
            .env("IDENTITY_HEADER", IDENTITY_HEADER);
        async move {
            let r = crate::util::Run::from(c.output().await.expect("patch"));
            let j: Value = serde_json::from_str(&r.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
            crate::schemas::assert_valid(&[("patch", j.clone())]);
            (r.code, j)
        }
    };
    // Three security/critical updates available: the cloud's view fails.
    let (code, j) = run(&agent).await;
    let cloud = finding(&j, "patch.cloud");
    assert_eq!(cloud["status"], "fail", "{cloud}");
    assert!(
        field(&cloud, "observed").contains(
            "Azure Update Manager (backup-vm-01): 3 security/critical and 5 other update(s) available; assessed 2026-12-05T04:12:09.8321451Z (Succeeded)"
        ),
        "{cloud}"
    );
    assert_eq!(j["host"]["cloud"]["azure"]["vm"], VM);
    assert_eq!(
        j["host"]["cloud"]["azure"]["assessment"]["patch_service"],
        "APT"
    );
    let mode = finding(&j, "patch.cloud_patch_mode");
    assert_eq!(mode["status"], "pass", "{mode}");
    assert!(field(&mode, "observed")
        .starts_with("patchMode AutomaticByPlatform (Azure installs updates"));
    let host_pending = j["host"]["pending_security"].as_u64().unwrap_or(0);
    let agreement = finding(&j, "patch.agreement");
    assert_eq!(
        agreement["status"],
        if host_pending > 0 { "pass" } else { "fail" },
        "{agreement}"
    );
    assert_eq!(code, 1, "a cloud that sees security updates fails");
    // IMDS with its header, a token for Resource Manager, the VM, then one
    // Resource Graph query for this VM's assessment summary.
    let requests = docs.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert_eq!(requests[0], "GET /metadata/instance/compute");
    assert_eq!(requests[1], "GET /msi/token");
    assert_eq!(requests[2], format!("GET {VM}"));
    assert!(
        requests[3].starts_with(
            "POST /providers/Microsoft.ResourceGraph/resources patchassessmentresources"
        ),
        "{}",
        requests[3]
    );

    // Nothing security-relevant pending, the image's default patch mode,
    // and a policy that requires automatic updates.
    docs.set(|s| {
        s.assessment = Some(("Succeeded", 0, 0, 4));
        s.patch_mode = None;
    });
    let strict = Agent::from_toml(&config("[patch.policy]\nautomatic_updates = true\n"));
    let (_, j) = run(&strict).await;
    assert_eq!(finding(&j, "patch.cloud")["status"], "pass");
    let mode = finding(&j, "patch.cloud_patch_mode");
    let host_automatic = j["host"]["automatic_updates"]["enabled"] == true;
    assert_eq!(
        mode["status"],
        if host_automatic { "pass" } else { "fail" },
        "ImageDefault patches automatically only through the host's own tool: {mode}"
    );
    assert!(
        field(&mode, "observed").starts_with("patchMode ImageDefault"),
        "{mode}"
    );
    assert_eq!(
        finding(&j, "patch.agreement")["status"],
        if host_pending == 0 { "pass" } else { "fail" }
    );

    // An assessment that failed says nothing about the VM: unknown.
    docs.set(|s| s.assessment = Some(("Failed", 0, 0, 0)));
    let (code, j) = run(&agent).await;
    let cloud = finding(&j, "patch.cloud");
    assert_eq!(cloud["status"], "unknown", "{cloud}");
    assert!(
        field(&cloud, "reason")
            .contains("did not complete (status Failed): Failed to assess the machine"),
        "{cloud}"
    );
    assert!(j["findings"]
        .as_array()
        .is_some_and(|f| f.iter().all(|f| f["check"] != "patch.agreement")));
    assert_eq!(code, 2);

    // No assessment in the last 7 days: unknown, with what to turn on.
    docs.set(|s| s.assessment = None);
    let (_, j) = run(&agent).await;
    let cloud = finding(&j, "patch.cloud");
    assert_eq!(cloud["status"], "unknown");
    assert!(
        field(&cloud, "reason")
            .contains("turn on periodic assessment (assessmentMode AutomaticByPlatform)"),
        "{cloud}"
    );

    // Denied calls are unknown with the permission to grant.
    docs.set(|s| {
        s.assessment = Some(("Succeeded", 0, 0, 0));
        s.deny_vm = true;
        s.deny_graph = true;
    });
    let (code, j) = run(&agent).await;
    let mode = finding(&j, "patch.cloud_patch_mode");
    assert_eq!(mode["status"], "unknown", "{mode}");
    assert!(field(&mode, "reason").contains("Resource Manager refused Microsoft.Compute/virtualMachines/read: grant it to the VM's managed identity (packaging/azure/role-patch.json)"), "{mode}");
    let cloud = finding(&j, "patch.cloud");
    assert_eq!(cloud["status"], "unknown");
    assert!(
        field(&cloud, "reason")
            .contains("Azure Resource Graph refused Microsoft.ResourceGraph/resources/read"),
        "{cloud}"
    );
    assert_eq!(code, 2, "could not check");

    // No identity at all (not an Azure VM's managed identity): unknown,
    // and the findings are evidence like the rest, shipped as OCSF.
    let mut c = agent.command(&["patch", "--json"]);
    c.env("IDENTITY_ENDPOINT", format!("{}/msi/token", docs.url()))
        .env("IDENTITY_HEADER", "wrong");
    let r = crate::util::Run::from(c.output().await.expect("patch"));
    let j: Value = serde_json::from_str(&r.stdout).expect("json");
    let cloud = finding(&j, "patch.cloud");
    assert_eq!(cloud["status"], "unknown");
    assert!(
        field(&cloud, "reason")
            .contains("the managed identity gave no token for Azure Resource Manager"),
        "{cloud}"
    );
    assert!(
        !r.stdout.contains("documented.token") && !r.stderr.contains("documented.token"),
        "no token in the output"
    );
    let findings: Vec<Value> = agent
        .evidence()
        .into_iter()
        .filter(|e| {
            e["kind"] == "posture_finding"
                && e["check"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("patch.cloud"))
        })
        .collect();
    assert!(findings.len() >= 8, "{findings:#?}");
    crate::util::assert_ocsf_conforms(&findings);
    assert_eq!(agent.run(&["ship", "--once"]).await.code, 0);
    assert_eq!(agent.run(&["evidence", "verify"]).await.code, 0);
}

#[test]
fn the_least_privilege_azure_role_grants_what_the_agent_names() {
    use restoreproof::patch::azure;
    let role: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/packaging/azure/role-patch.json"
        ))
        .expect("role"),
    )
    .expect("json");
    let actions: Vec<&str> = role["Actions"]
        .as_array()
        .expect("Actions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut expected = vec![azure::VM_READ, azure::ASSESSMENT_READ, azure::GRAPH_READ];
    expected.sort_unstable();
    let mut got = actions.clone();
    got.sort_unstable();
    assert_eq!(
        got, expected,
        "exactly the read permissions the agent names"
    );
    assert!(role["DataActions"].as_array().is_some_and(Vec::is_empty));
    assert!(role["NotActions"].as_array().is_some_and(Vec::is_empty));
}

/// The machine's real apt, pointed (through `APT_CONFIG`, which apt reads)
/// at a corrupted dpkg status file: the check is `unknown` with apt's own
/// error, never compliant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_package_database_is_unknown_with_apts_own_error() {
    let agent = Agent::from_toml("");
    let broken = agent.path("dpkg-status");
    std::fs::write(
        &broken,
        b"Package: bash\nStatus: install ok installed\nVersion 5.2\n\x00\x01garbage\nPackage\n",
    )
    .expect("status");
    let conf = agent.path("apt.conf");
    std::fs::write(
        &conf,
        format!("Dir::State::status \"{}\";\n", broken.display()),
    )
    .expect("apt.conf");
    let mut c = agent.command(&["patch", "--json"]);
    c.env("APT_CONFIG", &conf);
    let r = crate::util::Run::from(c.output().await.expect("patch"));
    assert_eq!(r.code, 2, "could not check\n{}\n{}", r.stdout, r.stderr);
    let j: Value = serde_json::from_str(&r.stdout).expect("json");
    let f = &j["findings"][0];
    assert_eq!(f["check"], "patch.security_updates");
    assert_eq!(f["status"], "unknown", "{f}");
    let reason = field(f, "reason");
    assert!(
        reason.contains("apt-get -s -o Debug::NoLocking=1 dist-upgrade failed")
            && reason.contains("Unable to parse package file"),
        "{reason}"
    );
    assert_eq!(j["compliant"], false);
}

/// The service records the patch state on `[patch] schedule` (nothing else
/// scheduled) and writes it to its metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_records_the_patch_state_on_its_schedule() {
    let agent = Agent::from_toml(
        &format!("[patch]\nschedule = \"*/2 * * * * *\"\n[daemon]\nheartbeat_interval = \"1s\"\nmetrics_file = \"metrics/restoreproof.prom\"\n{}", any_lists_age("")),
    );
    std::fs::create_dir_all(agent.path("metrics")).expect("metrics dir");
    let mut child = agent.spawn_service();
    let checks = || {
        agent
            .evidence()
            .iter()
            .filter(|e| e["kind"] == "posture_finding" && e["check"] == "patch.security_updates")
            .count()
    };
    crate::util::wait_for("two scheduled patch checks", 30, || checks() >= 2).await;
    let metrics = agent.path("metrics/restoreproof.prom");
    crate::util::wait_for("the patch check in the metrics", 10, || {
        std::fs::read_to_string(&metrics).is_ok_and(|m| {
            m.contains("restoreproof_patch_check_passing{check=\"patch.security_updates\"} 1")
        })
    })
    .await;
    crate::daemon::signal(&child, "TERM");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait()).await;
    assert_eq!(agent.run(&["evidence", "verify"]).await.code, 0);
}

/// The dnf path end to end. This Debian machine has no dnf, so a fixture
/// program named `dnf` (a shell script printing dnf 5's documented output
/// for the commands the agent runs, and exiting as dnf does) stands in for
/// it, on a PATH without apt: one security advisory older than the
/// policy's 14 days, one from today, two other updates (`check-update`
/// exits 100 when updates are pending). A failing `check-update` (a repo
/// that cannot be reached) makes the check `unknown`, never compliant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_dnf_security_advisories_and_other_updates_are_judged_by_age() {
    use std::os::unix::fs::PermissionsExt;
    let agent = Agent::from_toml("");
    let bin = agent.path("fixture-bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let script = |check_update_exit: u8| {
        format!(
            "#!/bin/sh\n\
             case \"$*\" in\n\
             *'updateinfo list'*)\n\
               echo 'Name                    Type     Severity  Package                             Issued'\n\
               echo 'FEDORA-2026-1a2b3c4d5e  security Important openssl-libs-1:3.2.4-1.fc43.x86_64  2026-10-01 01:02:03'\n\
               echo 'FEDORA-2026-9f8e7d6c5b  security Moderate  curl-8.11.1-3.fc43.x86_64           {today} 10:00:00' ;;\n\
             *check-update*)\n\
               [ {check_update_exit} = 1 ] && {{ echo 'Error: Failed to download metadata for repo updates' >&2; exit 1; }}\n\
               echo 'openssl-libs.x86_64   1:3.2.4-1.fc43   updates'\n\
               echo 'curl.x86_64           8.11.1-3.fc43    updates'\n\
               echo 'tzdata.noarch         2026b-1.fc43     updates'\n\
               echo 'vim-minimal.x86_64    2:9.1.866-1.fc43 updates'\n\
               exit {check_update_exit} ;;\n\
             *) echo \"unexpected: dnf $*\" >&2; exit 2 ;;\n\
             esac\n"
        )
    };
    let write = |exit: u8| {
        let dnf = bin.join("dnf");
        std::fs::write(&dnf, script(exit)).expect("dnf");
        std::fs::set_permissions(&dnf, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    write(100);
    let run = || async {
        let mut c = agent.command(&["patch", "--json"]);
        c.env("PATH", &bin);
        let r = crate::util::Run::from(c.output().await.expect("patch"));
        let j: Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
        (r, j)
    };
    let (r, j) = run().await;
    assert_eq!(r.code, 1, "not compliant\n{}\n{}", r.stdout, r.stderr);
    let host = &j["host"];
    crate::schemas::assert_valid(&[("patch", j.clone())]);
    assert_eq!(host["package_manager"], "dnf", "{host}");
    assert_eq!(
        host["package_lists_updated"],
        Value::Null,
        "dnf fetches its own"
    );
    assert_eq!(host["pending_security"], 2, "{host}");
    assert_eq!(
        host["pending_other"], 2,
        "openssl and curl counted once: {host}"
    );
    assert_eq!(host["pending"][0]["severity"], "Important");
    assert_eq!(host["pending"][0]["released"], "2026-10-01");
    let f = finding(&j, "patch.security_updates");
    assert_eq!(f["status"], "fail", "{f}");
    let reason = field(&f, "reason");
    assert!(
        reason.contains("openssl-libs") && !reason.contains("curl"),
        "only the advisory older than 14 days fails: {reason}"
    );

    write(1);
    let (r, j) = run().await;
    assert_eq!(r.code, 2, "could not check\n{}\n{}", r.stdout, r.stderr);
    let f = finding(&j, "patch.security_updates");
    assert_eq!(f["status"], "unknown", "{f}");
    assert!(
        field(&f, "reason").contains("Failed to download metadata"),
        "{f}"
    );
}
