//! Examples for each subcommand: shown after its `--help` and as the
//! EXAMPLES section of its man page, from this one table.

/// (subcommand path, [(command line, what it does)]).
pub const EXAMPLES: &[(&str, &[(&str, &str)])] = &[
    ("drill", &[
        ("restoreproof drill nightly-db", "run a configured drill now; exit 0 passed, 1 a recovery point failed, 2 could not run"),
        ("restoreproof drill nightly-db --plan", "what a run would restore (sample, seed, bytes, time), restoring nothing"),
        ("restoreproof drill --source prod --sample 2% --json", "an ad-hoc drill against a configured source, as one JSON document"),
        ("restoreproof drill nightly-db --seed 42", "reproduce a uniform sample exactly"),
        ("restoreproof drill archive-at-rest --wait", "a provider_checksum drill: submit the S3 Batch Operations jobs and wait for them"),
    ]),
    ("merge", &[
        ("restoreproof merge archive --shard-dir /mnt/shards --run-id nightly-2026-12-07", "one run from the shards of a sharded drill"),
    ]),
    ("run", &[
        ("sudo systemctl enable --now restoreproof", "the service as the packages install it"),
        ("restoreproof --config ./config.toml run", "in the foreground, every drill on its schedule (Ctrl-C stops it cleanly)"),
    ]),
    ("status", &[
        ("sudo restoreproof status", "each drill's last run and next run, and the service's heartbeat"),
        ("restoreproof status --prometheus > metrics.prom.tmp && mv metrics.prom.tmp metrics.prom", "the metrics for a textfile collector"),
        ("restoreproof status --heartbeat", "exit 0 while the service is alive (a container health check)"),
    ]),
    ("gate", &[
        ("restoreproof gate --max-age 7d --min-coverage 90% || exit 1", "fail a pipeline when restore evidence is stale or coverage too low"),
    ]),
    ("patch", &[("restoreproof patch --json", "record this host's patch state now")]),
    ("canary", &[("restoreproof canary yearly", "write the canary `yearly` now")]),
    ("evidence verify", &[
        ("restoreproof evidence verify --public-key KEY", "the hash chain and the signed checkpoints are intact"),
        ("restoreproof evidence verify --proof sample.proof.json --public-key KEY", "check one inclusion proof, with no ledger"),
    ]),
    ("evidence keygen", &[("restoreproof evidence keygen", "create the signing key and print its public key")]),
    ("evidence prove", &[("restoreproof evidence prove EVENT_ID -o sample.proof.json", "the inclusion proof of one batched verified sample")]),
    ("evidence attest", &[("restoreproof evidence attest --since 30d -o runs.intoto.jsonl", "in-toto/DSSE attestations of the runs")]),
    ("posture", &[("restoreproof posture --source prod", "check one source's settings against its policy")]),
    ("report", &[
        ("restoreproof report --since 90d --format html -o report.html", "what the ledger proves, for the auditor"),
        ("restoreproof report --format oscal -o results.json", "OSCAL assessment results for a GRC tool"),
        ("restoreproof report --format csv --table failures -o failures.csv", "one table as CSV"),
    ]),
    ("restore-testing", &[("restoreproof restore-testing --once --json", "validate the AWS Backup restore tests waiting on the queue")]),
    ("collect", &[("restoreproof collect --wait", "finish provider_checksum runs once their jobs end")]),
    ("ship", &[("restoreproof ship --once", "deliver pending evidence to every sink and report per sink")]),
    ("validate", &[
        ("restoreproof validate", "every problem of the configuration at once, and each drill's next run"),
        ("restoreproof validate --connect", "also reach each evidence sink"),
    ]),
    ("completions", &[("restoreproof completions bash > /etc/bash_completion.d/restoreproof", "bash completions")]),
];

/// The environment variables restoreproof reads.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "RESTOREPROOF_CONFIG",
        "the configuration file (as --config)",
    ),
    ("RESTOREPROOF_LOG_FORMAT", "text or json (as --log-format)"),
    (
        "RUST_LOG",
        "log filter, overriding -v and -q (e.g. restoreproof=debug)",
    ),
    ("NO_COLOR", "any non-empty value: no colour on a terminal"),
    (
        "JOURNAL_STREAM",
        "set by systemd: log lines carry journald priorities and no timestamp",
    ),
    (
        "AWS_PROFILE, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN",
        "the AWS SDK's credential chain, for S3 sources without credentials in the config",
    ),
    (
        "AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE",
        "Azure workload identity, for Azure sources with auth.method = \"workload_identity\"",
    ),
    (
        "CREDENTIALS_DIRECTORY",
        "set by systemd's LoadCredential=: where `credential = \"NAME\"` settings are read",
    ),
];

/// The examples of `path` as --help shows them.
pub fn help_text(path: &str) -> Option<String> {
    let (_, examples) = EXAMPLES.iter().find(|(p, _)| *p == path)?;
    let mut s = String::from("Examples:\n");
    for (cmd, what) in *examples {
        s.push_str(&format!("  {cmd}\n      {what}\n"));
    }
    Some(s)
}
