"""Helpers of scripts/bench-sinks: queue synthetic evidence events in a
ledger, time restoreproof draining them per sink, and time util-linux
`logger` sending as many lines to rsyslog over TCP."""
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
import uuid


def event(seq):
    """A sample_verdict event shaped like a real one (about 1.6 KB)."""
    eid = str(uuid.uuid4())
    key = f"postgres/base/{seq // 1000}/{seq:08d}.dump"
    body = {
        "schema": "restoreproof.evidence/v1", "seq": seq, "event_id": eid,
        "kind": "sample_verdict", "time": "2026-11-29T02:00:00.000Z", "run_id": "bench-run",
        "agent": {"name": "restoreproof", "version": "0.1.0", "host": "bench"},
        "drill": "bench", "source": {"name": "prod", "kind": "s3", "bucket": "acme-prod-db-backups", "prefix": "postgres/"},
        "recovery_point": {"key": key, "version_id": uuid.uuid4().hex, "size": 1048576,
                           "last_modified": "2026-11-28T01:00:00Z", "is_latest": False,
                           "behind_delete_marker": False, "storage_class": "STANDARD",
                           "etag": "5d41402abc4b2a76b9719d911017c592"},
        "verdict": "verified", "reason": None, "error_class": None,
        "checks": [
            {"name": "size.listing", "kind": "size", "expected": "1048576", "actual": "1048576", "outcome": "match"},
            {"name": "s3.checksum.sha256", "kind": "provider_checksum", "expected": "LCa0a2j/xo/5m0U8HTBBNBNCLXBkg7+g+YpeiGJm564=",
             "actual": "LCa0a2j/xo/5m0U8HTBBNBNCLXBkg7+g+YpeiGJm564=", "outcome": "match"},
            {"name": "s3.etag", "kind": "etag", "expected": "5d41402abc4b2a76b9719d911017c592",
             "actual": "5d41402abc4b2a76b9719d911017c592", "outcome": "match"},
            {"name": "baseline.sha256", "kind": "baseline", "expected": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
             "actual": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "outcome": "match"},
        ],
        "restore": {"mode": "stream", "bytes": 1048576, "duration_ms": 12, "throughput_bytes_per_sec": 87381333,
                    "attempts": 1, "sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                    "server_side_encryption": None, "copy": None},
    }
    return eid, json.dumps(body, sort_keys=True, separators=(",", ":"))


def queue(db, n):
    con = sqlite3.connect(db)
    start = con.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
    rows = []
    for seq in range(start + 1, start + n + 1):
        eid, body = event(seq)
        rows.append((seq, eid, "sample_verdict", "bench-run", "2026-11-29T02:00:00.000Z", body))
    con.executemany("INSERT INTO events (seq, event_id, kind, run_id, recorded_at, body) VALUES (?,?,?,?,?,?)", rows)
    con.commit()
    size = con.execute("SELECT SUM(LENGTH(body)) FROM events").fetchone()[0]
    print(f"queued {n} events ({size / n:.0f} bytes each on average)")


def run(binary, work, n, sinks):
    db = os.path.join(work, "ledger.sqlite3")
    print(f"\n{'sink':<16} {'events':>8} {'drain time':>11} {'events/s':>10} {'peak RSS':>9}")
    for sink in sinks:
        con = sqlite3.connect(db)
        con.execute("DELETE FROM sink_cursors WHERE sink = ?", (f"sink:{sink}",))
        con.commit()
        con.close()
        t0 = time.monotonic()
        p = subprocess.run([binary, "-c", os.path.join(work, "config.toml"), "ship", "--once", "--json", "--sink", sink],
                           capture_output=True, text=True)
        dt = time.monotonic() - t0
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        try:
            report = json.loads(p.stdout)[0]
        except (ValueError, IndexError):
            print(f"{sink}: failed: {p.stdout}{p.stderr}")
            continue
        if report.get("error") or report["backlog"]:
            print(f"{sink}: not drained: {report}")
            continue
        print(f"{sink:<16} {report['delivered']:>8} {dt:>10.2f}s {report['delivered'] / dt:>10.0f} {rss:>7.0f}MiB")


def logger(work, n, port):
    lines = os.path.join(work, "logger-lines.txt")
    with open(lines, "w") as f:
        for seq in range(1, n + 1):
            f.write(event(seq)[1] + "\n")
    t0 = time.monotonic()
    subprocess.run(["logger", "--tcp", "--octet-count", "--rfc5424", "--server", "127.0.0.1", "--port", str(port),
                    "--size", "65536", "-t", "bench", "-f", lines], check=True)
    dt = time.monotonic() - t0
    print(f"\npeer: util-linux logger, the same {n} events as RFC 5424 lines over TCP to the same rsyslog")
    print(f"{'logger (tcp)':<16} {n:>8} {dt:>10.2f}s {n / dt:>10.0f}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "queue":
        queue(sys.argv[2], int(sys.argv[3]))
    elif cmd == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:])
    elif cmd == "logger":
        logger(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
