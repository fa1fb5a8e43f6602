"""What the pull gate costs a manifest GET, in process (the real app behind httpx's ASGI
transport, SQLite in a scratch directory): the median of many GETs by tag when the account
has no pull policy, when it has one for another repository, and when one applies to an
image with a complete scan (allowed: the gate reads the scan, findings and accepted risks).

    python bench/pull_gate.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from strongroom.app import create_app
from strongroom.metadata.pull_policies import PREFIX, REPOSITORY, SqlPullPolicyStore, StoredPullPolicy
from strongroom.metadata.scans import COMPLETE, SqlScanStore
from strongroom.services import build_services, open_database, prepare
from strongroom.settings import load_settings

USER, PASSWORD = "admin", "bench-password-0123456789"
EMPTY = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": EMPTY, "size": 2},
        "layers": [],
    }
).encode()


async def _timed(client: httpx.AsyncClient, path: str, requests: int) -> float:
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = await client.get(path, headers={"accept": OCI_MANIFEST})
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text
    return statistics.median(samples) * 1e6


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        settings = load_settings(
            None, {}, data_dir=Path(scratch), admin_user=USER, admin_password=PASSWORD, durable_writes=False
        )
        await prepare(settings)
        services = await build_services(settings)
        app = create_app(settings, services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://r", auth=(USER, PASSWORD)
        ) as client:
            blob = await client.post("/v2/bench/app/blobs/uploads/", params={"digest": EMPTY}, content=b"{}")
            assert blob.status_code == 201, blob.text
            put = await client.put(
                "/v2/bench/app/manifests/v1", content=MANIFEST, headers={"content-type": OCI_MANIFEST}
            )
            assert put.status_code == 201, put.text
            digest = put.headers["docker-content-digest"]
            await _timed(client, "/v2/bench/app/manifests/v1", 200)  # warm up

            database = open_database(settings)
            policies, now = SqlPullPolicyStore(database), datetime.now(UTC)
            account = services.default_account_id
            results = {
                "no pull policy in the account": await _timed(client, "/v2/bench/app/manifests/v1", requests)
            }
            await policies.put_policy(
                StoredPullPolicy(account, PREFIX, "other/", "HIGH", None, False, "b", now)
            )
            results["a policy for another repository"] = await _timed(
                client, "/v2/bench/app/manifests/v1", requests
            )
            repository = await services.metadata.get_repository(account, "bench/app")
            assert repository is not None
            scans = SqlScanStore(database)
            await scans.start(repository.id, digest, now)
            await scans.finish(repository.id, digest, now, status=COMPLETE, description=None)
            await policies.put_policy(
                StoredPullPolicy(account, REPOSITORY, "bench/app", "HIGH", "MEDIUM", True, "b", now)
            )
            results["a policy applies (allowed)"] = await _timed(
                client, "/v2/bench/app/manifests/v1", requests
            )
            database.close()
        services.close()
    base = results["no pull policy in the account"]
    for what, micros in results.items():
        print(f"{what:36} {micros:8.0f} µs per GET (median)  {micros - base:+6.0f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(parser.parse_args().requests))
