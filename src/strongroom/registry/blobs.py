"""Reading and unlinking blobs of a repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from strongroom.errors import BlobUnknown
from strongroom.oci.digest import Digest
from strongroom.oci.names import RepositoryRef
from strongroom.registry.context import RegistryContext
from strongroom.registry.pull_gate import Puller, PullGate


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start``..``end`` inclusive of a blob of ``total`` bytes."""

    start: int
    end: int
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True, slots=True)
class FoundBlob:
    """What ``GET /v2/<name>/blobs/<digest>`` serves."""

    size: int
    manifest: bytes | None = None
    """A manifest's stored bytes, when the digest names a manifest of the repository
    rather than a blob: a manifest is content like any other, and clients resolving a
    digest (containerd tries ``manifests/`` then ``blobs/``) may read it either way."""


class Blobs:
    def __init__(self, context: RegistryContext, gate: PullGate | None = None) -> None:
        self._context = context
        self._gate = gate

    async def find(self, ref: RepositoryRef, digest: Digest, *, pull: Puller | None = None) -> FoundBlob:
        """The blob, or the manifest with that digest. A manifest read this way (``pull``:
        a GET by this puller) passes the pull gate as a manifest GET does, or a client
        could read past the gate by asking ``blobs/`` for what ``manifests/`` refuses."""
        size, found = await self._context.metadata.find_blob(ref.account_id, ref.name, str(digest))
        if size is not None:
            return FoundBlob(size)
        if found is None or found.manifest is None:
            raise BlobUnknown(str(digest))
        if pull is not None and found.gated and self._gate is not None and found.repository_id is not None:
            await self._gate.check(ref, found.repository_id, found.manifest.digest, pull)
        return FoundBlob(len(found.manifest.content), found.manifest.content)

    async def size(self, ref: RepositoryRef, digest: Digest) -> int:
        size = await self._context.metadata.linked_blob_size(ref.account_id, ref.name, str(digest))
        if size is None:
            raise BlobUnknown(str(digest))
        return size

    def read(self, digest: Digest, byte_range: ByteRange | None = None) -> AsyncIterator[bytes]:
        """Stream a blob whose presence ``size()`` established."""
        if byte_range is None:
            return self._context.blobs.read(digest)
        return self._context.blobs.read(digest, byte_range.start, byte_range.end + 1)

    def local_path(self, digest: Digest) -> Path | None:
        """A local file with the whole blob, when the store has one (see ``BlobLocator``)."""
        return self._context.blobs.local_path(digest)

    async def unlink(self, ref: RepositoryRef, digest: Digest) -> None:
        """Remove the blob from the repository; its bytes stay until garbage collection."""
        repository = await self._context.repository(ref)
        if not await self._context.metadata.unlink_blob(repository.id, str(digest)):
            raise BlobUnknown(str(digest))
