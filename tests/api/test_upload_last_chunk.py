"""The last chunk of a push (``PUT ?digest=`` with up to 1 MiB) is hashed onto the running
hash this process kept (or, where another process took the POST and nothing was stored
yet, onto a fresh one), checked, and written and published in one step. Two server
processes share the database and the blob directory: here two applications over one data
directory, each with its own upload sessions. When the other process wrote to the upload,
the running hash here is stale, and the blob must still be exactly what was uploaded."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from api.conftest import app_client
from strongroom.registry.uploads import WHOLE_LAST_CHUNK

pytestmark = pytest.mark.anyio

OCTETS = {"content-type": "application/octet-stream"}


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two server processes: each its own services (and upload sessions) over one data directory."""
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(app_client(tmp_path))
        second = await stack.enter_async_context(app_client(tmp_path))
        yield first, second


async def start(client: httpx.AsyncClient) -> str:
    started = await client.post("/v2/team/app/blobs/uploads/")
    assert started.status_code == 202
    return str(started.headers["location"])


async def put(client: httpx.AsyncClient, location: str, body: bytes, given: str) -> httpx.Response:
    return await client.put(location, params={"digest": given}, content=body, headers=OCTETS)


async def test_a_push_up_to_a_batch_is_stored_byte_for_byte(
    two: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    first, _ = two
    for body in (b"", b"x", os.urandom(4096), os.urandom(WHOLE_LAST_CHUNK), os.urandom(WHOLE_LAST_CHUNK + 1)):
        location = await start(first)
        assert (await put(first, location, body, digest(body))).status_code == 201
        fetched = await first.get(f"/v2/team/app/blobs/{digest(body)}")
        assert fetched.status_code == 200 and fetched.content == body


async def test_a_wrong_digest_writes_nothing_and_the_upload_can_go_on(
    two: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    first, _ = two
    location = await start(first)
    assert (await first.patch(location, content=b"abc", headers=OCTETS)).status_code == 202
    refused = await put(first, location, b"def", digest(b"not this"))
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "DIGEST_INVALID"
    status = await first.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-2"
    assert (await put(first, location, b"def", digest(b"abcdef"))).status_code == 201
    assert (await first.get(f"/v2/team/app/blobs/{digest(b'abcdef')}")).content == b"abcdef"


async def test_bytes_another_process_appended_are_part_of_the_blob(
    two: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    first, second = two
    location = await start(first)  # the first process hashed nothing yet: 0 bytes
    assert (await second.patch(location, content=b"abc", headers=OCTETS)).status_code == 202
    assert (await put(first, location, b"def", digest(b"abcdef"))).status_code == 201
    assert (await first.get(f"/v2/team/app/blobs/{digest(b'abcdef')}")).content == b"abcdef"


async def test_a_digest_of_the_last_chunk_alone_is_refused_when_another_process_wrote_before_it(
    two: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    """The attacker's case: the digest matches what this process hashed (nothing, then
    ``def``), but the upload holds ``abc`` first. The stored blob must never be
    published under a digest its bytes do not have."""
    first, second = two
    location = await start(first)
    assert (await second.patch(location, content=b"abc", headers=OCTETS)).status_code == 202
    refused = await put(first, location, b"def", digest(b"def"))
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert (await first.head(f"/v2/team/app/blobs/{digest(b'def')}")).status_code == 404
    status = await second.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-2"


async def test_a_whole_push_to_a_session_another_process_started_is_published(
    two: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    """Workers share the sessions: the POST lands on one process, the PUT with the whole
    body on another, which has no running hash; the upload is empty, so it starts one."""
    first, second = two
    body = os.urandom(WHOLE_LAST_CHUNK)
    assert (await put(second, await start(first), body, digest(body))).status_code == 201
    assert (await first.get(f"/v2/team/app/blobs/{digest(body)}")).content == body
    wrong = await put(second, await start(first), body, digest(b"other"))
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"
