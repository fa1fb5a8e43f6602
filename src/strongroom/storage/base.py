"""The BlobStore protocol, split by role (after distribution's blobs.go).

Callers ask only for the role they need; :class:`BlobStore` combines them.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from strongroom.oci.digest import Digest, Hasher

READ_CHUNK = 1024 * 1024
"""Blob reads are 1 MiB: 64 KiB reads cost four times the CPU per GB
(reference/performance-baseline.md §4)."""


class BlobStatter(Protocol):
    async def stat(self, digest: Digest) -> int | None:
        """Size of the committed blob, or None when absent."""
        ...


class BlobReader(Protocol):
    def read(self, digest: Digest, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes ``start``..``end`` (exclusive; None = to the end) of a committed blob.

        Raises ``BlobUnknown`` when absent."""
        ...


class BlobLocator(Protocol):
    def local_path(self, digest: Digest) -> Path | None:
        """A local file holding the committed blob, so an HTTP server able to send files
        itself (ASGI ``pathsend``) can serve it; None when the store keeps no such file."""
        ...


class BlobIngester(Protocol):
    """An upload's bytes, under its id. They exist from the first write (:meth:`append`
    or :meth:`finish_upload`; a session's row says whether the session exists, not
    its data): an upload never written to holds no bytes and reads as empty; only
    :meth:`finish_upload`, which hashes what it publishes, makes a blob of it."""

    async def upload_size(self, upload_id: str) -> int | None:
        """Bytes received so far, or None when the upload has no data (never written to)."""
        ...

    async def append(self, upload_id: str, chunks: AsyncIterable[bytes], hasher: Hasher | None) -> int:
        """Append a stream to the upload, feeding ``hasher`` the same bytes.

        Data arrives in batches; a batch is written whole or not at all, so after any
        failure (client gone, disk full) the upload's size and the hasher still agree.
        Returns the new size. Raises ``StorageFull`` when out of space.
        """
        ...

    def read_upload(self, upload_id: str) -> AsyncIterator[bytes]:
        """Stream the upload's bytes (used to re-hash after a restart)."""
        ...

    async def commit_upload(self, upload_id: str, digest: Digest) -> None:
        """Publish the upload's bytes under ``digest`` atomically and durably.

        The caller has verified the digest. Raises ``FileNotFoundError`` when the upload
        has no data (never written to, or removed since): nothing is published, never an
        empty blob under a digest read before. If the blob already exists the upload's
        bytes are discarded (dedup). Either way the blob's modification time is now
        afterwards, as :meth:`BlobToucher.touch` leaves it (garbage collection relies on it)."""
        ...

    async def finish_upload(
        self, upload_id: str, start: int, last: Sequence[bytes], hasher: Hasher, digest: Digest
    ) -> bool:
        """Append ``last`` (the last chunk, already in memory, as received) to an upload
        holding exactly ``start`` bytes, and publish the whole as :meth:`commit_upload`
        does if it hashes to ``digest``, in one step: for every push whose last request
        fits in memory, one hand-off to a worker thread.

        ``hasher`` holds the hash of the upload's first ``start`` bytes; the store feeds it
        ``last`` (it is the caller's copy, used up). False when the upload does not hold
        ``start`` bytes; ``DigestInvalid`` when the whole does not hash to ``digest``;
        ``FileNotFoundError`` when ``start`` is not 0 and the upload has no data (removed).
        Whatever fails before the blob is published leaves the upload as it was."""
        ...

    async def truncate_upload(self, upload_id: str, size: int) -> None:
        """Cut the upload back to its first ``size`` bytes (undo a rejected last chunk)."""
        ...

    async def delete_upload(self, upload_id: str) -> None: ...

    async def list_uploads(self) -> list[str]: ...


class BlobDeleter(Protocol):
    async def delete(self, digest: Digest) -> bool: ...


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A committed blob as garbage collection sees it."""

    digest: Digest
    size: int
    modified_at: datetime
    """When it was committed or last touched (timezone-aware)."""


@dataclass(frozen=True, slots=True)
class AsideBlob:
    """A blob that :meth:`BlobSweeper.set_aside` moved out of sight, until restored or purged."""

    digest: Digest
    key: str
    """Where the store keeps it meanwhile."""
    size: int
    modified_at: datetime
    """Its modification time once out of sight: a touch that raced the move shows here."""
    set_aside_at: datetime


class BlobToucher(Protocol):
    async def touch(self, digest: Digest) -> bool:
        """Make the blob's modification time now, before linking it anew (a mount);
        False when it is absent. The protocol with garbage collection is drawn in
        :mod:`strongroom.registry.gc`."""
        ...


class BlobSweeper(Protocol):
    """What garbage collection needs: every blob with its age, and a delete in two
    steps (set aside, then purge or restore) so a racing push can still win."""

    def list_blobs(self) -> AsyncIterator[StoredBlob]: ...

    async def set_aside(self, digest: Digest, now: datetime) -> AsideBlob | None:
        """Move the blob out of sight atomically; None when it is absent."""
        ...

    async def restore(self, aside: AsideBlob) -> None:
        """Put it back, unless the same content was committed meanwhile (then drop it)."""
        ...

    async def purge(self, aside: AsideBlob) -> None: ...

    async def list_set_aside(self) -> list[AsideBlob]:
        """Blobs set aside and neither restored nor purged (a collector crashed, or runs)."""
        ...


class BlobStore(
    BlobStatter, BlobReader, BlobLocator, BlobIngester, BlobDeleter, BlobToucher, BlobSweeper, Protocol
):
    """Every role together; implementations: filesystem, memory."""

    async def check_writable(self) -> None:
        """Raise OSError when the store cannot take writes (readiness probe)."""
        ...
