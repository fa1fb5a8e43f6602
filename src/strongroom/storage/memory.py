"""Blobs in process memory: for tests and throwaway registries, never for real data."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from strongroom.errors import BlobUnknown
from strongroom.oci.digest import Digest, Hasher
from strongroom.storage.base import READ_CHUNK
from strongroom.storage.batching import batches
from strongroom.storage.layout import upload_key


class MemoryBlobStore:
    def __init__(self) -> None:
        self._blobs: dict[Digest, bytes] = {}
        self._uploads: dict[str, bytearray] = {}

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

    async def create_upload(self, upload_id: str) -> None:
        upload_key(upload_id)  # same id rules as every store
        self._uploads[upload_id] = bytearray()

    async def upload_size(self, upload_id: str) -> int | None:
        data = self._uploads.get(upload_id)
        return None if data is None else len(data)

    async def append(self, upload_id: str, chunks: AsyncIterable[bytes], hasher: Hasher | None) -> int:
        data = self._uploads.get(upload_id)
        if data is None:
            raise FileNotFoundError(f"upload {upload_id} has no data")
        async for batch in batches(chunks):
            for piece in batch:
                data += piece
                if hasher is not None:
                    hasher.update(piece)
        return len(data)

    async def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        data = bytes(self._uploads[upload_id])
        for position in range(0, len(data), READ_CHUNK):
            yield data[position : position + READ_CHUNK]

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        data = self._uploads.pop(upload_id)
        self._blobs.setdefault(digest, bytes(data))

    async def truncate_upload(self, upload_id: str, size: int) -> None:
        del self._uploads[upload_id][size:]

    async def delete_upload(self, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)

    async def list_uploads(self) -> list[str]:
        return list(self._uploads)

    async def delete(self, digest: Digest) -> bool:
        return self._blobs.pop(digest, None) is not None

    async def check_writable(self) -> None:
        return None
