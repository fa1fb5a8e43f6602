"""The BlobStore contract, run against every implementation."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from strongroom.errors import BlobUnknown, DigestInvalid
from strongroom.oci.digest import Digest
from strongroom.storage import filesystem
from strongroom.storage.base import BlobStore
from strongroom.storage.filesystem import FilesystemBlobStore
from strongroom.storage.memory import MemoryBlobStore

pytestmark = pytest.mark.anyio

UPLOAD = "0123456789abcdef0123456789abcdef"

STORES: dict[str, Callable[[Path], BlobStore]] = {
    "filesystem": lambda root: FilesystemBlobStore(root),
    "memory": lambda root: MemoryBlobStore(),
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return STORES[request.param](tmp_path)


async def stream(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_upload_then_commit_makes_the_blob_readable(store: BlobStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = Digest.of(data)
    hasher = hashlib.sha256()
    size = await store.append(UPLOAD, stream(data[:1000], data[1000:]), hasher)
    assert size == len(data)
    assert hasher.hexdigest() == digest.encoded
    assert await store.stat(digest) is None  # nothing visible before commit
    await store.commit_upload(UPLOAD, digest)
    assert await store.stat(digest) == len(data)
    assert await collect(store.read(digest)) == data
    assert await store.upload_size(UPLOAD) is None


async def test_ranged_reads(store: BlobStore) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    digest = await _put(store, data)
    assert await collect(store.read(digest, 10, 20)) == data[10:20]
    assert await collect(store.read(digest, 1024 * 1024 - 3, None)) == data[1024 * 1024 - 3 :]
    assert await collect(store.read(digest, len(data) - 1)) == data[-1:]


async def test_appends_accumulate_and_hash_what_was_kept(store: BlobStore) -> None:
    hasher = hashlib.sha256()
    await store.append(UPLOAD, stream(b"abc"), hasher)
    assert await store.append(UPLOAD, stream(b"def", b""), hasher) == 6
    assert await store.upload_size(UPLOAD) == 6
    assert await collect(store.read_upload(UPLOAD)) == b"abcdef"
    assert hasher.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()


async def test_truncate_undoes_a_rejected_chunk(store: BlobStore) -> None:
    await store.append(UPLOAD, stream(b"keep", b"drop me"), None)
    await store.truncate_upload(UPLOAD, 4)
    assert await store.upload_size(UPLOAD) == 4
    assert await store.append(UPLOAD, stream(b"!"), None) == 5
    assert await collect(store.read_upload(UPLOAD)) == b"keep!"


async def test_a_failing_source_keeps_the_bytes_received_before_it_failed(store: BlobStore) -> None:
    hasher = hashlib.sha256()

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * 100
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.append(UPLOAD, broken(), hasher)
    assert await store.upload_size(UPLOAD) == 100
    assert hasher.hexdigest() == hashlib.sha256(b"x" * 100).hexdigest()


def _hashed(data: bytes) -> hashlib._Hash:
    hasher = hashlib.sha256()
    hasher.update(data)
    return hasher


async def test_finish_upload_appends_the_last_chunk_and_publishes_in_one_step(store: BlobStore) -> None:
    await store.append(UPLOAD, stream(b"abc"), None)
    digest = Digest.of(b"abcdef")
    assert await store.finish_upload(UPLOAD, 3, [b"d", b"ef"], _hashed(b"abc"), digest) is True
    assert await collect(store.read(digest)) == b"abcdef"
    assert await store.upload_size(UPLOAD) is None


async def test_finish_upload_writes_nothing_unless_the_upload_holds_what_the_caller_hashed(
    store: BlobStore,
) -> None:
    digest = Digest.of(b"def")
    with pytest.raises(FileNotFoundError):  # bytes were stored, and are gone (cancelled)
        await store.finish_upload(UPLOAD, 3, [b"def"], _hashed(b"abc"), Digest.of(b"abcdef"))
    assert await store.upload_size(UPLOAD) is None
    await store.append(UPLOAD, stream(b"abc"), None)  # another writer's bytes
    assert await store.finish_upload(UPLOAD, 0, [b"def"], _hashed(b""), digest) is False
    assert await store.finish_upload(UPLOAD, 4, [b"def"], _hashed(b"abc"), digest) is False
    assert await collect(store.read_upload(UPLOAD)) == b"abc"
    assert await store.stat(digest) is None


async def test_finish_upload_publishes_nothing_under_a_digest_its_bytes_do_not_have(store: BlobStore) -> None:
    """The hash the caller gives covers the upload's first bytes; the store adds the last
    chunk and compares. A wrong digest leaves the upload exactly as it was."""
    await store.append(UPLOAD, stream(b"abc"), None)
    for wrong in (Digest.of(b"def"), Digest.of(b"abcdeg")):
        with pytest.raises(DigestInvalid, match=str(Digest.of(b"abcdef"))):
            await store.finish_upload(UPLOAD, 3, [b"def"], _hashed(b"abc"), wrong)
        assert await store.stat(wrong) is None
    assert await store.upload_size(UPLOAD) == 3
    assert await collect(store.read_upload(UPLOAD)) == b"abc"
    assert await store.finish_upload(UPLOAD, 3, [b"def"], _hashed(b"abc"), Digest.of(b"abcdef")) is True


async def test_finish_upload_of_content_already_stored_keeps_one_copy(store: BlobStore) -> None:
    digest = await _put(store, b"same bytes")
    assert await store.finish_upload(UPLOAD, 0, [b"same bytes"], _hashed(b""), digest) is True
    assert await collect(store.read(digest)) == b"same bytes"
    assert await store.upload_size(UPLOAD) is None


async def test_identical_content_is_stored_once(store: BlobStore) -> None:
    data = b"same bytes"
    digest = await _put(store, data)
    other = "f" * 32
    await store.append(other, stream(data), None)
    await store.commit_upload(other, digest)
    assert await store.stat(digest) == len(data)
    assert await store.upload_size(other) is None


async def test_unknown_blobs_and_uploads(store: BlobStore) -> None:
    missing = Digest.of(b"never stored")
    assert await store.stat(missing) is None
    with pytest.raises(BlobUnknown):
        await collect(store.read(missing))
    assert await store.upload_size(UPLOAD) is None
    assert await store.delete(missing) is False
    await store.delete_upload(UPLOAD)  # idempotent


async def test_upload_ids_cannot_name_paths(store: BlobStore) -> None:
    for bad in ("../../etc/passwd", "ABC", "", "0" * 33):
        with pytest.raises(ValueError, match="malformed upload id"):
            await store.append(bad, stream(b"x"), None)
        with pytest.raises(ValueError, match="malformed upload id"):
            await store.finish_upload(bad, 0, [b"x"], _hashed(b""), Digest.of(b"x"))


async def test_delete_and_list_uploads(store: BlobStore) -> None:
    digest = await _put(store, b"to delete")
    assert await store.delete(digest) is True
    assert await store.stat(digest) is None
    assert await store.list_uploads() == []  # an upload has data from its first write
    await store.append(UPLOAD, stream(b""), None)
    assert await store.list_uploads() == [UPLOAD]
    await store.delete_upload(UPLOAD)
    assert await store.list_uploads() == []


async def test_empty_blob(store: BlobStore) -> None:
    digest = await _put(store, b"")
    assert await store.stat(digest) == 0
    assert await collect(store.read(digest)) == b""


async def test_an_upload_never_written_to_reads_empty_and_only_finishing_makes_a_blob_of_it(
    store: BlobStore,
) -> None:
    """A session's data is made at its first write: before it, the upload holds nothing.
    ``commit_upload`` publishes what it finds, so it must not find nothing: an upload whose
    data was removed after the caller hashed it (a cancel from another process) would
    otherwise become an empty blob under the digest of what it held."""
    assert await store.upload_size(UPLOAD) is None
    assert await collect(store.read_upload(UPLOAD)) == b""
    held = Digest.of(b"what it held")
    with pytest.raises(FileNotFoundError):
        await store.commit_upload(UPLOAD, held)
    assert await store.stat(held) is None
    empty = Digest.of(b"")
    with pytest.raises(FileNotFoundError):
        await store.commit_upload(UPLOAD, empty)
    other = "e" * 32
    assert await store.finish_upload(other, 0, [], _hashed(b""), empty) is True
    assert await store.stat(empty) == 0
    assert await store.finish_upload(UPLOAD, 0, [b"first"], _hashed(b""), Digest.of(b"first")) is True
    assert await collect(store.read(Digest.of(b"first"))) == b"first"
    assert await store.list_uploads() == []


async def _put(store: BlobStore, data: bytes) -> Digest:
    digest = Digest.of(data)
    await store.append(UPLOAD, stream(data), None)
    await store.commit_upload(UPLOAD, digest)
    return digest


async def test_filesystem_store_is_atomic_on_disk(tmp_path: Path) -> None:
    """Only whole, verified files ever appear under blobs/; uploads are private (0600)."""
    store = FilesystemBlobStore(tmp_path)
    upload_file = tmp_path / "uploads" / UPLOAD
    await store.append(UPLOAD, stream(b"partial"), None)
    assert upload_file.stat().st_mode & 0o777 == 0o600
    assert list((tmp_path / "blobs").rglob("*")) == []
    digest = Digest.of(b"partial")
    await store.commit_upload(UPLOAD, digest)
    assert (tmp_path / "blobs" / "sha256" / digest.encoded[:2] / digest.encoded).read_bytes() == b"partial"


async def test_filesystem_finish_that_fails_before_publishing_leaves_the_upload_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last chunk was written and synced; publishing then fails (here, making the
    blob's folder): the chunk is cut off again, so the caller has nothing to undo."""
    store = FilesystemBlobStore(tmp_path)
    await store.append(UPLOAD, stream(b"abc"), None)

    def broken_folder(path: Path) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(filesystem, "_private_folder", broken_folder)
    digest = Digest.of(b"abcdef")
    with pytest.raises(OSError, match="I/O error"):
        await store.finish_upload(UPLOAD, 3, [b"def"], _hashed(b"abc"), digest)
    assert await store.upload_size(UPLOAD) == 3
    assert await collect(store.read_upload(UPLOAD)) == b"abc"
    monkeypatch.undo()
    assert await store.finish_upload(UPLOAD, 3, [b"def"], _hashed(b"abc"), digest) is True
    assert await collect(store.read(digest)) == b"abcdef"
