#!/usr/bin/env python3
"""What re-reading a verified credential every second costs a request (docs/adr/0004).

Builds the real app on a temporary SQLite store, pushes one small image, then times
(1) ``BasicAuthenticator.authenticate`` alone and (2) a manifest GET by tag over ASGI,
both with an access key's Basic credentials, for three settings of
``credential_cache_seconds``: 30 (the old cache, no revocation check), 1 (the default:
one indexed row read per credential per second per process) and 0 (a row read on every
request, the upper bound). Usage: ``.venv/bin/python bench/credential_recheck.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx

from strongroom.app import create_app
from strongroom.services import Services, build_services, prepare
from strongroom.settings import Settings

KEY_ID = "AKIABENCHMARK0000001"
SECRET = "bench/secret+access-key-0123456789abcdef"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ROUNDS, CALLS, GETS = 3, 5_000, 500


async def push(client: httpx.AsyncClient) -> None:
    config = b"{}"
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    created = await client.post("/v2/bench/app/blobs/uploads/", params={"digest": digest}, content=config)
    assert created.status_code == 201, created.text
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": 2},
        "layers": [],
    }
    put = await client.put(
        "/v2/bench/app/manifests/v1", content=json.dumps(manifest), headers={"Content-Type": MANIFEST}
    )
    assert put.status_code == 201, put.text


async def per_call(services: Services, header: str) -> float:
    """Microseconds per ``authenticate``: the median of a few rounds."""
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(CALLS):
            await services.authenticator.authenticate(header, "127.0.0.1")
        rounds.append((time.perf_counter() - start) / CALLS * 1e6)
    return statistics.median(rounds)


async def per_get(client: httpx.AsyncClient) -> float:
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(GETS):
            response = await client.get("/v2/bench/app/manifests/v1", headers={"Accept": MANIFEST})
            assert response.status_code == 200
        rounds.append((time.perf_counter() - start) / GETS * 1e6)
    return statistics.median(rounds)


async def measure(data_dir: Path, recheck: float) -> tuple[float, float]:
    settings = Settings(
        data_dir=data_dir,
        credential_cache_seconds=recheck,
        admin_access_key_id=KEY_ID,
        admin_secret_access_key=SECRET,  # type: ignore[arg-type]
        workers=1,
    )
    await prepare(settings)
    services = await build_services(settings)
    try:
        app = create_app(settings, services)
        header = "Basic " + base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", auth=(KEY_ID, SECRET)
        ) as client:
            await push(client)
            return await per_call(services, header), await per_get(client)
    finally:
        services.close()


async def main() -> None:
    print(f"{'credential_cache_seconds':>26} {'authenticate µs':>16} {'manifest GET µs':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for recheck in (30.0, 1.0, 0.0):
            call, get = await measure(Path(tmp) / f"r{recheck}", recheck)
            print(f"{recheck:>26} {call:>16.1f} {get:>16.1f}", flush=True)


if __name__ == "__main__":
    anyio.run(main)
