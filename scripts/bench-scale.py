"""Scale benchmark: a drill's population from an inventory report of
ROWS versions (default 100 million).

It writes (once; cached) two synthetic S3 Inventory reports in the layout
S3 documents — manifest.json with its MD5 in manifest.checksum, data files
listed with their MD5s — one as gzip CSV (keys URL-encoded, columns named by
fileSchema) and one as Parquet (snappy, pyarrow's default row groups), of
ROWS rows and of ROWS/10 rows, in today's AWS default object shape (an MD5
ETag and a CRC64NVME checksum; four versions a key, one delete marker in
97 rows), serves them with rp-bench-s3 on loopback, and measures:

- `restoreproof drill --plan` with a sample of 1,000 (seeded uniform): wall
  time, CPU time, rows per second per core, peak RSS — at ROWS/10 and ROWS
  (flat memory means the same RSS at both);
- the same drawn by 4 shards in parallel (`--shard I/4`), each reading the
  whole report;
- beside them, the floor any reader of the same files pays: `gzip -dc | wc
  -l` over the CSV files, and pyarrow reading every row of the Parquet
  files in batches;
- how long obtaining a population of 1 million versions takes: one
  listing, a listing fanned out over key prefixes (`list_concurrency`), and
  an inventory report of 1 million rows. The listings are of rp-bench-s3's
  synthetic bucket (1,000 versions a page, 100 prefixes), each page
  answered after --page-delay-ms (default 50, the low end of what a page
  takes on S3 from inside the region): the server's own cost is nil, so
  the figures are the agent's plus the page latency it has to wait out.
"""
import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

ROWS_PER_FILE = 5_000_000
CHUNK = 500_000
SCHEMA_CSV = ("Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, "
              "ETag, StorageClass, IsMultipartUploaded, ChecksumAlgorithm")
BASE_MS = 1_765_000_000_000  # late 2025


def columns(pa, pc, start, end):
    """Rows start..end as pyarrow arrays: adjacent rows share a key (four
    versions each), newest first."""
    import numpy as np
    i = np.arange(start, end, dtype=np.int64)
    k = i // 4
    s = lambda a: pc.cast(pa.array(a), pa.string())
    key = pc.binary_join_element_wise("d", s(k % 997), "/obj-", s(k), ".bin", "")
    version = pc.binary_join_element_wise("v", s(i), "")
    latest = pa.array(i % 4 == 0)
    marker = pa.array((i % 97 == 1) & (i % 4 == 0))
    size = pa.array((k * 2654435761) % 10_000_000 + 1)
    modified = pa.array(BASE_MS - (i % 4) * 86_400_000 - k, type=pa.timestamp("ms", tz="UTC"))
    etag = pc.utf8_lpad(s(i * 7919), 32, "0")
    n = end - start
    return {
        "bucket": pa.array(["scale-source"] * n),
        "key": key,
        "version_id": version,
        "is_latest": latest,
        "is_delete_marker": marker,
        "size": size,
        "last_modified_date": modified,
        "e_tag": etag,
        "storage_class": pa.array(["STANDARD"] * n),
        "is_multipart_uploaded": pa.array(np.zeros(n, dtype=bool)),
        "checksum_algorithm": pa.array(["CRC64NVME"] * n),
    }


def write_report(root, label, rows, fmt):
    """Writes one report under ROOT/scale/LABEL-FMT/src/cfg/; returns its
    location and data bytes."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq
    base = f"{label}-{fmt}/src/cfg/"
    bucket_dir = os.path.join(root, "scale")
    stamp = os.path.join(bucket_dir, base, "done")
    if os.path.exists(stamp):
        return f"s3://scale-awsdefault/{base}", int(open(stamp).read())
    os.makedirs(os.path.join(bucket_dir, base, "data"), exist_ok=True)
    files, total = [], 0
    for f0 in range(0, rows, ROWS_PER_FILE):
        f1 = min(rows, f0 + ROWS_PER_FILE)
        name = f"{base}data/part-{f0 // ROWS_PER_FILE:04d}." + ("csv.gz" if fmt == "csv" else "parquet")
        path = os.path.join(bucket_dir, name)
        if fmt == "csv":
            z = zlib.compressobj(1, zlib.DEFLATED, 31)
            with open(path, "wb") as out:
                for c0 in range(f0, f1, CHUNK):
                    cols = columns(pa, pc, c0, min(f1, c0 + CHUNK))
                    cols["last_modified_date"] = pc.strftime(cols["last_modified_date"], "%Y-%m-%dT%H:%M:%SZ")
                    t = pa.table(cols)
                    buf = pa.BufferOutputStream()
                    pcsv.write_csv(t, buf, pcsv.WriteOptions(include_header=False, quoting_style="all_valid"))
                    out.write(z.compress(buf.getvalue().to_pybytes()))
                out.write(z.flush())
        else:
            writer = None
            for c0 in range(f0, f1, CHUNK):
                t = pa.table(columns(pa, pc, c0, min(f1, c0 + CHUNK)))
                writer = writer or pq.ParquetWriter(path, t.schema, compression="snappy")
                writer.write_table(t)
            writer.close()
        md5 = hashlib.md5()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                md5.update(block)
        size = os.path.getsize(path)
        total += size
        files.append({"key": name, "size": size, "MD5checksum": md5.hexdigest()})
        print(f"  wrote {name} ({size >> 20} MiB)", file=sys.stderr)
    taken = time.strftime("%Y-%m-%dT%H-%MZ", time.gmtime())
    manifest = json.dumps({
        "sourceBucket": "scale-source",
        "destinationBucket": "arn:aws:s3:::scale-awsdefault",
        "version": "2016-11-30",
        "creationTimestamp": str(int(time.time() * 1000)),
        "fileFormat": "CSV" if fmt == "csv" else "Parquet",
        "fileSchema": SCHEMA_CSV if fmt == "csv" else "message s3.inventory { }",
        "files": files,
    }).encode()
    d = os.path.join(bucket_dir, base, taken)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "manifest.json"), "wb").write(manifest)
    open(os.path.join(d, "manifest.checksum"), "w").write(hashlib.md5(manifest).hexdigest())
    open(stamp, "w").write(str(total))
    return f"s3://scale-awsdefault/{base}", total


def measure(cmds, env):
    """Runs cmds in parallel; (wall seconds, CPU seconds, max peak RSS KiB).

    Peak RSS is each process's VmHWM, read while it runs: the ru_maxrss
    wait4 reports would count this script's own memory, which a child
    carries until it execs.
    """
    start = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in cmds]
    hwm = {p.pid: 0 for p in procs}
    done = {}
    while len(done) < len(procs):
        for p in procs:
            if p.pid in done:
                continue
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm[p.pid] = max(hwm[p.pid], int(line.split()[1]))
            except OSError:
                pass
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                done[p.pid] = (status, usage)
        time.sleep(0.05)
    wall = time.perf_counter() - start
    cpu = 0.0
    for p in procs:
        status, usage = done[p.pid]
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(p.args)} failed:\n{p.stderr.read().decode(errors='replace')}")
        cpu += usage.ru_utime + usage.ru_stime
    return wall, cpu, max(hwm.values())


def floors(root, label, fmt):
    """Seconds to merely decode every row of the report's data files."""
    data = os.path.join(root, "scale", f"{label}-{fmt}/src/cfg/data")
    paths = sorted(os.path.join(data, f) for f in os.listdir(data))
    start = time.perf_counter()
    if fmt == "csv":
        subprocess.run(f"gzip -dc {' '.join(paths)} | wc -l", shell=True, check=True, stdout=subprocess.DEVNULL)
    else:
        import pyarrow.parquet as pq
        for p in paths:
            for _ in pq.ParquetFile(p).iter_batches(batch_size=65536):
                pass
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True, help="directory with restoreproof and rp-bench-s3")
    ap.add_argument("--data", required=True, help="where the reports are cached")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--page-delay-ms", type=int, default=50)
    ap.add_argument("--list-concurrency", type=int, default=32)
    a = ap.parse_args()
    sizes = [("tenth", a.rows // 10), ("full", a.rows)]
    locations = {}
    for label, rows in sizes:
        for fmt in ("csv", "parquet"):
            print(f"report {label} ({rows:,} rows, {fmt})", file=sys.stderr)
            locations[(label, fmt)] = write_report(a.data, f"{label}{rows}", rows, fmt)
    million = write_report(a.data, "million", 1_000_000, "csv")
    bench_s3 = os.path.join(a.bin, "rp-bench-s3")
    server = subprocess.Popen([bench_s3, "--root", a.data, "--listen", f"127.0.0.1:{a.port}",
                               "--synthetic", "1000000", "--page-delay-ms", str(a.page_delay_ms)],
                              stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{a.port}"
    try:
        for _ in range(3000):
            try:
                urllib.request.urlopen(f"{endpoint}/_stats", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        state = tempfile.mkdtemp(prefix="restoreproof-bench-scale-")
        cfg = os.path.join(state, "config.toml")
        text = '[ledger]\npath = "ledger.sqlite3"\n[evidence]\npath = "evidence.jsonl"\n'
        for (label, fmt), (loc, _) in locations.items():
            name = f"{label}-{fmt}"
            text += (f'[sources.{name}]\nkind = "s3"\nbucket = "scale-awsdefault"\nendpoint = "{endpoint}"\n'
                     f'region = "us-east-1"\n[sources.{name}.inventory]\nlocation = "{loc}"\nmax_age = "3650d"\n'
                     f'[drills.{name}]\nsource = "{name}"\nsample = 1000\nseed = 7\n')
        for name, extra in [("list-one", ""), ("list-fanned", f"list_concurrency = {a.list_concurrency}\n")]:
            text += (f'[sources.{name}]\nkind = "s3"\nbucket = "synthetic"\nendpoint = "{endpoint}"\n'
                     f'region = "us-east-1"\n{extra}[drills.{name}]\nsource = "{name}"\nsample = 1000\nseed = 7\n')
        text += (f'[sources.million]\nkind = "s3"\nbucket = "scale-awsdefault"\nendpoint = "{endpoint}"\n'
                 f'region = "us-east-1"\n[sources.million.inventory]\nlocation = "{million[0]}"\nmax_age = "3650d"\n'
                 f'[drills.million]\nsource = "million"\nsample = 1000\nseed = 7\n')
        open(cfg, "w").write(text)
        env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_EC2_METADATA_DISABLED="true", TMPDIR=state)
        rp = os.path.join(a.bin, "restoreproof")
        print(f"{'report':<28} {'run':<22} {'seconds':>8} {'CPU s':>7} {'rows/s/core':>12} {'peak RSS MiB':>13}")
        for (label, rows) in sizes:
            for fmt in ("csv", "parquet"):
                name = f"{label}-{fmt}"
                mib = locations[(label, fmt)][1] >> 20
                what = f"{rows:,} rows {fmt} ({mib} MiB)"
                plan = [rp, "--config", cfg, "drill", name, "--plan", "--json"]
                runs = [("drill --plan", [plan])]
                if label == "full":
                    runs.append((f"{a.shards} shards in parallel",
                                 [plan + ["--shard", f"{i}/{a.shards}"] for i in range(a.shards)]))
                for run_name, cmds in runs:
                    wall, cpu, rss = measure(cmds, env)
                    per_core = rows * len(cmds) / cpu if cpu else 0
                    print(f"{what:<28} {run_name:<22} {wall:>8.1f} {cpu:>7.1f} {per_core:>12,.0f} {rss / 1024:>13.1f}", flush=True)
                if label == "full":
                    floor = floors(a.data, f"{label}{rows}", fmt)
                    peer = "gzip -dc | wc -l" if fmt == "csv" else "pyarrow iter_batches"
                    print(f"{what:<28} {peer:<22} {floor:>8.1f} {'':>7} {rows / floor:>12,.0f} {'':>13}", flush=True)
        print()
        print(f"1,000,000 versions, {a.page_delay_ms} ms a listing page:")
        print(f"{'population from':<40} {'seconds':>8} {'CPU s':>7} {'peak RSS MiB':>13}")
        for name, what in [("list-one", "one listing (1,000 pages)"),
                           ("list-fanned", f"parallel listing, {a.list_concurrency} prefixes at once"),
                           ("million", "inventory report (CSV, 1 data file)")]:
            wall, cpu, rss = measure([[rp, "--config", cfg, "drill", name, "--plan", "--json"]], env)
            print(f"{what:<40} {wall:>8.1f} {cpu:>7.1f} {rss / 1024:>13.1f}", flush=True)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
