//! `restoreproof evidence keygen` and `restoreproof evidence verify`.

use super::{EXIT_FAILED, EXIT_OK};
use crate::cli::{Cli, EvidenceCommand, KeygenArgs, VerifyArgs};
use crate::config::{Config, SecretSource};
use crate::evidence::chain::{
    check_against, verify_lines, write_private, ChainReport, Checkpoint, Finding, Line, NoteKey,
    NoteVerifier,
};
use crate::evidence::record::{Body, Record};
use crate::ledger::Ledger;
use anyhow::{anyhow, Context};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs an `evidence` subcommand.
///
/// # Errors
/// What kept it from running (exit 2).
pub async fn run(cli: &Cli, cmd: &EvidenceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EvidenceCommand::Keygen(a) => keygen(cli, a),
        EvidenceCommand::Verify(a) => verify(cli, a).await,
        EvidenceCommand::Attest(a) => attest(cli, a),
        EvidenceCommand::Prove(a) => prove(cli, a),
    }
}

/// `evidence prove`: the inclusion proof of one batched sample.
fn prove(cli: &Cli, a: &crate::cli::ProveArgs) -> anyhow::Result<ExitCode> {
    let c = Config::load(&cli.config)?;
    let ledger = Ledger::open_read_only(&c.ledger_path)?;
    let proof = ledger
        .prove(&a.event_id)
        .map_err(|e| anyhow!("cannot prove {}: {e}", a.event_id))?
        .ok_or_else(|| {
            anyhow!(
                "no verified sample recorded in a batch has the id {} in {}: a verdict recorded as an event of its own is its own evidence (find it in the evidence file); check the id",
                a.event_id,
                c.ledger_path.display()
            )
        })?;
    let text = serde_json::to_string_pretty(&proof)? + "\n";
    match &a.output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// `evidence verify --proof FILE`: one inclusion proof, checked alone.
fn verify_proof(a: &VerifyArgs, path: &Path) -> anyhow::Result<ExitCode> {
    let key = public_key(a)?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let proof: crate::evidence::batch::Proof = serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{} is not an inclusion proof ({e}); make one with `restoreproof evidence prove EVENT_ID`",
            path.display()
        )
    })?;
    let checked = proof.check(key.as_ref());
    let intact = checked
        .as_ref()
        .is_ok_and(|p| p.signed_by_key != Some(false));
    if a.json {
        let doc = match &checked {
            Ok(p) => serde_json::json!({ "intact": intact, "proven": p }),
            Err(e) => serde_json::json!({ "intact": false, "problem": e }),
        };
        super::out::json_doc(super::out::schema::PROOF_CHECK, &doc);
    } else {
        match &checked {
            Ok(p) => {
                println!(
                    "Proven: sample {} ({} version {}, SHA-256 {}) is leaf of batch {} (root {}) in run {}, covered by the checkpoint of event {} ({}).",
                    p.event_id,
                    p.key,
                    p.version_id,
                    p.sha256,
                    p.batch_seq,
                    p.root,
                    p.run_id.as_deref().unwrap_or("?"),
                    p.checkpoint_size,
                    match p.signed_by_key {
                        Some(true) => "signed by the key given",
                        Some(false) => "NOT signed by the key given",
                        None => "signature not checked: give --public-key",
                    }
                );
            }
            Err(e) => println!("Not proven: {e}"),
        }
    }
    Ok(ExitCode::from(if intact { EXIT_OK } else { EXIT_FAILED }))
}

/// `evidence attest`: one signed in-toto statement per finished run.
fn attest(cli: &Cli, a: &crate::cli::AttestArgs) -> anyhow::Result<ExitCode> {
    use crate::evidence::attest::{envelope, statement, Line as AttestLine};
    let config = Config::load(&cli.config)?;
    if let SecretSource::File(p) = &config.signing_key {
        if !p.exists() {
            return Err(anyhow!(
                "no evidence signing key at {}: run a drill (which creates it) or `restoreproof evidence keygen` first",
                p.display()
            ));
        }
    }
    let key = crate::evidence::chain::load_signer(&config.signing_key)
        .map_err(|e| anyhow!("{e}; set evidence.signing_key or evidence.signing_key_credential"))?;
    if !config.ledger_path.exists() {
        return Err(anyhow!(
            "no ledger at {}: no drill has run with this configuration yet",
            config.ledger_path.display()
        ));
    }
    let ledger = Ledger::open_read_only(&config.ledger_path)?;
    let since = chrono::Utc::now()
        - chrono::Duration::from_std(
            a.since
                .map_or(std::time::Duration::from_secs(30 * 86_400), |s| s.0),
        )
        .unwrap_or_default();
    let since = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let runs: Vec<_> = ledger
        .runs_since(if a.run.is_some() { "" } else { &since })?
        .into_iter()
        .filter(|r| r.status != "running" && r.status != "waiting")
        .filter(|r| a.run.as_deref().is_none_or(|id| r.run_id == id))
        .collect();
    if let (Some(id), true) = (&a.run, runs.is_empty()) {
        return Err(anyhow!(
            "no finished run {id} in the ledger; `restoreproof status` lists the drills' last runs"
        ));
    }
    let mut out = String::new();
    for r in &runs {
        let lines: Vec<AttestLine> = ledger
            .events_of_run(&r.run_id)?
            .into_iter()
            .map(|(seq, text)| AttestLine { seq, text })
            .collect();
        // The run's summary as the hash chain holds it (its run_summary
        // event), not the ledger row that reports read for speed.
        let summary = lines
            .iter()
            .find_map(|l| match Record::parse(&l.text).body {
                Body::RunSummary(s) => Some(*s),
                _ => None,
            })
            .or_else(|| r.summary.clone());
        let env = envelope(
            &statement(&r.run_id, &r.drill, summary.as_ref(), &lines),
            &key,
        );
        out.push_str(&env.to_string());
        out.push('\n');
    }
    match &a.output {
        // Whole or not at all: a temporary file beside it, fsynced, then
        // renamed over it, so a kill mid-write never leaves half a file.
        Some(path) => {
            let mut tmp = path.clone().into_os_string();
            tmp.push(".tmp");
            let tmp = std::path::PathBuf::from(tmp);
            let written = (|| {
                use std::io::Write as _;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(out.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, path)
            })();
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(anyhow!("cannot write {}: {e}", path.display()));
            }
        }
        None => super::out::write(&out),
    }
    // The public key as keygen and `evidence verify --public-key` write it.
    eprintln!(
        "{} attestation(s) signed with key {} (public key {})",
        runs.len(),
        key.fingerprint(),
        key.vkey()
    );
    Ok(ExitCode::from(EXIT_OK))
}

fn keygen(cli: &Cli, a: &KeygenArgs) -> anyhow::Result<ExitCode> {
    let out = match &a.out {
        Some(p) => p.clone(),
        None => match Config::load(&cli.config)?.signing_key {
            SecretSource::File(p) => p,
            _ => {
                return Err(anyhow!(
                    "the config takes the signing key from a systemd credential; give --out PATH for the new key file"
                ))
            }
        },
    };
    if out.exists() {
        return Err(anyhow!(
            "{} exists; a new key would make its checkpoints unverifiable with the published public key. Remove it first if you mean to replace the key",
            out.display()
        ));
    }
    let name = a.name.clone().unwrap_or_else(|| {
        format!(
            "restoreproof-{}",
            crate::evidence::AgentInfo::current().host
        )
    });
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(anyhow!("--name must be non-empty, without `+` or spaces"));
    }
    let key = NoteKey::generate(&name);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(&out, &key.to_skey()).map_err(|e| anyhow!(e))?;
    eprintln!(
        "Wrote the private key to {} (mode 0600). Keep the public key below off this host (e.g. with your SIEM) and verify with `restoreproof evidence verify --public-key KEY`:",
        out.display()
    );
    crate::outln!("{}", key.vkey());
    Ok(ExitCode::from(EXIT_OK))
}

/// Lines of an evidence file (`.gz` decompressed), and its first `seq`.
fn read_file(path: &Path) -> anyhow::Result<(u64, Vec<Line>)> {
    let mut raw = Vec::new();
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(f)
            .read_to_end(&mut raw)
            .with_context(|| format!("cannot decompress {}", path.display()))?;
    } else {
        std::io::BufReader::new(f)
            .read_to_end(&mut raw)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    if let Some(why) = not_evidence(&raw) {
        return Err(anyhow!(
            "{} is not an evidence file ({why}); give the JSON Lines evidence file (and --ledger for the ledger)",
            path.display()
        ));
    }
    let text = String::from_utf8_lossy(&raw);
    let torn_tail = !text.is_empty() && !text.ends_with('\n');
    let all: Vec<&str> = text.lines().collect();
    let n = all.len();
    let lines: Vec<Line> = all
        .into_iter()
        .enumerate()
        .map(|(i, t)| Line {
            location: format!("{}:{}", path.display(), i + 1),
            text: t.to_owned(),
            first_in_file: i == 0,
            torn: torn_tail && i + 1 == n,
        })
        .collect();
    let first = lines
        .first()
        .map(|l| Record::parse(&l.text))
        .filter(|r| r.seq > 0)
        .map_or(u64::MAX, |r| r.seq);
    Ok((first, lines))
}

/// Why `raw` is no evidence file at all (as opposed to evidence with
/// problems), or `None`.
fn not_evidence(raw: &[u8]) -> Option<&'static str> {
    let head = &raw[..raw.len().min(4096)];
    if head.starts_with(b"SQLite format 3") {
        return Some("it is an SQLite database");
    }
    if head.contains(&0) {
        return Some("it holds binary data");
    }
    let first = raw.split(|b| *b == b'\n').find(|l| !l.is_empty())?;
    (!first.starts_with(b"{")).then_some("its first line is not an evidence record")
}

/// The evidence file and its rotated copies (`path.1`, `path.2.gz` ...).
fn with_rotations(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_owned()];
    for n in 1..1000 {
        let plain = PathBuf::from(format!("{}.{n}", path.display()));
        let gz = PathBuf::from(format!("{}.{n}.gz", path.display()));
        if plain.exists() {
            out.push(plain);
        } else if gz.exists() {
            out.push(gz);
        } else {
            break;
        }
    }
    out
}

/// What was checked (the files, the ledger) and its report.
type Checked = Vec<(String, ChainReport)>;

async fn verify(cli: &Cli, a: &VerifyArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = &a.proof {
        return verify_proof(a, p);
    }
    let key = public_key(a)?;
    let (files, ledger_path) = if a.files.is_empty() {
        let c = Config::load(&cli.config)?;
        (with_rotations(&c.evidence_path), Some(c.ledger_path))
    } else if a.ledger {
        (
            a.files.clone(),
            Some(Config::load(&cli.config)?.ledger_path),
        )
    } else {
        (a.files.clone(), None)
    };
    let mut reports: Checked = vec![verify_files(&files, key.as_ref())?];
    if let Some(p) = ledger_path {
        let ledger_report = verify_ledger(&p, &mut reports[0], key.as_ref())?;
        reports.push(ledger_report);
    }
    let anchored = if a.anchor {
        Some(verify_anchored(cli, &mut reports, key.as_ref()).await?)
    } else {
        None
    };
    for (_, r) in &mut reports {
        r.hashes.clear();
    }
    if let Some(note_path) = &a.checkpoint {
        let note = std::fs::read_to_string(note_path)
            .with_context(|| format!("cannot read {}", note_path.display()))?;
        let c = Checkpoint::parse(&note).map_err(|e| anyhow!("{}: {e}", note_path.display()))?;
        for (_, r) in &mut reports {
            check_against(r, &c, key.as_ref(), &note_path.display().to_string());
        }
    }
    let intact = reports.iter().all(|(_, r)| r.intact());
    if a.json {
        let doc: Vec<_> = reports
            .iter()
            .map(|(what, r)| serde_json::json!({ "what": what, "intact": r.intact(), "report": r }))
            .collect();
        super::out::json_doc(
            super::out::schema::VERIFY,
            &serde_json::json!({ "intact": intact, "checked": doc, "anchored_checkpoints": anchored }),
        );
    } else {
        for (what, r) in &reports {
            print_verified(what, r, key.as_ref());
        }
    }
    Ok(ExitCode::from(if intact { EXIT_OK } else { EXIT_FAILED }))
}

/// `--public-key` or `--public-key-file`, when given.
fn public_key(a: &VerifyArgs) -> anyhow::Result<Option<NoteVerifier>> {
    Ok(match (&a.public_key, &a.public_key_file) {
        (Some(k), _) => Some(NoteVerifier::parse(k).map_err(|e| anyhow!("--public-key: {e}"))?),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            Some(NoteVerifier::parse(&text).map_err(|e| anyhow!("{}: {e}", f.display()))?)
        }
        (None, None) => None,
    })
}

/// The evidence files as one chain, in the order of their first events.
fn verify_files(
    files: &[PathBuf],
    key: Option<&NoteVerifier>,
) -> anyhow::Result<(String, ChainReport)> {
    let mut sorted = Vec::new();
    for f in files {
        sorted.push(read_file(f)?);
    }
    sorted.sort_by_key(|(first, _)| *first);
    let report = verify_lines(sorted.into_iter().flat_map(|(_, l)| l), None, key);
    let label = if files.len() == 1 {
        files[0].display().to_string()
    } else {
        format!("{} files", files.len())
    };
    Ok((label, report))
}

/// The ledger's chain; and the files against it: they must hold what the
/// ledger holds, unchanged and not cut short.
fn verify_ledger(
    p: &Path,
    files: &mut (String, ChainReport),
    key: Option<&NoteVerifier>,
) -> anyhow::Result<(String, ChainReport)> {
    if !p.exists() {
        return Err(anyhow!("no ledger at {}", p.display()));
    }
    let ledger = Ledger::open_read_only(p)?;
    let anchor = ledger.chain_anchor()?;
    let anchor = (anchor.0 > 0).then_some(anchor);
    let mut lr = verify_lines(ledger.evidence_lines()?, anchor, key);
    let ledger_hashes: std::collections::BTreeMap<u64, &String> =
        lr.hashes.iter().map(|(s, h)| (*s, h)).collect();
    let (fl, fr) = files;
    for (seq, h) in &fr.hashes {
        if ledger_hashes.get(seq).is_some_and(|lh| *lh != h) {
            fr.findings.push(Finding {
                kind: "edited",
                location: fl.clone(),
                seq: Some(*seq),
                message: format!("event {seq} differs from the ledger's copy"),
            });
        }
    }
    if let (Some(fl_last), Some(l_last)) = (fr.last_seq, lr.last_seq) {
        if fl_last < l_last && ledger.sink_cursor("file:evidence").unwrap_or(0) >= l_last {
            fr.findings.push(Finding {
                kind: "truncated",
                location: fl.clone(),
                seq: Some(fl_last),
                message: format!("the files end at event {fl_last}, but the ledger recorded them up to {l_last} as written"),
            });
        }
    }
    // What reports, status, the gate and the metrics read must say what
    // the chain says.
    (lr.batches, lr.batched_samples) = ledger.batch_totals()?;
    for d in ledger.rows_disagreeing_with_chain()? {
        lr.findings.push(Finding {
            kind: "row_disagrees",
            location: format!("ledger {} ({})", d.table, d.row),
            seq: None,
            message: d.message,
        });
    }
    Ok((format!("ledger {}", p.display()), lr))
}

/// `--anchor`: every checkpoint in write-once storage checked against each
/// chain; how many there are.
async fn verify_anchored(
    cli: &Cli,
    reports: &mut Checked,
    key: Option<&NoteVerifier>,
) -> anyhow::Result<usize> {
    let c = Config::load(&cli.config)?;
    let ac = c.anchor.as_ref().ok_or_else(|| {
        anyhow!("--anchor: the configuration has no [evidence.anchor]; name an S3 source with Object Lock there")
    })?;
    let notes = crate::providers::s3::anchor::Anchor::open(ac)
        .await
        .read_all()
        .await
        .map_err(|e| anyhow!("cannot read the anchored checkpoints: {e}"))?;
    for n in &notes {
        let location = format!("s3://{}/{}", ac.s3.bucket, n.key);
        let Ok(cp) = Checkpoint::parse(&n.note) else {
            for (_, r) in reports.iter_mut() {
                r.findings.push(Finding {
                    kind: "bad_anchor",
                    location: location.clone(),
                    seq: None,
                    message: "the anchored object is not a checkpoint note".into(),
                });
            }
            continue;
        };
        for (_, r) in reports.iter_mut() {
            crate::evidence::chain::check_anchored(r, &cp, key, &location);
        }
    }
    Ok(notes.len())
}

/// One chain's result for people.
fn print_verified(what: &str, r: &ChainReport, key: Option<&NoteVerifier>) {
    if r.intact() {
        crate::outln!(
            "{what}: intact — {} event(s){}, {} checkpoint(s){}{}",
            r.events,
            match (r.first_seq, r.last_seq) {
                (Some(a), Some(b)) => format!(" (seq {a}..{b})"),
                _ => String::new(),
            },
            r.checkpoints,
            match key {
                Some(k) => format!(", {} signed by {}", r.checkpoints_signed_by_key, k.name),
                None => ", signatures NOT checked: without the public key (--public-key) the checkpoints' authenticity is unknown — anyone who can write this host's files could have re-signed the chain".into(),
            },
            if r.unchained > 0 {
                format!(
                    "; {} event(s) recorded before the chain existed are not covered",
                    r.unchained
                )
            } else {
                String::new()
            }
        );
        if r.batches > 0 {
            crate::outln!(
                "  {} verified sample(s) in {} batch(es) hash to the Merkle roots their events state",
                r.batched_samples,
                r.batches
            );
        }
    } else if r.findings.iter().all(|f| f.kind == "torn_line") {
        crate::outln!("{what}: INCOMPLETE — the last line is torn:");
        for f in &r.findings {
            crate::outln!("  {} at {}: {}", f.kind, f.location, f.message);
        }
    } else {
        crate::outln!("{what}: TAMPERED — {} problem(s):", r.findings.len());
        for f in &r.findings {
            crate::outln!("  {} at {}: {}", f.kind, f.location, f.message);
        }
    }
}
