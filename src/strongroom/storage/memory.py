"""Blobs in process memory: for tests and throwaway registries, never for real data."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path

from strongroom.clock import Clock, SystemClock
from strongroom.errors import BlobUnknown
from strongroom.oci.digest import Digest, Hasher
from strongroom.storage.base import READ_CHUNK, AsideBlob, StoredBlob
from strongroom.storage.batching import batches
from strongroom.storage.layout import trash_key, upload_key


class MemoryBlobStore:
    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._blobs: dict[Digest, bytes] = {}
        self._modified: dict[Digest, datetime] = {}
        self._uploads: dict[str, bytearray] = {}
        self._aside: dict[str, tuple[AsideBlob, bytes]] = {}
        self._tokens = itertools.count()

    async def stat(self, digest: Digest) -> int | None:
        blob = self._blobs.get(digest)
        return None if blob is None else len(blob)

    def local_path(self, digest: Digest) -> Path | None:
        return None

    async def read(self, digest: Digest, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        blob = self._blobs.get(digest)
        if blob is None:
            raise BlobUnknown(str(digest))
        stop = len(blob) if end is None else min(end, len(blob))
        for position in range(start, stop, READ_CHUNK):
            yield blob[position : min(position + READ_CHUNK, stop)]

    def _upload(self, upload_id: str) -> bytearray:
        """The upload's bytes, made at the first write."""
        upload_key(upload_id)  # same id rules as every store
        return self._uploads.setdefault(upload_id, bytearray())

    async def upload_size(self, upload_id: str) -> int | None:
        data = self._uploads.get(upload_id)
        return None if data is None else len(data)

    async def append(self, upload_id: str, chunks: AsyncIterable[bytes], hasher: Hasher | None) -> int:
        data = self._upload(upload_id)
        async for batch in batches(chunks):
            for piece in batch:
                data += piece
                if hasher is not None:
                    hasher.update(piece)
        return len(data)

    async def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        data = bytes(self._uploads.get(upload_id, b""))
        for position in range(0, len(data), READ_CHUNK):
            yield data[position : position + READ_CHUNK]

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        data = self._uploads.pop(upload_id, None)
        if data is None:
            raise FileNotFoundError(f"upload {upload_id} has no data")
        self._blobs.setdefault(digest, bytes(data))
        self._modified[digest] = self._clock.now()

    async def finish_upload(
        self, upload_id: str, start: int, last: Sequence[bytes], hasher: Hasher, digest: Digest
    ) -> bool:
        if start and upload_id not in self._uploads:
            raise FileNotFoundError(f"upload {upload_id} has no data")
        data = self._upload(upload_id)
        if len(data) != start:
            return False
        for piece in last:
            hasher.update(piece)
        digest.verify(Digest(digest.algorithm, hasher.hexdigest()))
        data += b"".join(last)
        await self.commit_upload(upload_id, digest)
        return True

    async def truncate_upload(self, upload_id: str, size: int) -> None:
        del self._uploads[upload_id][size:]

    async def delete_upload(self, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)

    async def list_uploads(self) -> list[str]:
        return list(self._uploads)

    async def delete(self, digest: Digest) -> bool:
        self._modified.pop(digest, None)
        return self._blobs.pop(digest, None) is not None

    async def check_writable(self) -> None:
        return None

    async def touch(self, digest: Digest) -> bool:
        if digest not in self._blobs:
            return False
        self._modified[digest] = self._clock.now()
        return True

    async def list_blobs(self) -> AsyncIterator[StoredBlob]:
        for digest, data in list(self._blobs.items()):
            yield StoredBlob(digest, len(data), self._modified[digest])

    async def set_aside(self, digest: Digest, now: datetime) -> AsideBlob | None:
        data = self._blobs.pop(digest, None)
        if data is None:
            return None
        key = trash_key(digest, int(now.timestamp()), f"{next(self._tokens):x}")
        aside = AsideBlob(digest, key, len(data), self._modified.pop(digest), now)
        self._aside[key] = (aside, data)
        return aside

    async def restore(self, aside: AsideBlob) -> None:
        kept = self._aside.pop(aside.key, None)
        if kept is not None and aside.digest not in self._blobs:
            self._blobs[aside.digest] = kept[1]
            self._modified[aside.digest] = kept[0].modified_at

    async def purge(self, aside: AsideBlob) -> None:
        self._aside.pop(aside.key, None)

    async def list_set_aside(self) -> list[AsideBlob]:
        return [aside for aside, _ in self._aside.values()]
