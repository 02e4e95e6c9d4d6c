"""Stream-verify benchmark: restoreproof beside rclone on the same server.

rp-bench-s3 (a read-only S3 server reading 1 MiB at a time, so it is not the
bottleneck) serves two data sets, 200 x 1 MiB and 2 x 512 MiB, each in three
object shapes:
- sha256: an opaque ETag and a stored full-object SHA-256;
- awsdefault: what AWS stores with today's SDK defaults, an MD5 ETag and a
  full-object CRC64NVME;
- etagonly: an MD5 ETag and no additional checksum.
For each shape and data set it alternates `restoreproof drill` (stream mode,
every object, default verify policy) with `rclone hashsum sha256 --download`
(and `rclone hashsum md5 --download` for the ETag-only shape) at the same
concurrency, and prints wall time, throughput, peak RSS and the requests
restoreproof made per recovery point (counted by the server), then medians
side by side. It also prints this machine's one-pass MD5 + SHA-256 rate on
one core: the ceiling for the ETag-only shape, where MD5 is unavoidable.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

MIB = 1 << 20
SETS = {"small": (200, 1 * MIB), "large": (2, 512 * MIB)}
SHAPES = ["sha256", "awsdefault", "etagonly"]


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
    """Runs cmd; returns (seconds, peak RSS in KiB)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - start
    err = p.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{cmd[0]} failed with {code}:\n{err}")
    return seconds, usage.ru_maxrss


def stats(endpoint, reset=True):
    with urllib.request.urlopen(f"{endpoint}/_stats" + ("?reset" if reset else ""), timeout=5) as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True, help="directory with restoreproof and rp-bench-s3")
    ap.add_argument("--data", required=True, help="directory for the benchmark objects")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated: " + ", ".join(SHAPES))
    a = ap.parse_args()
    shapes = [s for s in a.shapes.split(",") if s]

    ensure_data(a.data)
    bench_s3 = os.path.join(a.bin, "rp-bench-s3")
    hash_rate = float(subprocess.check_output([bench_s3, "--hash-rate"]).decode().strip())
    cores = os.cpu_count() or 1
    server = subprocess.Popen(
        [bench_s3, "--root", a.data, "--listen", f"127.0.0.1:{a.port}"],
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{a.port}"
    try:
        for _ in range(600):
            try:
                stats(endpoint)
                urllib.request.urlopen(f"{endpoint}/small-sha256?list-type=2", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        state = tempfile.mkdtemp(prefix="restoreproof-bench-")
        config = ""
        for bucket in SETS:
            for shape in shapes:
                name = f"{bucket}-{shape}"
                config += (
                    f'[sources.{name}]\nkind = "s3"\nbucket = "{name}"\nendpoint = "{endpoint}"\nregion = "us-east-1"\n'
                    f'[drills.{name}]\nsource = "{name}"\nsample = 100000\nmode = "stream"\n'
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
        print(f"one-pass MD5 + SHA-256 on one core: {hash_rate:.0f} MB/s; x {cores} cores = {hash_rate * cores:.0f} MB/s")
        print(f"{'data set':<24} {'tool':<22} {'run':>3} {'seconds':>8} {'MB/s':>8} {'peak RSS MiB':>13} {'req/point':>10}")
        for bucket, (count, size) in SETS.items():
            total = count * size
            for shape in shapes:
                name = f"{bucket}-{shape}"
                label = f"{count} x {size // MIB} MiB {shape}"
                for r in range(1, a.rounds + 1):
                    ledger_dir = tempfile.mkdtemp(dir=state)
                    cfg = os.path.join(ledger_dir, "config.toml")
                    with open(cfg, "w") as f:
                        f.write('[ledger]\npath = "ledger.sqlite3"\n[evidence]\npath = "evidence.jsonl"\n' + config)
                    peers = [("rclone sha256", "sha256")]
                    if shape == "etagonly":
                        peers.append(("rclone md5", "md5"))
                    tools = [("restoreproof", [os.path.join(a.bin, "restoreproof"), "--config", cfg, "drill", name, "--quiet", "--no-ship"])]
                    for peer, h in peers:
                        tools.append((peer, ["rclone", "hashsum", h, "--download", f"bench:{name}",
                                             "--checkers", str(a.concurrency), "--transfers", str(a.concurrency)]))
                    if r % 2 == 0:
                        tools.reverse()
                    for tool, cmd in tools:
                        stats(endpoint)
                        seconds, rss = run(cmd, env)
                        counted = stats(endpoint)
                        per_point = (sum(v for k, v in counted.items() if k != "ListObjectVersions" and k != "other") / count)
                        mbps = total / seconds / 1e6
                        rows.append((name, tool, mbps, rss, per_point))
                        req = f"{per_point:.2f}" if tool == "restoreproof" else ""
                        print(f"{label:<24} {tool:<22} {r:>3} {seconds:>8.2f} {mbps:>8.0f} {rss / 1024:>13.1f} {req:>10}", flush=True)
        print()
        print(f"medians over {a.rounds} alternating rounds, concurrency {a.concurrency}:")
        for bucket, (count, size) in SETS.items():
            for shape in shapes:
                name = f"{bucket}-{shape}"
                label = f"{count} x {size // MIB} MiB {shape}"
                med = {}
                for tool in sorted({x[1] for x in rows if x[0] == name}, key=lambda t: (t != "restoreproof", t)):
                    sel = [x for x in rows if x[0] == name and x[1] == tool]
                    mb = statistics.median(x[2] for x in sel)
                    rss = max(x[3] for x in sel) / 1024
                    med[tool] = mb
                    extra = f"  requests/point {statistics.median(x[4] for x in sel):.2f}" if tool == "restoreproof" else ""
                    print(f"  {label:<24} {tool:<14} {mb:7.0f} MB/s  peak RSS {rss:6.1f} MiB{extra}")
                for peer in [t for t in med if t != "restoreproof"]:
                    print(f"  {label:<24} restoreproof / {peer} = {med['restoreproof'] / med[peer]:.2f}x")
                if shape == "etagonly":
                    ceiling = hash_rate * cores
                    print(f"  {label:<24} restoreproof / one-pass MD5+SHA-256 x {cores} cores ({ceiling:.0f} MB/s) = {med['restoreproof'] / ceiling:.0%}")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
