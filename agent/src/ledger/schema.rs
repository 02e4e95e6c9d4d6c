//! The schema, as migrations applied in order (`PRAGMA user_version`).

/// The oldest schema version read-only commands (`status`, `report`,
/// `evidence verify`) read without migrating it: what later migrations
/// added, their queries do without (version 6 added
/// `daemon_state.problems`).
pub(super) const OLDEST_READABLE: i64 = 5;

/// Migrations in order; index + 1 is the schema version after applying it.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    run_id          TEXT PRIMARY KEY,
    drill           TEXT NOT NULL,
    source          TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL,          -- running | completed | failed
    strategy        TEXT NOT NULL,
    seed            INTEGER,
    mode            TEXT NOT NULL,
    sample_spec     TEXT NOT NULL,
    summary         TEXT                    -- JSON run summary when finished
);
CREATE TABLE samples (
    event_id        TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs(run_id),
    source          TEXT NOT NULL,
    key             TEXT NOT NULL,
    version_id      TEXT NOT NULL,
    size            INTEGER NOT NULL,
    verdict         TEXT NOT NULL,
    reason          TEXT,
    sha256          TEXT,
    bytes           INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    checks          TEXT NOT NULL,          -- JSON array of every reference compared
    recorded_at     TEXT NOT NULL
);
CREATE INDEX samples_by_run ON samples(run_id);
CREATE INDEX samples_by_point ON samples(source, key, version_id);
CREATE TABLE baselines (
    source          TEXT NOT NULL,
    key             TEXT NOT NULL,
    version_id      TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size            INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    first_run_id    TEXT NOT NULL,
    PRIMARY KEY (source, key, version_id)
);
CREATE TRIGGER baselines_are_immutable BEFORE UPDATE ON baselines
BEGIN SELECT RAISE(ABORT, 'baselines are never overwritten'); END;
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    run_id          TEXT,
    recorded_at     TEXT NOT NULL,
    body            TEXT NOT NULL           -- the JSON line exactly as shipped
);
CREATE TRIGGER events_are_immutable BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'evidence events are never changed'); END;
CREATE TABLE sink_cursors (
    sink            TEXT PRIMARY KEY,
    last_seq        INTEGER NOT NULL
);
"#,
    r#"
-- Who ran a run, so a run whose process died can be told from one that is
-- still going.
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN boot_id TEXT;
"#,
    r#"
-- The daemon's heartbeat, one row per host, for `restoreproof status`.
CREATE TABLE daemon_state (
    host            TEXT PRIMARY KEY,
    pid             INTEGER NOT NULL,
    started_at      TEXT NOT NULL,
    heartbeat_at    TEXT NOT NULL,
    heartbeat_secs  INTEGER NOT NULL,
    state           TEXT NOT NULL,          -- running | stopping | stopped
    next_runs       TEXT NOT NULL,          -- JSON object: drill -> RFC 3339 time or null
    config_path     TEXT NOT NULL
);
CREATE INDEX runs_by_drill ON runs(drill);
"#,
    r#"
-- Delivery state of each evidence sink, for `restoreproof status`.
CREATE TABLE sink_state (
    sink            TEXT PRIMARY KEY,
    delivered_total INTEGER NOT NULL DEFAULT 0,
    failures_total  INTEGER NOT NULL DEFAULT 0,
    last_success_at TEXT,
    last_error      TEXT,
    last_error_at   TEXT
);
"#,
    r#"
-- The hash chain: each event's SHA-256 over its canonical form, which
-- includes the previous event's hash. Events recorded before this
-- migration have none; the chain links to them by the SHA-256 of their line.
ALTER TABLE events ADD COLUMN hash TEXT;
-- Where the chain continues after the outbox bounds removed its start.
CREATE TABLE chain_anchor (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    seq             INTEGER NOT NULL,
    hash            TEXT NOT NULL
);
"#,
    r#"
-- What the running daemon cannot do (e.g. write its metrics file), for
-- `restoreproof status`: a JSON array of messages.
ALTER TABLE daemon_state ADD COLUMN problems TEXT NOT NULL DEFAULT '[]';
"#,
    r#"
-- Per recovery point, what its last restore said, for rotating coverage:
-- keyed (and so stored) in the order listings come in, so a drill joins
-- its listing with it as a stream.
CREATE TABLE points (
    source          TEXT NOT NULL,
    key             TEXT NOT NULL,
    version_id      TEXT NOT NULL,
    last_checked_at TEXT NOT NULL,          -- the last verdict about its bytes
    last_verdict    TEXT NOT NULL,
    last_verified_at TEXT,                  -- the last `verified`, if any
    last_run_id     TEXT NOT NULL,
    PRIMARY KEY (source, key, version_id)
) WITHOUT ROWID;
INSERT INTO points (source, key, version_id, last_checked_at, last_verdict, last_run_id)
    SELECT source, key, version_id, MAX(recorded_at), verdict, run_id
    FROM samples WHERE verdict != 'aborted' GROUP BY source, key, version_id;
UPDATE points SET last_verified_at = (
    SELECT MAX(s.recorded_at) FROM samples s
    WHERE s.source = points.source AND s.key = points.key
      AND s.version_id = points.version_id AND s.verdict = 'verified');
-- The staleness gate as the service last judged it, per drill, so a
-- change (red or green again) is recorded once, across restarts.
CREATE TABLE gate_state (
    drill           TEXT PRIMARY KEY,
    ok              INTEGER NOT NULL,
    since           TEXT NOT NULL,
    reasons         TEXT NOT NULL           -- JSON array of messages
);
"#,
    r#"
-- What the last restore of each recovery point looked like, for
-- ransomware signals between versions: its time in the listing, the byte
-- entropy of its first MiB and the content type its first bytes announce.
ALTER TABLE points ADD COLUMN last_modified TEXT;
ALTER TABLE points ADD COLUMN entropy REAL;
ALTER TABLE points ADD COLUMN content_type TEXT;
"#,
    r#"
-- Canaries: recovery points the agent writes and deletes itself, then
-- restores at increasing ages to prove retention end to end.
CREATE TABLE canaries (
    canary          TEXT NOT NULL,          -- [canaries.NAME]
    source          TEXT NOT NULL,
    key             TEXT NOT NULL,
    version_id      TEXT NOT NULL,          -- '' when the store keeps no versions
    snapshot        TEXT,                   -- Azure: the snapshot soft delete keeps
    sha256          TEXT NOT NULL,
    size            INTEGER NOT NULL,
    written_at      TEXT NOT NULL,
    deleted_at      TEXT,
    last_checked_at TEXT,
    last_outcome    TEXT,                   -- restored | gone | mismatch | error
    PRIMARY KEY (source, key, version_id)
);
CREATE INDEX canaries_by_age ON canaries(canary, written_at);
"#,
    r#"
-- Since when each pending security update has been seen pending, for
-- package managers that give no release date (apt).
CREATE TABLE patch_seen (
    package         TEXT NOT NULL,
    version         TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    PRIMARY KEY (package, version)
);
"#,
    r#"
-- Events by kind, newest last: `status` reads the latest patch check at
-- every heartbeat, and reports read one kind over a period, without
-- scanning the whole chain.
CREATE INDEX events_by_kind ON events(kind, seq);
"#,
    r#"
-- Events by run: each run's summary row is checked against its
-- hash-chained run_summary event (`evidence verify`, `report`).
CREATE INDEX events_by_run ON events(run_id, kind);
"#,
    r#"
-- Verified samples recorded in batches (`record_verified = "batched"`):
-- the `sample_batch` event whose Merkle root commits the row, and the
-- row's place among its leaves; NULL for a sample with an event of its own.
-- A batched row's `checks` holds its leaf's other members (a JSON object).
ALTER TABLE samples ADD COLUMN batch_seq INTEGER;
ALTER TABLE samples ADD COLUMN leaf_index INTEGER;
CREATE INDEX samples_by_batch ON samples(batch_seq, leaf_index) WHERE batch_seq IS NOT NULL;
-- No query looks samples up by recovery point (`points` answers that): the
-- index cost about 100 bytes a sample.
DROP INDEX samples_by_point;
-- Baselines keyed by recovery point alone (no rowid, so no second copy of
-- the key in an index): about 100 bytes less per recovery point.
CREATE TABLE baselines_by_point (
    source          TEXT NOT NULL,
    key             TEXT NOT NULL,
    version_id      TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size            INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    first_run_id    TEXT NOT NULL,
    PRIMARY KEY (source, key, version_id)
) WITHOUT ROWID;
INSERT INTO baselines_by_point SELECT source, key, version_id, sha256, size, first_seen_at, first_run_id FROM baselines;
DROP TABLE baselines;
ALTER TABLE baselines_by_point RENAME TO baselines;
CREATE TRIGGER baselines_are_immutable BEFORE UPDATE ON baselines
BEGIN SELECT RAISE(ABORT, 'baselines are never overwritten'); END;
"#,
    r#"
-- S3 Batch Operations jobs of `provider_checksum` drills: a run waits
-- (runs.status = 'waiting', its provisional summary in runs.summary) until
-- every job of it ended, then its verdicts are recorded and it finishes.
CREATE TABLE provider_jobs (
    job_id          TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs(run_id),
    algorithm       TEXT NOT NULL,
    checksum_type   TEXT NOT NULL,
    manifest        TEXT NOT NULL,          -- s3://bucket/key
    objects         INTEGER NOT NULL,
    submitted_at    TEXT NOT NULL
);
CREATE INDEX provider_jobs_by_run ON provider_jobs(run_id);
-- Each sampled recovery point of such a run with what it is compared with
-- (a JSON object); job_id NULL: judged at submission (no reference).
CREATE TABLE provider_points (
    run_id          TEXT NOT NULL REFERENCES runs(run_id),
    ord             INTEGER NOT NULL,
    job_id          TEXT,
    point           TEXT NOT NULL,
    PRIMARY KEY (run_id, ord)
) WITHOUT ROWID;
"#,
];
