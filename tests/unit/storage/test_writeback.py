"""Each batch a durable filesystem store writes has its writeback started at once; the
kernel call is accepted for a regular file and refused, without raising, where it cannot
apply."""

from __future__ import annotations

import hashlib
import mmap
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from strongroom import libc
from strongroom.storage import filesystem
from strongroom.storage.batching import BATCH_BYTES
from strongroom.storage.filesystem import FilesystemBlobStore

UPLOAD = "0123456789abcdef0123456789abcdef"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_the_kernel_accepts_it_for_a_file_and_refuses_it_for_a_pipe(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"x" * 10_000)
        assert libc.start_writeback(fd, 0, 10_000)
        assert not libc.start_writeback(fd, 0, 0)  # nothing to write
    finally:
        os.close(fd)
    read, write = os.pipe()
    try:
        assert not libc.start_writeback(read, 0, 10)  # ESPIPE: an error code, not an exception
    finally:
        os.close(read)
        os.close(write)


async def _stream(data: bytes, piece: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


@pytest.mark.anyio
@pytest.mark.parametrize("durable", [True, False])
async def test_every_batch_written_by_a_durable_store_has_its_writeback_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    started: list[tuple[int, int]] = []
    real = filesystem.start_writeback

    def recording(fd: int, offset: int, length: int) -> bool:
        started.append((offset, length))
        return real(fd, offset, length)

    monkeypatch.setattr(filesystem, "start_writeback", recording)
    store = FilesystemBlobStore(tmp_path, durable=durable)
    data = os.urandom(2 * BATCH_BYTES + 4_321)
    hasher = hashlib.sha256()
    assert await store.append(UPLOAD, _stream(data, 300_000), hasher) == len(data)
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    if not durable:
        assert started == []
        return
    # consecutive ranges of whole pages, one per batch, covering every whole page written
    # (batches of at least 1 MiB: four pieces of 300,000 bytes, then the rest)
    first_end = 1_200_000 - 1_200_000 % mmap.PAGESIZE
    last_end = len(data) - len(data) % mmap.PAGESIZE
    assert started == [(0, first_end), (first_end, last_end - first_end)]
