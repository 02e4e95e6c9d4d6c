"""Stream-verify benchmark: restoreproof beside rclone on the same server.

Serves two data sets from rp-bench-s3 (a read-only S3 server reading 1 MiB at
a time, so it is not the bottleneck): 200 x 1 MiB and 2 x 512 MiB objects. For
each data set it alternates `restoreproof drill` (stream mode, every object,
SHA-256 verified against the stored checksum) and
`rclone hashsum sha256 --download` at the same concurrency, and prints wall
time, throughput and peak RSS of every run and the medians side by side.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

MIB = 1 << 20
SETS = {"small": (200, 1 * MIB), "large": (2, 512 * MIB)}


def ensure_data(root):
    for bucket, (count, size) in SETS.items():
        d = os.path.join(root, bucket)
        os.makedirs(d, exist_ok=True)
        for i in range(count):
            p = os.path.join(d, f"obj-{i:04d}.bin")
            if os.path.exists(p) and os.path.getsize(p) == size:
                continue
            with open(p, "wb") as f:
                left = size
                while left:
                    n = min(left, 16 * MIB)
                    f.write(os.urandom(n))
                    left -= n


def run(cmd, env):
    """Runs cmd; returns (seconds, peak RSS in KiB, exit code)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - start
    err = p.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code not in (0,):
        sys.exit(f"{cmd[0]} failed with {code}:\n{err}")
    return seconds, usage.ru_maxrss, code


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True, help="directory with restoreproof and rp-bench-s3")
    ap.add_argument("--data", required=True, help="directory for the benchmark objects")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    a = ap.parse_args()

    ensure_data(a.data)
    server = subprocess.Popen(
        [os.path.join(a.bin, "rp-bench-s3"), "--root", a.data, "--listen", f"127.0.0.1:{a.port}"],
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{a.port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{endpoint}/small?list-type=2", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        state = tempfile.mkdtemp(prefix="restoreproof-bench-")
        config = os.path.join(state, "config.toml")
        with open(config, "w") as f:
            for bucket in SETS:
                f.write(
                    f'[sources.{bucket}]\nkind = "s3"\nbucket = "{bucket}"\nendpoint = "{endpoint}"\nregion = "us-east-1"\n'
                    f'[drills.{bucket}]\nsource = "{bucket}"\nsample = 100000\nmode = "stream"\n'
                    f"concurrency = {a.concurrency}\n"
                )
        env = dict(os.environ)
        # Plain HTTP on loopback: a CA bundle from the environment only makes
        # rclone's S3 client refuse its own transport.
        env.pop("AWS_CA_BUNDLE", None)
        env.update(
            AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true",
            RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Other",
            RCLONE_CONFIG_BENCH_ENDPOINT=endpoint, RCLONE_CONFIG_BENCH_ACCESS_KEY_ID="bench",
            RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY="bench", RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true",
            RCLONE_CONFIG_BENCH_REGION="us-east-1",
        )
        rows = []
        print(f"{'data set':<14} {'tool':<13} {'run':>3} {'seconds':>8} {'MB/s':>8} {'peak RSS MiB':>13}")
        for bucket, (count, size) in SETS.items():
            total = count * size
            for r in range(1, a.rounds + 1):
                ledger_dir = tempfile.mkdtemp(dir=state)
                with open(config) as f:
                    text = f.read()
                cfg = os.path.join(ledger_dir, "config.toml")
                with open(cfg, "w") as f:
                    f.write('[ledger]\npath = "ledger.sqlite3"\n[evidence]\npath = "evidence.jsonl"\n' + text)
                tools = [
                    ("restoreproof", [os.path.join(a.bin, "restoreproof"), "--config", cfg, "drill", bucket, "--quiet"]),
                    ("rclone", ["rclone", "hashsum", "sha256", "--download", f"bench:{bucket}",
                                "--checkers", str(a.concurrency), "--transfers", str(a.concurrency)]),
                ]
                if r % 2 == 0:
                    tools.reverse()
                for name, cmd in tools:
                    seconds, rss, _ = run(cmd, env)
                    mbps = total / seconds / 1e6
                    rows.append((bucket, name, mbps, rss))
                    label = f"{count} x {size // MIB} MiB"
                    print(f"{label:<14} {name:<13} {r:>3} {seconds:>8.2f} {mbps:>8.0f} {rss / 1024:>13.1f}", flush=True)
        print()
        print(f"medians over {a.rounds} alternating rounds, concurrency {a.concurrency}:")
        for bucket, (count, size) in SETS.items():
            med = {}
            for tool in ("restoreproof", "rclone"):
                mb = statistics.median(x[2] for x in rows if x[0] == bucket and x[1] == tool)
                rss = max(x[3] for x in rows if x[0] == bucket and x[1] == tool) / 1024
                med[tool] = mb
                print(f"  {count} x {size // MIB} MiB  {tool:<13} {mb:7.0f} MB/s  peak RSS {rss:6.1f} MiB")
            print(f"  {count} x {size // MIB} MiB  restoreproof / rclone = {med['restoreproof'] / med['rclone']:.2f}x")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
