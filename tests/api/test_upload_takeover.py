"""A push's last request against other processes' requests on the same session: two
applications over one data directory, as two server workers (each its own upload
sessions), sharing a clock that can be moved on (``clock_offset_file``). Written as the
attacks a hostile review sent (slow bodies, takeovers, cancels); each must leave the
session and the stored blobs consistent."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx
import pytest

import strongroom.storage.filesystem as filesystem
from api.conftest import app_client

pytestmark = pytest.mark.anyio

OCTETS = {"content-type": "application/octet-stream"}
MIB = 1024 * 1024
Two = tuple[httpx.AsyncClient, httpx.AsyncClient, Path]


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[Two]:
    offset = tmp_path / "clock-offset"
    offset.write_text("0")
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(app_client(tmp_path / "data", clock_offset_file=offset))
        second = await stack.enter_async_context(app_client(tmp_path / "data", clock_offset_file=offset))
        yield first, second, offset


async def start(client: httpx.AsyncClient) -> str:
    started = await client.post("/v2/team/app/blobs/uploads/")
    assert started.status_code == 202
    return str(started.headers["location"])


async def gated(parts: list[bytes], gate: anyio.Event, before: int = 1) -> AsyncIterator[bytes]:
    """The body's parts, waiting for ``gate`` before part ``before``: a slow client."""
    for index, part in enumerate(parts):
        if index == before:
            await gate.wait()
        yield part


async def test_a_put_whose_claim_lapsed_while_its_body_arrived_publishes_nothing(two: Two) -> None:
    """The PUT's body (1 MiB, read whole before the write) takes longer than a claim lasts;
    another worker's PATCH takes the session meanwhile and opens its data file. Had the PUT
    gone on, it would have renamed that file into blobs/ while the PATCH wrote into it: a
    blob whose bytes are not its digest's."""
    first, second, offset = two
    location = await start(first)
    body = os.urandom(MIB)
    put_gate, patch_gate = anyio.Event(), anyio.Event()
    results: dict[str, httpx.Response] = {}

    async def put() -> None:
        parts = [body[: MIB // 2], body[MIB // 2 :]]
        results["put"] = await first.put(
            location, params={"digest": digest(body)}, headers=OCTETS, content=gated(parts, put_gate)
        )

    async def patch() -> None:
        parts = [b"", b"X" * 100]
        results["patch"] = await second.patch(location, headers=OCTETS, content=gated(parts, patch_gate))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(put)
        await anyio.sleep(0.3)  # the PUT claimed the session and reads its body ...
        offset.write_text("11")  # ... for 11 s: its claim lapses
        tasks.start_soon(patch)
        await anyio.sleep(0.3)  # the PATCH claimed the session and opened its data file
        put_gate.set()
        await anyio.sleep(0.3)
        patch_gate.set()
    assert results["put"].status_code == 400
    assert results["put"].json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    assert (await first.head(f"/v2/team/app/blobs/{digest(body)}")).status_code == 404
    assert results["patch"].status_code == 202
    status = await second.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-99"


async def test_a_refused_put_leaves_the_bytes_of_the_request_that_took_over(two: Two) -> None:
    first, second, offset = two
    location = await start(first)
    body = os.urandom(MIB)
    gate = anyio.Event()
    results: dict[str, httpx.Response] = {}

    async def put() -> None:
        parts = [body[: MIB // 2], body[MIB // 2 :]]
        results["put"] = await first.put(
            location, params={"digest": digest(body)}, headers=OCTETS, content=gated(parts, gate)
        )

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(put)
        await anyio.sleep(0.3)
        offset.write_text("11")
        results["patch"] = await second.patch(location, headers=OCTETS, content=b"Y" * 100)
        gate.set()
    assert results["patch"].status_code == 202
    assert results["put"].json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    status = await second.get(location)
    assert status.headers["range"] == "0-99"


async def test_a_put_racing_a_cancel_from_another_worker_is_not_answered_created(two: Two) -> None:
    """The cancel removes the session while the PUT's body arrives; the PUT must not then
    answer 201 for a blob no repository links."""
    first, second, _ = two
    location = await start(first)
    body = os.urandom(200 * 1024)
    gate = anyio.Event()
    results: dict[str, httpx.Response] = {}

    async def put() -> None:
        parts = [body[:1000], body[1000:]]
        results["put"] = await first.put(
            location, params={"digest": digest(body)}, headers=OCTETS, content=gated(parts, gate)
        )

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(put)
        await anyio.sleep(0.3)
        results["cancel"] = await second.delete(location)
        gate.set()
    assert results["cancel"].status_code == 204
    assert results["put"].status_code == 404
    assert results["put"].json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert (await first.head(f"/v2/team/app/blobs/{digest(body)}")).status_code == 404


async def test_a_put_that_fails_in_the_store_keeps_the_bytes_others_stored(
    two: Two, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PUT lands on the worker that did not take the POST (no running hash there); the
    store fails before it measured the upload. The 5,000 bytes a PATCH stored stay."""
    first, second, _ = two
    location = await start(first)
    assert (await first.patch(location, headers=OCTETS, content=b"a" * 5000)).status_code == 202
    whole = digest(b"a" * 5001)

    def no_descriptors(path: Path, *, create: bool = True) -> tuple[int, int]:
        raise OSError(errno.EMFILE, "Too many open files")

    with monkeypatch.context() as patched:
        patched.setattr(filesystem, "_open_at_end", no_descriptors)
        failed = await second.put(location, params={"digest": whole}, headers=OCTETS, content=b"a")
    assert failed.status_code == 500 and failed.json()["errors"]
    status = await first.get(location)
    assert status.headers["range"] == "0-4999"
    done = await second.put(location, params={"digest": whole}, headers=OCTETS, content=b"a")
    assert done.status_code == 201


async def test_a_wrong_digest_is_written_once(two: Two, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store hashed everything the upload would hold: its mismatch is the answer, with
    no second write by the general path."""
    first, _, _ = two
    written: list[int] = []
    real = filesystem._write_batch

    def counting(fd: int, offset: int, batch: list[bytes], *args: object) -> int:
        written.append(sum(map(len, batch)))
        return real(fd, offset, batch, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(filesystem, "_write_batch", counting)
    location = await start(first)
    refused = await first.put(location, params={"digest": "sha256:" + "0" * 64}, content=os.urandom(MIB))
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert written == [MIB]
    status = await first.get(location)
    assert status.headers["range"] == "0-0"
