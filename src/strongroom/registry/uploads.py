"""Blob uploads: monolithic, chunked and streamed; resumable; cross-repository mount.

Session state lives server-side (an ``uploads`` row plus the bytes in the blob
store), so any Location a client was given stays valid for the whole session
(distribution-spec §5.3). The running hash is kept in this process for speed; when
it is missing or stale (a restart, another node) the bytes are re-hashed at commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import anyio

from strongroom.errors import (
    BlobUnknown,
    BlobUploadUnknown,
    DigestInvalid,
    SizeInvalid,
    UploadRangeInvalid,
)
from strongroom.metadata.records import Upload
from strongroom.oci.digest import Digest, Hasher, new_hasher
from strongroom.oci.names import RepositoryRef
from strongroom.registry.context import RegistryContext
from strongroom.storage.layout import is_upload_id

BLOB_MOUNTING_SETTING = "BLOB_MOUNTING"
"""The account setting (ECR's) that, set to ``DISABLED``, turns mounts into uploads."""

MountingAllowed = Callable[[str], Awaitable[bool]]
"""Whether an account lets pushes mount blobs from other repositories."""


MayRead = Callable[[RepositoryRef], Awaitable[bool]]
"""Whether the caller may pull blobs from a repository (asked of the authorizer)."""

MOUNT_CANDIDATES = 20
"""Repositories a mount without ``from`` asks the authorizer about, at most."""


async def _mounting_always_allowed(account_id: str) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class UploadState:
    id: str
    size: int


@dataclass(frozen=True, slots=True)
class ContentRange:
    """An inclusive byte range ``start-end`` as sent in ``Content-Range`` on uploads."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass
class _Progress:
    algorithm: str
    hasher: Hasher
    size: int


@dataclass
class _Session:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    progress: _Progress | None = None


class Uploads:
    def __init__(
        self, context: RegistryContext, mounting_allowed: MountingAllowed = _mounting_always_allowed
    ) -> None:
        self._context = context
        self._mounting_allowed = mounting_allowed
        self._sessions: dict[str, _Session] = {}

    async def start(self, ref: RepositoryRef, algorithm: str = "sha256") -> UploadState:
        new_hasher(algorithm)  # refuse unsupported algorithms before creating anything
        metadata = self._context.metadata
        now = self._context.clock.now()
        repository = await self._context.repository_for_push(ref)
        upload_id = self._context.ids.new_id()
        # The row first: data without a row is an orphan that expiry may remove at once.
        await metadata.create_upload(Upload(upload_id, repository.id, algorithm, now, now))
        await self._context.blobs.create_upload(upload_id)
        self._sessions[upload_id] = _Session(progress=_Progress(algorithm, new_hasher(algorithm), 0))
        return UploadState(upload_id, 0)

    async def status(self, ref: RepositoryRef, upload_id: str) -> UploadState:
        await self._upload(ref, upload_id)
        return UploadState(upload_id, await self._size(upload_id))

    async def append(
        self,
        ref: RepositoryRef,
        upload_id: str,
        chunks: AsyncIterable[bytes],
        content_range: ContentRange | None = None,
    ) -> UploadState:
        upload = await self._upload(ref, upload_id)
        session = self._session(upload_id)
        async with session.lock:
            size = await self._write(upload, session, chunks, content_range)
        await self._context.metadata.touch_upload(upload_id, self._context.clock.now())
        return UploadState(upload_id, size)

    async def complete(
        self,
        ref: RepositoryRef,
        upload_id: str,
        digest: Digest,
        chunks: AsyncIterable[bytes] | None = None,
        content_range: ContentRange | None = None,
    ) -> int:
        """Append the last bytes (if any), verify the digest and publish the blob.

        Returns the blob's size. On any failure (a digest mismatch, a full disk) the
        bytes this request appended are cut off again, so the session is as it was and
        the client may retry."""
        upload = await self._upload(ref, upload_id)
        session = self._session(upload_id)
        async with session.lock:
            before = await self._size(upload_id)
            try:
                if chunks is not None:
                    await self._write(upload, session, chunks, content_range)
                size = await self._size(upload_id)
                actual = await self._digest(upload_id, session, digest.algorithm, size)
                if actual != digest:
                    raise DigestInvalid(f"content digest {actual} does not match the digest given, {digest}")
                await self._context.blobs.commit_upload(upload_id, digest)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._rewind(upload_id, session, before)
                raise
            await self._context.metadata.finish_upload(
                upload_id, str(digest), size, self._context.clock.now()
            )
            self._sessions.pop(upload_id, None)
        return size

    async def upload_whole(self, ref: RepositoryRef, digest: Digest, chunks: AsyncIterable[bytes]) -> int:
        """A single-request (monolithic) upload: ``POST ?digest=`` with the body."""
        state = await self.start(ref, digest.algorithm)
        try:
            return await self.complete(ref, state.id, digest, chunks)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._discard(state.id)
            raise

    async def cancel(self, ref: RepositoryRef, upload_id: str) -> None:
        await self._upload(ref, upload_id)
        async with self._session(upload_id).lock:
            await self._discard(upload_id)

    async def mount(self, ref: RepositoryRef, digest: Digest, source: RepositoryRef) -> int | None:
        """Link a blob of ``source`` into ``ref`` without copying; None if ``source``
        lacks it, or the account does not allow mounting. The caller has checked that
        the principal may pull from ``source``."""
        if not await self._mounting_allowed(ref.account_id):
            return None
        metadata = self._context.metadata
        size = await metadata.linked_blob_size(source.account_id, source.name, str(digest))
        if size is None:
            return None
        if not await self._context.blobs.touch(digest):  # touch, then link: see registry/gc.py
            raise BlobUnknown(str(digest))
        now = self._context.clock.now()
        repository = await self._context.repository_for_push(ref)
        await metadata.link_blob(repository.id, str(digest), size, now)
        return size

    async def mount_readable(self, ref: RepositoryRef, digest: Digest, may_read: MayRead) -> int | None:
        """A mount without ``from``: link the blob from the first repository holding it
        that the caller may read (``may_read`` is the caller's authorizer, asked per
        candidate), trying at most :data:`MOUNT_CANDIDATES`; None when there is none.
        Repositories the caller may not read are never used, so the answer tells the
        caller nothing about them."""
        if not await self._mounting_allowed(ref.account_id):
            return None
        candidates = await self._context.metadata.repositories_linking(
            str(digest), ref.account_id, MOUNT_CANDIDATES
        )
        for account_id, name in candidates:
            source = RepositoryRef(account_id, name, f"{account_id}/{name}")
            if (account_id, name) != (ref.account_id, ref.name) and await may_read(source):
                return await self.mount(ref, digest, source)
        return None

    async def expire(self, idle: timedelta) -> int:
        """Remove uploads idle for longer than ``idle``, and upload data no session owns."""
        metadata = self._context.metadata
        stale = await metadata.stale_uploads(self._context.clock.now() - idle)
        for upload_id in stale:
            await self._discard(upload_id)
        orphans = 0
        for upload_id in await self._context.blobs.list_uploads():
            if upload_id not in self._sessions and await metadata.get_upload(upload_id) is None:
                await self._context.blobs.delete_upload(upload_id)
                orphans += 1
        return len(stale) + orphans

    async def _upload(self, ref: RepositoryRef, upload_id: str) -> Upload:
        if not is_upload_id(upload_id):
            raise BlobUploadUnknown(upload_id[:64])
        upload = await self._context.metadata.get_upload(upload_id)
        if upload is None:
            raise BlobUploadUnknown(upload_id)
        repository = await self._context.repository(ref)
        if upload.repository_id != repository.id:
            raise BlobUploadUnknown(upload_id)
        return upload

    def _session(self, upload_id: str) -> _Session:
        return self._sessions.setdefault(upload_id, _Session())

    async def _size(self, upload_id: str) -> int:
        size = await self._context.blobs.upload_size(upload_id)
        if size is None:
            raise BlobUploadUnknown(upload_id)
        return size

    async def _write(
        self,
        upload: Upload,
        session: _Session,
        chunks: AsyncIterable[bytes],
        content_range: ContentRange | None,
    ) -> int:
        size = await self._size(upload.id)
        if content_range is not None:
            if content_range.start != size:
                raise UploadRangeInvalid(
                    f"chunk starts at byte {content_range.start}, but the upload holds {size} bytes",
                    upload_id=upload.id,
                    size=size,
                )
            chunks = _at_most(chunks, content_range.length)
        progress = session.progress
        if progress is None or progress.size != size:
            # Hash state unknown here (restart, or another node took a chunk): hash at commit.
            progress = session.progress = None
        try:
            new_size = await self._context.blobs.append(
                upload.id, chunks, progress.hasher if progress else None
            )
        finally:
            if progress is not None:
                # append() hashes exactly the bytes it kept, even when it fails part-way.
                progress.size = await self._size(upload.id)
        return new_size

    async def _digest(self, upload_id: str, session: _Session, algorithm: str, size: int) -> Digest:
        progress = session.progress
        if progress is not None and progress.algorithm == algorithm and progress.size == size:
            return Digest(algorithm, progress.hasher.hexdigest())
        hasher = new_hasher(algorithm)
        async for chunk in self._context.blobs.read_upload(upload_id):
            await anyio.to_thread.run_sync(hasher.update, chunk)
        return Digest(algorithm, hasher.hexdigest())

    async def _rewind(self, upload_id: str, session: _Session, size: int) -> None:
        current = await self._context.blobs.upload_size(upload_id)
        if current is not None and current > size:
            await self._context.blobs.truncate_upload(upload_id, size)
            session.progress = None  # the running hash went past `size`: re-hash at commit

    async def _discard(self, upload_id: str) -> None:
        await self._context.blobs.delete_upload(upload_id)
        await self._context.metadata.delete_upload(upload_id)
        self._sessions.pop(upload_id, None)


async def _at_most(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[bytes]:
    """Pass through at most ``limit`` bytes; more is an error, after the allowed bytes."""
    remaining = limit
    async for chunk in chunks:
        if len(chunk) > remaining:
            if remaining:
                yield chunk[:remaining]
            raise SizeInvalid(f"chunk is longer than its Content-Range ({limit} bytes)")
        remaining -= len(chunk)
        yield chunk
