//! The container image, built and run with podman (Debian's package; CI
//! installs it, with the containers.conf these sandboxes need through
//! CONTAINERS_CONF): built FROM scratch by `packaging/container/build` from
//! the binary under test, a drill and the service against moto on the host
//! network with a read-only root, no capabilities and no new privileges,
//! state on volumes, the health check, and SIGTERM → a clean stop.

use crate::util::Bucket;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn podman(args: &[&str]) -> std::process::Output {
    Command::new("podman")
        .args(args)
        .output()
        .expect("podman (Debian's package; scripts/test installs it)")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Removes the test's container and image however the test ends.
struct Cleanup {
    container: String,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", &self.container]);
        for i in &self.images {
            let _ = podman(&["rmi", "-f", i]);
        }
    }
}

/// Runs recorded, from the evidence file: opening the ledger from the host
/// as root would create its WAL files as root, which the service (uid
/// 10001) then could not write.
fn run_count(log: &Path) -> usize {
    crate::util::read_jsonl(&log.join("evidence.jsonl"))
        .iter()
        .filter(|e| e["kind"] == "run_summary")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_image_runs_a_drill_and_the_service_read_only_as_a_user() {
    let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let tag = format!("localhost/restoreproof-test-{id}");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().expect("tempdir");
    let built = Command::new(repo.join("packaging/container/build"))
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_restoreproof"),
            "--tag",
            &tag,
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("packaging/container/build");
    assert!(built.status.success(), "{}", text(&built));
    let lines: Vec<String> = String::from_utf8_lossy(&built.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let image = lines[0].clone();
    let _cleanup = Cleanup {
        container: format!("restoreproof-test-{id}"),
        images: vec![image.clone(), format!("{tag}:latest")],
    };
    // The OCI archive packaging/build ships.
    let archive = Path::new(&lines[1]);
    assert!(archive
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with("-oci.tar")));
    let listed = Command::new("tar")
        .arg("tf")
        .arg(archive)
        .output()
        .expect("tar");
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("index.json"),
        "an OCI layout"
    );
    // A non-root user, and nothing in the image but the agent.
    let user = podman(&["image", "inspect", &image, "--format", "{{.Config.User}}"]);
    assert_eq!(String::from_utf8_lossy(&user.stdout).trim(), "10001:10001");
    let shell = podman(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        &image,
        "-c",
        "true",
    ]);
    assert!(
        !shell.status.success(),
        "the image has a shell: {}",
        text(&shell)
    );
    // The placeholder config it ships validates (a real one is mounted over it).
    let placeholder = podman(&["run", "--rm", "--read-only", &image, "validate"]);
    assert!(placeholder.status.success(), "{}", text(&placeholder));

    let bucket = Bucket::new("ctr").await;
    for k in ["a.bin", "b.bin"] {
        bucket
            .put(k, &crate::util::data(k.as_bytes()[0], 4096), None)
            .await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, log) = (dir.path().join("state"), dir.path().join("log"));
    std::fs::create_dir_all(&state).expect("state");
    std::fs::create_dir_all(&log).expect("log");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"/var/lib/restoreproof/ledger.sqlite3\"\n[evidence]\npath = \"/var/log/restoreproof/evidence.jsonl\"\n\
             [daemon]\nheartbeat_interval = \"1s\"\n\
             [sources.src]\nkind = \"s3\"\nbucket = \"{}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
             [drills.d]\nsource = \"src\"\nsample = \"100%\"\nschedule = \"*/3 * * * * *\"\nscratch_dir = \"/var/lib/restoreproof/scratch\"\n",
            bucket.name,
            crate::util::endpoint()
        ),
    )
    .expect("config");
    let volumes = [
        format!("{}:/etc/restoreproof/config.toml:ro", config.display()),
        format!("{}:/var/lib/restoreproof:U", state.display()),
        format!("{}:/var/log/restoreproof:U", log.display()),
    ];
    let mut hardened: Vec<&str> = vec![
        "--network",
        "host",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-e",
        "AWS_ACCESS_KEY_ID=testing",
        "-e",
        "AWS_SECRET_ACCESS_KEY=testing",
        "-e",
        "AWS_EC2_METADATA_DISABLED=true",
    ];
    for v in &volumes {
        hardened.extend(["-v", v.as_str()]);
    }

    // One drill now.
    let mut args = vec!["run", "--rm"];
    args.extend(&hardened);
    args.extend([image.as_str(), "drill", "d", "--json"]);
    let drill = podman(&args);
    assert_eq!(drill.status.code(), Some(0), "{}", text(&drill));
    let doc: Value = serde_json::from_slice(&drill.stdout).expect("drill --json");
    assert_eq!(doc["summary"]["counts"]["verified"], 2, "{doc}");

    // The service, its health check, and a clean stop.
    let name = format!("restoreproof-test-{id}");
    let mut args = vec!["run", "-d", "--name", name.as_str()];
    args.extend(&hardened);
    args.extend([
        "--health-cmd",
        "[\"/usr/bin/restoreproof\",\"status\",\"--heartbeat\"]",
        "--health-interval",
        "0",
        image.as_str(),
    ]);
    let started = podman(&args);
    assert!(started.status.success(), "{}", text(&started));
    // The one-shot drill's run, then one of the service's.
    for _ in 0..120 {
        if run_count(&log) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(
        run_count(&log) >= 2,
        "no scheduled run of the service in the container:\n{}",
        text(&podman(&["logs", &name]))
    );
    let health = podman(&["healthcheck", "run", &name]);
    assert!(health.status.success(), "unhealthy: {}", text(&health));
    let stopped = podman(&["stop", "-t", "30", &name]);
    assert!(stopped.status.success(), "{}", text(&stopped));
    let code = podman(&["inspect", &name, "--format", "{{.State.ExitCode}}"]);
    assert_eq!(
        String::from_utf8_lossy(&code.stdout).trim(),
        "0",
        "{}",
        text(&podman(&["logs", &name]))
    );
    let evidence = crate::util::read_jsonl(&log.join("evidence.jsonl"));
    assert!(
        evidence.iter().any(|e| e["kind"] == "daemon_stopped"),
        "the stop is recorded"
    );
    assert!(
        evidence
            .iter()
            .filter(|e| e["kind"] == "run_summary")
            .count()
            >= 2,
        "the drill and the service's runs are recorded"
    );
    let after = podman(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        &volumes[0],
        "-v",
        &volumes[1],
        &image,
        "status",
        "--heartbeat",
    ]);
    assert_eq!(
        after.status.code(),
        Some(1),
        "a stopped service is not alive: {}",
        text(&after)
    );
}
