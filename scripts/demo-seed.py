"""Seeds the demo bucket on the local S3 server (moto).

Writes a versioned bucket with several versions per key, a multipart object,
a key hidden behind a delete marker, an object without stored checksums, and
prints the version id of the recovery point the demo's proxy will corrupt.
"""
import sys

import boto3
from botocore.config import Config

endpoint, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id="demo",
    aws_secret_access_key="demo",
    region_name="us-east-1",
)
# An old upload tool: stores no checksum of its own.
legacy = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id="demo",
    aws_secret_access_key="demo",
    region_name="us-east-1",
    config=Config(request_checksum_calculation="when_required"),
)
s3.create_bucket(Bucket=bucket)
s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def blob(tag: str, size: int) -> bytes:
    unit = (tag * 64).encode()
    return (unit * (size // len(unit) + 1))[:size]


# Nightly database dumps: three versions of the same key.
for night in ("2026-11-26", "2026-11-27", "2026-11-28"):
    s3.put_object(Bucket=bucket, Key="db/customers.sql.gz",
                  Body=blob(f"customers {night} ", 300_000), ChecksumAlgorithm="SHA256")

# A large dump uploaded in 5 MiB parts with CRC32C part checksums (composite).
mp = s3.create_multipart_upload(Bucket=bucket, Key="db/orders.sql.gz", ChecksumAlgorithm="CRC32C")
parts = []
for n, size in enumerate((5 << 20, 5 << 20, 1 << 20), start=1):
    r = s3.upload_part(Bucket=bucket, Key="db/orders.sql.gz", UploadId=mp["UploadId"],
                       PartNumber=n, Body=blob(f"orders part {n} ", size), ChecksumAlgorithm="CRC32C")
    parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32C": r["ChecksumCRC32C"]})
s3.complete_multipart_upload(Bucket=bucket, Key="db/orders.sql.gz", UploadId=mp["UploadId"],
                             MultipartUpload={"Parts": parts})

# A config file that was deleted: its versions hide behind a delete marker.
s3.put_object(Bucket=bucket, Key="etc/app.conf", Body=b"listen = 8080\n", ChecksumAlgorithm="CRC64NVME")
s3.put_object(Bucket=bucket, Key="etc/app.conf", Body=b"listen = 8443\ntls = on\n", ChecksumAlgorithm="CRC64NVME")
s3.delete_object(Bucket=bucket, Key="etc/app.conf")

# Uploaded by an old tool: no stored checksum, only the ETag (an MD5).
legacy.put_object(Bucket=bucket, Key="logs/app-2026-11.log", Body=blob("GET /health 200 ", 120_000))

# The recovery point whose bytes will come back corrupted through the proxy.
r = s3.put_object(Bucket=bucket, Key="reports/q3-ledger.xlsx",
                  Body=blob("Q3 ledger ", 250_000), ChecksumAlgorithm="SHA256")
print(r["VersionId"])
