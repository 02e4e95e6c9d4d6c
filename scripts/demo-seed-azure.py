"""Seeds the demo container on the local Azure Blob server (Azurite).

Writes a VM disk image with two snapshots taken between nightly changes and a
config file, then prints an account SAS (read and list) for the agent. The
account key is Azurite's public development key.
"""
import datetime
import sys

from azure.storage.blob import (
    AccountSasPermissions,
    BlobServiceClient,
    ResourceTypes,
    generate_account_sas,
)

endpoint, container = sys.argv[1], sys.argv[2]
account = "devstoreaccount1"
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
service = BlobServiceClient(account_url=endpoint, credential={"account_name": account, "account_key": key})
c = service.create_container(container)


def blob(tag: str, size: int) -> bytes:
    unit = (tag * 64).encode()
    return (unit * (size // len(unit) + 1))[:size]


disk = c.get_blob_client("vm/app-01-disk.vhd")
for night in ("2026-11-26", "2026-11-27", "2026-11-28"):
    disk.upload_blob(blob(f"disk image {night} ", 400_000), overwrite=True)
    if night != "2026-11-28":
        disk.create_snapshot()
c.get_blob_client("vm/app-01.json").upload_blob(b'{"size": "Standard_D2s_v5"}\n')

sas = generate_account_sas(
    account_name=account,
    account_key=key,
    resource_types=ResourceTypes(service=True, container=True, object=True),
    permission=AccountSasPermissions(read=True, list=True),
    expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=4),
)
print(sas)
