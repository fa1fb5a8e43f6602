"""An upload another request still holds (its writer may have died mid-chunk): its status
says how long the claim lasts (``Retry-After``), so a client that lost its connection
waits rather than send a chunk the registry must refuse (ADR 0020, decision 20)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from strongroom.app import create_app
from strongroom.registry.uploads import WRITE_CLAIM
from strongroom.services import build_services, prepare
from strongroom.settings import load_settings

pytestmark = pytest.mark.anyio

USER, PASSWORD = "admin", "api-test-password"


async def test_the_status_of_a_held_upload_says_when_to_try_again(tmp_path: Path) -> None:
    settings = load_settings(
        None, {}, data_dir=tmp_path, admin_user=USER, admin_password=PASSWORD, durable_writes=False
    )
    await prepare(settings)
    services = await build_services(settings)
    transport = httpx.ASGITransport(app=create_app(settings, services))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://registry", auth=(USER, PASSWORD)
        ) as c:
            location = (await c.post("/v2/held/blobs/uploads/")).headers["location"]
            free = await c.get(location)
            assert free.status_code == 204 and "retry-after" not in free.headers
            # A writer takes the upload and dies without releasing it.
            now = services.clock.now()
            upload_id = location.rsplit("/", 1)[1]
            assert await services.metadata.claim_upload_in(
                upload_id,
                services.default_account_id,
                "held",
                "dead-writer",
                0,
                now,
                lapsed_before=now - WRITE_CLAIM,
            )
            held = await c.get(location)
            assert held.status_code == 204 and held.headers["range"] == "0-0"
            assert 1 <= int(held.headers["retry-after"]) <= WRITE_CLAIM.total_seconds()
            chunk = {"content-range": "0-2", "content-type": "application/octet-stream"}
            refused = await c.patch(location, content=b"abc", headers=chunk)
            assert refused.status_code == 416
            # Once the claim has lapsed the status says nothing more, and the chunk is taken.
            later = now - WRITE_CLAIM - timedelta(seconds=1)
            assert await services.metadata.release_upload(upload_id, "dead-writer", 0, later)
            assert "retry-after" not in (await c.get(location)).headers
            assert (await c.patch(location, content=b"abc", headers=chunk)).status_code == 202
    finally:
        services.close()
