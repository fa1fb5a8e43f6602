"""The garbage-collection roles of the BlobStore contract (BlobToucher, BlobSweeper),
run against every implementation: the moves registry/gc.py builds its safety on."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from strongroom.oci.digest import Digest
from strongroom.storage.base import BlobStore
from strongroom.storage.filesystem import FilesystemBlobStore
from strongroom.storage.memory import MemoryBlobStore

pytestmark = pytest.mark.anyio

UPLOAD = "0123456789abcdef0123456789abcdef"
OTHER_UPLOAD = "fedcba9876543210fedcba9876543210"


class TickingClock:
    """Each reading a millisecond later: every write gets a time of its own."""

    def __init__(self) -> None:
        self._now = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now


STORES: dict[str, Callable[[Path], BlobStore]] = {
    "filesystem": lambda root: FilesystemBlobStore(root, durable=False),
    "memory": lambda root: MemoryBlobStore(TickingClock()),
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return STORES[request.param](tmp_path)


async def stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def put(store: BlobStore, data: bytes, upload_id: str = UPLOAD) -> Digest:
    digest = Digest.of(data)
    await store.append(upload_id, stream(data), None)
    await store.commit_upload(upload_id, digest)
    return digest


async def listed(store: BlobStore) -> dict[Digest, tuple[int, datetime]]:
    return {blob.digest: (blob.size, blob.modified_at) async for blob in store.list_blobs()}


def later() -> None:
    time.sleep(0.02)  # past the file system's timestamp granularity


async def test_list_blobs_gives_digest_size_and_time(store: BlobStore) -> None:
    assert await listed(store) == {}
    first, second = await put(store, b"one"), await put(store, b"second", OTHER_UPLOAD)
    found = await listed(store)
    assert {digest: size for digest, (size, _) in found.items()} == {first: 3, second: 6}
    assert all(modified.tzinfo is not None for _, modified in found.values())


async def test_touch_refreshes_the_time_and_reports_absence(store: BlobStore) -> None:
    digest = await put(store, b"data")
    before = (await listed(store))[digest][1]
    later()
    assert await store.touch(digest) is True
    assert (await listed(store))[digest][1] > before
    assert await store.touch(Digest.of(b"absent")) is False


async def test_committing_stored_content_again_refreshes_its_time(store: BlobStore) -> None:
    digest = await put(store, b"dedup")
    before = (await listed(store))[digest][1]
    later()
    await put(store, b"dedup", OTHER_UPLOAD)
    assert (await listed(store))[digest][1] > before


async def test_set_aside_hides_then_purge_removes(store: BlobStore) -> None:
    digest = await put(store, b"garbage")
    listed_time = (await listed(store))[digest][1]
    aside = await store.set_aside(digest, datetime.now(UTC))
    assert aside is not None
    assert (aside.digest, aside.size, aside.modified_at) == (digest, 7, listed_time)
    assert await store.stat(digest) is None
    assert await listed(store) == {}
    assert [a.key for a in await store.list_set_aside()] == [aside.key]
    await store.purge(aside)
    assert await store.list_set_aside() == []
    assert await store.set_aside(digest, datetime.now(UTC)) is None


async def test_restore_puts_the_blob_back(store: BlobStore) -> None:
    digest = await put(store, b"still needed")
    aside = await store.set_aside(digest, datetime.now(UTC))
    assert aside is not None
    await store.restore(aside)
    assert await store.stat(digest) == len(b"still needed")
    assert await store.list_set_aside() == []


async def test_restore_never_replaces_a_copy_committed_meanwhile(store: BlobStore) -> None:
    digest = await put(store, b"raced")
    aside = await store.set_aside(digest, datetime.now(UTC))
    assert aside is not None
    assert await store.touch(digest) is False  # a push finds no file, and publishes its own
    later()
    await put(store, b"raced", OTHER_UPLOAD)
    fresh = (await listed(store))[digest][1]
    await store.restore(aside)
    assert (await listed(store))[digest] == (len(b"raced"), fresh)
    assert await store.list_set_aside() == []


async def test_set_aside_time_is_kept(store: BlobStore) -> None:
    digest = await put(store, b"old")
    when = datetime(2020, 5, 4, 3, 2, 1, tzinfo=UTC)
    await store.set_aside(digest, when)
    [aside] = await store.list_set_aside()
    assert (aside.digest, aside.set_aside_at) == (digest, when)


async def test_filesystem_touch_racing_the_move_shows_in_the_moved_file(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path, durable=False)
    digest = await put(store, b"touched")
    listed_time = (await listed(store))[digest][1]
    later()
    os.utime(tmp_path / "blobs" / "sha256" / digest.encoded[:2] / digest.encoded)
    aside = await store.set_aside(digest, datetime.now(UTC))
    assert aside is not None
    assert aside.modified_at > listed_time


async def test_filesystem_ignores_strays(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path, durable=False)
    digest = await put(store, b"real")
    (tmp_path / "blobs" / "sha256" / "zz").mkdir()
    (tmp_path / "blobs" / "sha256" / "zz" / "not-a-digest").write_bytes(b"x")
    (tmp_path / "trash").mkdir(exist_ok=True)
    (tmp_path / "trash" / "junk").write_bytes(b"x")
    assert set(await listed(store)) == {digest}
    assert await store.list_set_aside() == []
