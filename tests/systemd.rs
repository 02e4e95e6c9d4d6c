//! The unit files: `systemd-analyze security --offline=true` scores each
//! service at most 1.5 and `systemd-analyze verify` is clean, with no
//! warning at all (a misspelled key or syscall group only warns, and still
//! exits 0). `ExecStart` is pointed at the built binary, which `verify`
//! requires to exist.

use std::path::Path;
use std::process::Command;

const UNITS: &[&str] = &[
    "restoreproof.service",
    "restoreproof-drill@.service",
    "restoreproof-drill@.timer",
];

/// The units in a scratch directory, running the binary under test.
fn units() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    for u in UNITS {
        let text = std::fs::read_to_string(src.join(u)).expect("unit");
        assert!(
            u.ends_with(".timer") || text.contains("/usr/bin/restoreproof"),
            "{u}"
        );
        let text = text.replace("/usr/bin/restoreproof", env!("CARGO_BIN_EXE_restoreproof"));
        std::fs::write(dir.path().join(u), text).expect("write unit");
    }
    dir
}

fn analyze(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .current_dir(dir)
        .output()
        .expect(
            "systemd-analyze (Debian package `systemd`) must be installed; .ci/run installs it",
        );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_service_scores_at_most_1_5_without_a_warning() {
    let dir = units();
    for unit in ["restoreproof.service", "restoreproof-drill@nightly.service"] {
        let (ok, stdout, stderr) = analyze(dir.path(), &["security", "--offline=true", unit]);
        assert!(ok, "{unit}: {stderr}");
        assert!(stderr.trim().is_empty(), "{unit} warns:\n{stderr}");
        let score: f64 = stdout
            .lines()
            .find_map(|l| l.split_once("Overall exposure level for ").map(|(_, r)| r))
            .and_then(|r| r.split(": ").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no score in:\n{stdout}"));
        assert!(score <= 1.5, "{unit} scores {score}:\n{stdout}");
    }
}

#[test]
fn the_units_verify_clean() {
    let dir = units();
    let (ok, stdout, stderr) = analyze(
        dir.path(),
        &[
            "verify",
            "--man=no",
            "./restoreproof.service",
            "./restoreproof-drill@nightly.service",
            "./restoreproof-drill@nightly.timer",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        format!("{stdout}{stderr}").trim(),
        "",
        "verify is not clean"
    );
}

#[test]
fn a_misspelled_key_fails_the_check() {
    // The checks above would catch a typo: prove it once.
    let dir = units();
    let p = dir.path().join("restoreproof.service");
    let text = std::fs::read_to_string(&p).expect("unit");
    std::fs::write(
        &p,
        text.replace("LockPersonality=yes", "LockPersonalty=yes"),
    )
    .expect("write");
    let (_, _, stderr) = analyze(
        dir.path(),
        &["verify", "--man=no", "./restoreproof.service"],
    );
    assert!(stderr.contains("Unknown key 'LockPersonalty'"), "{stderr}");
}
