//! The packages: `packaging/build` makes a .deb and an .rpm of the binary
//! under test (the release build is the same script without `--binary`),
//! lintian and rpmlint pass them without errors, and the .deb installs into
//! a scratch root with dpkg — maintainer scripts included, through
//! `DPKG_ROOT` — creating the user and directories with the right owners
//! and modes. The .rpm is checked by its file list and by running the binary
//! it carries. Also: the container image definition and the Kubernetes
//! example refer to files and settings that exist.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Builds both packages (linted) once per test process.
fn packages() -> &'static (PathBuf, PathBuf) {
    static BUILT: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let out = tempfile::tempdir().expect("tempdir").keep();
        let printed = run(Command::new(repo().join("packaging/build"))
            .args([
                "--lint",
                // The image has a test of its own (tests/container.rs).
                "--no-image",
                "--binary",
                env!("CARGO_BIN_EXE_restoreproof"),
                "--out",
            ])
            .arg(&out));
        let find = |ext: &str| {
            std::fs::read_dir(&out)
                .expect("out")
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == ext))
                .unwrap_or_else(|| panic!("no .{ext} in {}:\n{printed}", out.display()))
        };
        (find("deb"), find("rpm"))
    })
}

fn id_of(root: &Path, file: &str, name: &str) -> u32 {
    std::fs::read_to_string(root.join(file))
        .expect("passwd/group in the scratch root")
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == name).then(|| f[2].parse().expect("id"))
        })
        .unwrap_or_else(|| panic!("no {name} in {file}"))
}

fn mode_owner(p: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

#[test]
fn the_deb_installs_the_binary_units_config_user_and_directories() {
    let (deb, _) = packages();
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"] {
        std::fs::create_dir_all(r.join(d)).expect("dpkg dirs");
    }
    std::fs::write(r.join("var/lib/dpkg/status"), "").expect("status");
    // The scratch root has no libc6 or libssl3 packages: only the
    // dependency check is forced; the maintainer scripts run for real.
    run(Command::new("dpkg")
        .arg(format!("--root={}", r.display()))
        .args(["--force-script-chrootless", "--force-depends", "-i"])
        .arg(deb));
    let status = run(Command::new("dpkg")
        .arg(format!("--root={}", r.display()))
        .args(["-s", "restoreproof"]));
    assert!(status.contains("Status: install ok installed"), "{status}");
    assert!(
        status.contains("/etc/restoreproof/config.toml"),
        "a conffile:\n{status}"
    );

    let uid = id_of(r, "etc/passwd", "restoreproof");
    let gid = id_of(r, "etc/group", "restoreproof");
    assert_ne!(uid, 0);
    let passwd = std::fs::read_to_string(r.join("etc/passwd")).expect("passwd");
    assert!(
        passwd.contains(":/var/lib/restoreproof:/usr/sbin/nologin"),
        "{passwd}"
    );

    assert_eq!(mode_owner(&r.join("usr/bin/restoreproof")), (0o755, 0, 0));
    for u in [
        "restoreproof.service",
        "restoreproof-drill@.service",
        "restoreproof-drill@.timer",
    ] {
        assert_eq!(
            mode_owner(&r.join("lib/systemd/system").join(u)),
            (0o644, 0, 0),
            "{u}"
        );
    }
    assert_eq!(
        mode_owner(&r.join("usr/lib/sysusers.d/restoreproof.conf")).0,
        0o644
    );
    assert_eq!(
        mode_owner(&r.join("usr/lib/tmpfiles.d/restoreproof.conf")).0,
        0o644
    );
    assert_eq!(
        mode_owner(&r.join("etc/logrotate.d/restoreproof")),
        (0o644, 0, 0)
    );
    assert_eq!(
        mode_owner(&r.join("etc/restoreproof/config.toml")),
        (0o640, 0, gid),
        "the service reads its config and cannot change it"
    );
    for d in ["var/lib/restoreproof", "var/log/restoreproof"] {
        assert_eq!(mode_owner(&r.join(d)), (0o750, uid, gid), "{d}");
    }
    assert!(r.join("usr/share/doc/restoreproof/copyright").exists());
    for example in ["cronjob.yaml", "iam-policy-patch.json", "role-patch.json"] {
        assert!(
            r.join("usr/share/doc/restoreproof/examples")
                .join(example)
                .exists(),
            "{example}"
        );
    }
    // The man page the unit's Documentation= names, and completions.
    let man = r.join("usr/share/man/man1/restoreproof.1.gz");
    let page = run(Command::new("sh").arg("-c").arg(format!(
        "gzip -dc {} | MANWIDTH=80 man -l - 2>/dev/null || gzip -dc {}",
        man.display(),
        man.display()
    )));
    for want in [
        "restoreproof",
        "EXIT STATUS",
        "ENVIRONMENT",
        "NO_COLOR",
        "drill",
    ] {
        assert!(page.contains(want), "{want} not in the man page:\n{page}");
    }
    // Every page the SUBCOMMANDS section names is installed, with examples.
    for sub in [
        "drill",
        "status",
        "report",
        "evidence-verify",
        "validate",
        "collect",
    ] {
        let man = r.join(format!("usr/share/man/man1/restoreproof-{sub}.1.gz"));
        let page = run(Command::new("sh").arg("-c").arg(format!(
            "gzip -dc {} | MANWIDTH=80 man -l - 2>/dev/null || gzip -dc {}",
            man.display(),
            man.display()
        )));
        assert!(
            page.contains("EXAMPLES") && page.contains("SYNOPSIS"),
            "restoreproof-{sub}(1):\n{page}"
        );
    }
    // Each subcommand's --help shows its examples too.
    let help = run(Command::new(env!("CARGO_BIN_EXE_restoreproof")).args(["drill", "--help"]));
    assert!(
        help.contains("Examples:") && help.contains("restoreproof drill nightly-db --plan"),
        "{help}"
    );
    for c in [
        "usr/share/bash-completion/completions/restoreproof",
        "usr/share/zsh/vendor-completions/_restoreproof",
        "usr/share/fish/vendor_completions.d/restoreproof.fish",
    ] {
        let text = std::fs::read_to_string(r.join(c)).unwrap_or_else(|e| panic!("{c}: {e}"));
        assert!(text.contains("drill") && text.contains("validate"), "{c}");
    }

    let bin = r.join("usr/bin/restoreproof");
    let version = run(Command::new(&bin).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("restoreproof {}", env!("CARGO_PKG_VERSION"))
    );
    // The installed config is the example, refused until it is edited
    // (so `systemctl enable --now` cannot start against placeholders)...
    let installed = r.join("etc/restoreproof/config.toml");
    let refused = Command::new(&bin)
        .arg("--config")
        .arg(&installed)
        .arg("validate")
        .output()
        .expect("validate");
    let text = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{text}");
    assert!(
        text.contains("example: this is the example configuration the package installed")
            && text.contains("delete the line `example = true`"),
        "{text}"
    );
    // ... and once the marker is gone, the example itself is sound.
    let edited = std::fs::read_to_string(&installed)
        .expect("config")
        .replace("example = true\n", "");
    restoreproof::config::Config::from_toml(&edited, Path::new("/etc/restoreproof"))
        .unwrap_or_else(|e| panic!("{e:?}"));

    // Removing the package stops the service first: its prerm, run where
    // systemd is (a private /run) with a systemctl that records its calls.
    let fake = tempfile::tempdir().expect("fake bin");
    let calls = fake.path().join("calls");
    std::fs::write(
        fake.path().join("systemctl"),
        format!("#!/bin/sh\necho \"$*\" >> {}\n", calls.display()),
    )
    .expect("fake systemctl");
    run(Command::new("chmod")
        .arg("+x")
        .arg(fake.path().join("systemctl")));
    run(Command::new("unshare")
        .args(["-rm", "sh", "-c"])
        .arg(format!(
        "mount -t tmpfs none /run && mkdir -p /run/systemd/system && PATH={}:$PATH sh {} remove",
        fake.path().display(),
        r.join("var/lib/dpkg/info/restoreproof.prerm").display()
    )));
    let called = std::fs::read_to_string(&calls).expect("systemctl was called");
    assert!(
        called.contains("stop restoreproof.service restoreproof-drill@*.timer"),
        "{called}"
    );

    // Removing the package keeps the ledger and evidence (audit records).
    std::fs::write(r.join("var/lib/restoreproof/ledger.sqlite3"), "x").expect("ledger");
    run(Command::new("dpkg")
        .arg(format!("--root={}", r.display()))
        .args([
            "--force-script-chrootless",
            "--force-depends",
            "--purge",
            "restoreproof",
        ]));
    assert!(!bin.exists());
    assert!(r.join("var/lib/restoreproof/ledger.sqlite3").exists());
}

#[test]
fn the_rpm_carries_the_same_files_with_the_same_modes() {
    let (_, rpm) = packages();
    let list = run(Command::new("rpm").args(["-qplv"]).arg(rpm));
    let line = |path: &str| {
        list.lines()
            .find(|l| l.ends_with(path))
            .unwrap_or_else(|| panic!("{path} not in the rpm:\n{list}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    for (path, mode, owner, group) in [
        ("/usr/bin/restoreproof", "-rwxr-xr-x", "root", "root"),
        (
            "/usr/lib/systemd/system/restoreproof.service",
            "-rw-r--r--",
            "root",
            "root",
        ),
        (
            "/usr/lib/systemd/system/restoreproof-drill@.timer",
            "-rw-r--r--",
            "root",
            "root",
        ),
        (
            "/usr/lib/sysusers.d/restoreproof.conf",
            "-rw-r--r--",
            "root",
            "root",
        ),
        (
            "/etc/restoreproof/config.toml",
            "-rw-r-----",
            "root",
            "restorep",
        ),
        (
            "/var/lib/restoreproof",
            "drwxr-x---",
            "restorep",
            "restorep",
        ),
        (
            "/var/log/restoreproof",
            "drwxr-x---",
            "restorep",
            "restorep",
        ),
    ] {
        let f = line(path);
        assert_eq!((f[0], f[2], f[3]), (mode, owner, group), "{path}");
    }
    let config = run(Command::new("rpm").args(["-qpc"]).arg(rpm));
    assert!(config.contains("/etc/restoreproof/config.toml"), "{config}");
    let scripts = run(Command::new("rpm").args(["-qp", "--scripts"]).arg(rpm));
    assert!(scripts.contains("useradd -r -g restoreproof"), "{scripts}");

    // The binary inside runs.
    let dir = tempfile::tempdir().expect("dir");
    let cpio = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "rpm2cpio '{}' | cpio -idm --quiet ./usr/bin/restoreproof",
            rpm.display()
        ))
        .current_dir(dir.path())
        .status()
        .expect("rpm2cpio");
    assert!(cpio.success());
    let version = run(Command::new(dir.path().join("usr/bin/restoreproof")).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("restoreproof {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_kubernetes_example_is_a_hardened_cronjob_of_a_configured_drill() {
    let python = std::env::var("RESTOREPROOF_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("RESTOREPROOF_TEST_PYTHON is not set: run the suite with `scripts/test`, which installs PyYAML")
    });
    let json = run(Command::new(python)
        .arg("-c")
        .arg("import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))")
        .arg(repo().join("packaging/kubernetes/cronjob.yaml")));
    let docs: Vec<serde_json::Value> = serde_json::from_str(&json).expect("yaml as json");
    let cron = docs
        .iter()
        .find(|d| d["kind"] == "CronJob")
        .expect("a CronJob");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["args"][0], "drill");
    // The drill it runs exists in the example config.
    let drill = c["args"][1].as_str().expect("drill name");
    let example = std::fs::read_to_string(repo().join("config/example.toml")).expect("example");
    assert!(example.contains(&format!("[drills.{drill}]")), "{drill}");
    // The ledger is on a persistent volume (baselines outlive each Job).
    let claim = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
        .expect("a PVC");
    assert!(docs
        .iter()
        .any(|d| d["kind"] == "PersistentVolumeClaim" && d["metadata"]["name"] == claim));
}

/// Every Kubernetes manifest validates offline (kubernetes-validate's
/// bundled schemas, `--strict`: unknown fields fail) for the oldest and
/// newest Kubernetes it supports: the CronJob 1.25-1.37, the sharded
/// Indexed Job 1.29-1.37 (backoffLimitPerIndex, FailIndex).
#[test]
fn every_kubernetes_manifest_validates_strictly_for_its_oldest_and_newest_kubernetes() {
    let python = std::env::var("RESTOREPROOF_TEST_PYTHON")
        .expect("RESTOREPROOF_TEST_PYTHON (scripts/test installs kubernetes-validate)");
    let validate = std::path::Path::new(&python).with_file_name("kubernetes-validate");
    let dir = repo().join("packaging/kubernetes");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("packaging/kubernetes") {
        let path = entry.expect("entry").path();
        // kustomization.yaml is kustomize's, not a Kubernetes object.
        if path.extension().is_none_or(|e| e != "yaml") || path.ends_with("kustomization.yaml") {
            continue;
        }
        seen += 1;
        let oldest = if path.ends_with("sharded-drill.yaml") {
            "1.29.0"
        } else {
            "1.25.0"
        };
        for version in [oldest, "1.37.0"] {
            let out = run(Command::new(&validate)
                .args(["--strict", "-k", version])
                .arg(&path));
            assert!(!out.contains("ERROR"), "{}: {out}", path.display());
        }
    }
    assert!(
        seen >= 5,
        "the CronJob, the sharded Indexed Job, the service, its config and the Secret examples"
    );
    // --strict does catch an unknown field.
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\nsurprise: true\n",
    )
    .expect("write");
    let out = Command::new(&validate)
        .args(["--strict", "-k", "1.37.0"])
        .arg(&bad)
        .output()
        .expect("kubernetes-validate");
    assert!(!out.status.success(), "an unknown field must fail");
}

/// The sharded drill as the Indexed Job runs it: N pods, `--shard N` from
/// JOB_COMPLETION_INDEX, one run id (the Job's name) and `--merge`; a
/// drill with a fixed seed and no rotating coverage in the example config;
/// the AWS Batch array job the same, its definition and submission checked
/// against the Batch API's own model (botocore) offline.
#[test]
fn the_sharded_drill_runs_as_an_indexed_job_and_an_array_job_that_merge() {
    let python = std::env::var("RESTOREPROOF_TEST_PYTHON").expect("RESTOREPROOF_TEST_PYTHON");
    let json = run(Command::new(&python)
        .arg("-c")
        .arg("import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))")
        .arg(repo().join("packaging/kubernetes/sharded-drill.yaml")));
    let docs: Vec<serde_json::Value> = serde_json::from_str(&json).expect("yaml as json");
    let cron = docs
        .iter()
        .find(|d| d["kind"] == "CronJob")
        .expect("a CronJob");
    let job = &cron["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    assert_eq!(job["parallelism"], job["completions"]);
    let args: Vec<&str> = job["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let after = |flag: &str| {
        args.iter()
            .position(|a| *a == flag)
            .and_then(|i| args.get(i + 1))
            .copied()
            .unwrap_or_else(|| panic!("{flag} in {args:?}"))
    };
    assert_eq!(after("--shard"), job["completions"].to_string());
    assert_eq!(after("--run-id"), "$(JOB_NAME)");
    assert!(args.contains(&"--merge") && args.contains(&"--shard-dir"));
    let drill = args[1];
    let example = std::fs::read_to_string(repo().join("config/example.toml")).expect("example");
    let table = example
        .split(&format!("[drills.{drill}]"))
        .nth(1)
        .unwrap_or_else(|| panic!("[drills.{drill}] in config/example.toml"));
    let table = table.split("\n[").next().unwrap_or_default();
    assert!(
        table.contains("seed ="),
        "a sharded drill needs a fixed seed"
    );
    assert!(
        !table.contains("coverage"),
        "no rotating coverage with shards"
    );
    let pod = &job["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert!(docs
        .iter()
        .any(|d| d["kind"] == "PersistentVolumeClaim"
            && d["spec"]["accessModes"][0] == "ReadWriteMany"));

    let out = run(Command::new(&python)
        .arg("-c")
        .arg(
            r#"
import json, sys, botocore.session
from botocore.validate import ParamValidator
model = botocore.session.get_session().get_service_model("batch")
for op, path in [("RegisterJobDefinition", sys.argv[1]), ("SubmitJob", sys.argv[2])]:
    report = ParamValidator().validate(json.load(open(path)), model.operation_model(op).input_shape)
    if report.has_errors():
        sys.exit(f"{path}: {report.generate_report()}")
print("ok")
"#,
        )
        .arg(repo().join("packaging/aws/batch-job-definition.json"))
        .arg(repo().join("packaging/aws/batch-submit-job.json")));
    assert!(out.contains("ok"), "{out}");
    let def: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("packaging/aws/batch-job-definition.json"))
            .expect("def"),
    )
    .expect("json");
    let submit: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("packaging/aws/batch-submit-job.json"))
            .expect("submit"),
    )
    .expect("json");
    assert_eq!(
        submit["parameters"]["shards"],
        submit["arrayProperties"]["size"].to_string(),
        "the array's size is the shard count"
    );
    let cmd: Vec<&str> = def["containerProperties"]["command"]
        .as_array()
        .expect("command")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    assert!(
        cmd.contains(&"--merge") && cmd.contains(&"Ref::shards"),
        "{cmd:?}"
    );
    assert!(
        def["retryStrategy"]["evaluateOnExit"]
            .as_array()
            .expect("evaluateOnExit")
            .iter()
            .any(|r| r["onExitCode"] == "1" && r["action"] == "EXIT"),
        "a shard that recorded failures is not retried into a pass"
    );
}
