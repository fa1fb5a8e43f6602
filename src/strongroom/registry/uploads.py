"""Blob uploads: monolithic, chunked and streamed; resumable (mounts: :mod:`strongroom.registry.mounts`).

Session state lives server-side (an ``uploads`` row plus the bytes in the blob
store), so any Location a client was given stays valid for the whole session
(distribution-spec §5.3). The running hash is kept in this process for speed; when
it is missing or stale (a restart, another node) the bytes are re-hashed at commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import anyio

from strongroom.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    UploadRangeInvalid,
)
from strongroom.metadata.records import Repository, Upload
from strongroom.oci.digest import Digest, Hasher, new_hasher
from strongroom.oci.names import RepositoryRef
from strongroom.registry.context import RegistryContext
from strongroom.registry.upload_bodies import ContentRange, at_most, whole_body
from strongroom.storage.batching import BATCH_BYTES
from strongroom.storage.layout import is_upload_id

WRITE_CLAIM = timedelta(seconds=10)
"""How long a claim on an upload lasts unless renewed: a process that died mid-write
holds the session no longer than this (then its stored bytes are taken as they are)."""

CLAIM_RENEWAL = timedelta(seconds=2)
"""How often a long write renews its claim."""

WHOLE_LAST_CHUNK = BATCH_BYTES
"""A last chunk up to this size (one write batch: memory an upload holds in any case) is
read whole, then verified, written and published in one hand-off to a worker thread
(:meth:`Uploads._finish_whole`); the claim and the record before and after it are small
writes on the event loop."""


@dataclass(frozen=True, slots=True)
class UploadState:
    id: str
    size: int
    busy_for: float = 0.0
    """Seconds until the claim of the request writing to the upload lapses (0 when none
    writes): a client that lost its connection waits that long rather than send a chunk
    the server must refuse while a writer that may have died holds the upload."""


@dataclass
class _Progress:
    algorithm: str
    hasher: Hasher
    size: int


@dataclass
class _Claim:
    """This request's hold on an upload (:meth:`Uploads._claim`)."""

    upload_id: str
    writer: str
    start: int | None = None
    """The bytes the upload held when this request began writing (None until known)."""
    size: int = 0
    """The bytes it holds now; set as the request writes."""
    finished: bool = False
    """The upload became a blob: there is no session left to release."""


@dataclass
class _Session:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    progress: _Progress | None = None


class Uploads:
    def __init__(self, context: RegistryContext) -> None:
        self._context = context
        self._sessions: dict[str, _Session] = {}

    async def start(
        self, ref: RepositoryRef, algorithm: str = "sha256", known: Repository | None = None
    ) -> UploadState:
        """``known``: the repository's row, if the caller has just read it."""
        return UploadState((await self._begin(ref, algorithm, writer=None, known=known)).id, 0)

    async def _begin(
        self, ref: RepositoryRef, algorithm: str, writer: str | None, known: Repository | None = None
    ) -> Upload:
        new_hasher(algorithm)  # refuse unsupported algorithms before creating anything
        now = self._context.clock.now()
        repository = await self._context.repository_for_push(ref, known)
        upload = Upload(self._context.ids.new_id(), repository.id, algorithm, now, now, writer=writer)
        # The row only: the store makes the data at the first write (data without a row is
        # an orphan that expiry may remove at once, so the row always comes first).
        await self._context.metadata.create_upload(upload)
        self._sessions[upload.id] = _Session(progress=_Progress(algorithm, new_hasher(algorithm), 0))
        return upload

    async def status(self, ref: RepositoryRef, upload_id: str) -> UploadState:
        """The bytes stored so far, also while a request is still writing them."""
        upload = await self._upload(ref, upload_id)
        busy_for = 0.0
        if upload.writer is not None:
            lapses = upload.updated_at + WRITE_CLAIM - self._context.clock.now()
            busy_for = max(0.0, lapses.total_seconds())
        return UploadState(upload_id, await self._stored_size(upload_id), busy_for)

    async def append(
        self,
        ref: RepositoryRef,
        upload_id: str,
        chunks: AsyncIterable[bytes],
        content_range: ContentRange | None = None,
    ) -> UploadState:
        claim = await self._claim(ref, upload_id, content_range)
        async with self._claimed(claim) as session:
            await self._measure(claim, content_range)
            await self._write(claim, session, self._renewing(claim, chunks), content_range)
        return UploadState(upload_id, claim.size)

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
        claim = await self._claim(ref, upload_id, content_range)
        return await self._complete(claim, digest, chunks, content_range)

    async def _complete(
        self,
        claim: _Claim,
        digest: Digest,
        chunks: AsyncIterable[bytes] | None,
        content_range: ContentRange | None,
    ) -> int:
        async with self._claimed(claim, keep_partial=False) as session:
            last: list[bytes] | None = [] if chunks is None else None
            if chunks is not None:
                # Renewed while the body arrives, also when it is read whole first: a claim
                # that lapsed meanwhile (a slow client) may have been taken, and the bytes
                # are then another writer's to publish.
                chunks = self._renewing(claim, chunks)
                if content_range is None:
                    last, chunks = await whole_body(chunks, WHOLE_LAST_CHUNK)
            try:
                if last is None or not await self._finish_whole(claim, session, digest, last):
                    await self._measure(claim, content_range)
                    if chunks is not None:
                        await self._write(claim, session, chunks, content_range)
                    digest.verify(await self._digest(claim.upload_id, session, digest.algorithm, claim.size))
                    await self._context.blobs.commit_upload(claim.upload_id, digest)
            except FileNotFoundError:  # its data removed meanwhile (a cancel, expiry) by another process
                raise BlobUploadUnknown(claim.upload_id) from None
            if not await self._context.metadata.finish_upload(
                claim.upload_id, str(digest), claim.size, self._context.clock.now()
            ):  # cancelled or expired meanwhile: the blob is published, and garbage until linked
                raise BlobUploadUnknown(claim.upload_id)
            claim.finished = True
            self._sessions.pop(claim.upload_id, None)
        return claim.size

    async def _finish_whole(
        self, claim: _Claim, session: _Session, digest: Digest, last: list[bytes]
    ) -> bool:
        """The path of every push whose last request fits in memory: when the hash of
        what the upload holds so far is known here (this process hashed it, or the upload
        is still empty), the store checks the digest with ``last`` added, and writes and
        publishes in one step (DIGEST_INVALID when it differs). False, leaving the upload
        as it was, when the bytes stored are not the ones hashed here: the general path
        then decides. The store leaves the upload as it was on any failure, so the claim
        has no start to cut back to."""
        progress = session.progress
        if progress is not None and progress.algorithm == digest.algorithm:
            start, hasher = progress.size, progress.hasher.copy()
        else:  # another process took the POST: right if nothing was stored since
            start, hasher = 0, new_hasher(digest.algorithm)
        if not await self._context.blobs.finish_upload(claim.upload_id, start, last, hasher, digest):
            return False
        claim.size = start + sum(len(piece) for piece in last)
        return True

    async def upload_whole(
        self,
        ref: RepositoryRef,
        digest: Digest,
        chunks: AsyncIterable[bytes],
        known: Repository | None = None,
    ) -> int:
        """A single-request (monolithic) upload: ``POST ?digest=`` with the body. The
        session is created already claimed by this request: nobody else knows its id."""
        upload = await self._begin(ref, digest.algorithm, writer=self._context.ids.new_id(), known=known)
        assert upload.writer is not None
        try:
            return await self._complete(_Claim(upload.id, upload.writer), digest, chunks, None)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._discard(upload.id)
            raise

    async def cancel(self, ref: RepositoryRef, upload_id: str) -> None:
        await self._upload(ref, upload_id)
        async with self._session(upload_id).lock:
            await self._discard(upload_id)

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
        upload, here = await self._context.metadata.get_upload_in(upload_id, ref.account_id, ref.name)
        if upload is None:
            raise BlobUploadUnknown(upload_id)
        if not here:
            await self._context.repository(ref)  # NAME_UNKNOWN when there is no such repository
            raise BlobUploadUnknown(upload_id)
        return upload

    def _session(self, upload_id: str) -> _Session:
        return self._sessions.setdefault(upload_id, _Session())

    async def _claim(self, ref: RepositoryRef, upload_id: str, content_range: ContentRange | None) -> _Claim:
        """Be the upload's one writer, across processes: a compare-and-set on the upload's
        row, which also checks that it belongs to ``ref`` (``claim_upload_in``). It
        succeeds only while nobody else writes and, with a ``Content-Range``, only when
        the recorded size is ``start``; so of two requests carrying the same range, in
        any processes, one is taken and the other answers 416. A refused claim reads
        the upload again to say why (unknown here, or taken)."""
        if not is_upload_id(upload_id):
            raise BlobUploadUnknown(upload_id[:64])
        now = self._context.clock.now()
        writer = self._context.ids.new_id()
        start = content_range.start if content_range is not None else None
        if not await self._context.metadata.claim_upload_in(
            upload_id, ref.account_id, ref.name, writer, start, now, lapsed_before=now - WRITE_CLAIM
        ):
            await self._upload(ref, upload_id)  # BLOB_UPLOAD_UNKNOWN / NAME_UNKNOWN
            raise _range_invalid(upload_id, start, await self._stored_size(upload_id))
        return _Claim(upload_id, writer)

    @asynccontextmanager
    async def _claimed(self, claim: _Claim, *, keep_partial: bool = True) -> AsyncIterator[_Session]:
        """Hold ``claim`` for the block, under this process's lock on the session.

        The bytes stored are the truth (a writer that died left them; its claim lapsed
        after :data:`WRITE_CLAIM`): :meth:`_measure` reads them under the claim, and the
        size is advanced when the claim is released. When the request fails, the bytes
        it stored are kept (``keep_partial``: a PATCH the client may resume) or cut off."""
        metadata, clock = self._context.metadata, self._context.clock
        session = self._session(claim.upload_id)  # the upload exists: the claim found it
        try:
            async with session.lock:
                yield session
        except BaseException:
            with anyio.CancelScope(shield=True):
                if await metadata.renew_upload_claim(claim.upload_id, claim.writer, clock.now()):
                    if not keep_partial and claim.start is not None:
                        await self._cut_to(claim.upload_id, claim.start)
                    size = await self._context.blobs.upload_size(claim.upload_id)
                    await metadata.release_upload(claim.upload_id, claim.writer, size or 0, clock.now())
            raise
        if claim.finished:
            return
        if not await metadata.release_upload(claim.upload_id, claim.writer, claim.size, clock.now()):
            raise BlobUploadInvalid(
                "the upload was taken over by another request while this one wrote; retry"
            )

    async def _measure(self, claim: _Claim, content_range: ContentRange | None) -> None:
        """Read the bytes stored under the claim; a ``Content-Range`` must start there."""
        stored = await self._stored_size(claim.upload_id)
        claim.start = claim.size = stored
        if content_range is not None and content_range.start != stored:
            raise _range_invalid(claim.upload_id, content_range.start, stored)

    async def _stored_size(self, upload_id: str) -> int:
        """The bytes stored for an upload whose row was found (none before its first write)."""
        return await self._context.blobs.upload_size(upload_id) or 0

    async def _write(
        self,
        claim: _Claim,
        session: _Session,
        chunks: AsyncIterable[bytes],
        content_range: ContentRange | None,
    ) -> None:
        """Append ``chunks`` (already passed through :meth:`_renewing`)."""
        upload_id = claim.upload_id
        if content_range is not None:  # its start is the claim's: _measure checked it
            chunks = at_most(chunks, content_range.length)
        progress = session.progress
        if progress is None or progress.size != claim.size:
            # Hash state unknown here (restart, or another node took a chunk): hash at commit.
            progress = session.progress = None
        try:
            claim.size = await self._context.blobs.append(
                upload_id, chunks, progress.hasher if progress else None
            )
        except BaseException:
            if progress is not None:
                # append() hashes exactly the bytes it kept, even when it fails part-way.
                progress.size = await self._stored_size(upload_id)
            raise
        if progress is not None:
            progress.size = claim.size  # what append() kept and hashed

    async def _renewing(self, claim: _Claim, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """Pass the chunks through, renewing the claim while a long request goes on; when
        it was taken over meanwhile, BLOB_UPLOAD_INVALID. Each chunk, and the end of the
        body, leaves the claim about ``WRITE_CLAIM - CLAIM_RENEWAL`` to run at least."""
        clock = self._context.clock
        renewed = clock.now()
        async for chunk in chunks:
            if clock.now() - renewed >= CLAIM_RENEWAL:
                renewed = await self._renew(claim)
            yield chunk
        if clock.now() - renewed >= CLAIM_RENEWAL:
            await self._renew(claim)

    async def _renew(self, claim: _Claim) -> datetime:
        now = self._context.clock.now()
        if not await self._context.metadata.renew_upload_claim(claim.upload_id, claim.writer, now):
            raise BlobUploadInvalid("the upload was taken over by another request while this one wrote")
        return now

    async def _digest(self, upload_id: str, session: _Session, algorithm: str, size: int) -> Digest:
        progress = session.progress
        if progress is not None and progress.algorithm == algorithm and progress.size == size:
            return Digest(algorithm, progress.hasher.hexdigest())
        hasher = new_hasher(algorithm)
        async for chunk in self._context.blobs.read_upload(upload_id):
            await anyio.to_thread.run_sync(hasher.update, chunk)
        return Digest(algorithm, hasher.hexdigest())

    async def _cut_to(self, upload_id: str, size: int) -> None:
        current = await self._context.blobs.upload_size(upload_id)
        if current is not None and current > size:
            await self._context.blobs.truncate_upload(upload_id, size)

    async def _discard(self, upload_id: str) -> None:
        await self._context.blobs.delete_upload(upload_id)
        await self._context.metadata.delete_upload(upload_id)
        self._sessions.pop(upload_id, None)


def _range_invalid(upload_id: str, start: int | None, size: int) -> UploadRangeInvalid:
    if start is not None and start != size:
        message = f"chunk starts at byte {start}, but the upload holds {size} bytes"
    else:
        message = "another request is writing to this upload; ask for its status and continue from there"
    return UploadRangeInvalid(message, upload_id=upload_id, size=size)
