"""Online garbage collection: drop blob links no image needs, then blob files no
repository links, while pushes and pulls go on.

**1. Unlink.** A link (a ``repository_blobs`` row) goes when no manifest of its
repository references the blob, the link is older than the grace period (a push links
its blobs before it stores the manifest naming them, sometimes long before), and no
upload is open in the repository (a push under way may rely on blobs it found there
with HEAD). Linking a blob again refreshes its link's time. The DELETE re-checks the
three conditions itself, in a transaction that excludes manifest pushes to that
repository (:mod:`strongroom.metadata.gc`): a push that checked its blobs first is
ordered first and its references keep them; a push ordered after finds them gone and
answers MANIFEST_BLOB_UNKNOWN, so the client uploads them again. A manifest never names
a blob its repository lacks. (Left open, and harmless: a client that found an old
unreferenced blob with HEAD and then had it unlinked gets that error and re-uploads.)

**2. Delete files.** A blob file goes when no repository links it and it was last
modified before the grace period (so bytes committed a moment before their upload
links them are spared). The race is a push that links a file it did not write: an
upload of bytes already stored (deduplicated), or a mount. The order that makes it
safe:

* writers **touch, then link**: ``commit_upload`` refreshes the stored copy's
  modification time (or publishes its own bytes when there is none) and ``mount``
  touches the blob, before the link's transaction;
* the collector **moves the file aside** (one atomic rename), then looks again: if
  the moved file's modification time is not the one it listed, or a link exists now,
  it puts the file back (never replacing a copy committed meanwhile); else it purges.

A touch before the move shows in the moved file, so the collector puts it back; a
touch after the move finds no file, so the upload publishes its own bytes and the
mount fails (BLOB_UNKNOWN: the client uploads). Either way no link names a missing
file. File times are compared for equality, so a file must be at least
:data:`MIN_FILE_AGE` old (more than the clock tick of file times) before it is a
candidate, whatever the grace period. A collector that dies between moving and
deciding leaves the file in the store's trash; a later run restores it if linked,
else purges it, once it has lain there :data:`RECOVERY_AGE` (a younger one may be a
running collector's).

A pull streaming a blob keeps reading it after a purge (an open file); a pull that
starts at the instant a racing, restored blob is aside fails once, and only then.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from strongroom.clock import Clock
from strongroom.metadata.gc import SqlGcStore, UnreferencedLink
from strongroom.storage.base import BlobStore, StoredBlob

logger = logging.getLogger("strongroom.gc")

MIN_FILE_AGE = timedelta(seconds=1)
RECOVERY_AGE = timedelta(hours=1)
BATCH = 500


@dataclass(frozen=True, slots=True)
class GcReport:
    """What a collection removed, or with ``dry_run`` would remove."""

    dry_run: bool
    grace_seconds: float
    links_removed: int
    blobs_deleted: int
    bytes_freed: int
    blobs_kept: int = 0
    """Candidates put back because a push raced the collector."""
    recovered: int = 0
    """Blobs a crashed collector had left aside, restored or purged now."""

    def as_json(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "grace_seconds": self.grace_seconds,
            "links_removed": self.links_removed,
            "blobs_deleted": self.blobs_deleted,
            "bytes_freed": self.bytes_freed,
            "blobs_kept": self.blobs_kept,
            "recovered": self.recovered,
        }


@dataclass
class _Sweep:
    deleted: int = 0
    freed: int = 0
    kept: int = 0


class GarbageCollector:
    def __init__(self, store: SqlGcStore, blobs: BlobStore, clock: Clock, grace: timedelta) -> None:
        self._store = store
        self._blobs = blobs
        self._clock = clock
        self._grace = grace

    async def collect(self, *, dry_run: bool = False, grace: timedelta | None = None) -> GcReport:
        grace = self._grace if grace is None else grace
        now = self._clock.now()
        linked_before = now - grace
        recovered = 0 if dry_run else await self._recover(now - RECOVERY_AGE)
        links = await self._store.unreferenced_links(linked_before)
        removed = links if dry_run else await self._unlink(links, linked_before)
        # A dry run removed nothing: count the links it would have removed as gone.
        ignored = Counter(link.digest for link in removed) if dry_run else Counter[str]()
        sweep = await self._sweep(min(linked_before, now - MIN_FILE_AGE), ignored, dry_run=dry_run)
        report = GcReport(
            dry_run, grace.total_seconds(), len(removed), sweep.deleted, sweep.freed, sweep.kept, recovered
        )
        if not dry_run and (report.links_removed or report.blobs_deleted or report.recovered):
            logger.info(
                "garbage collection: %d links removed, %d blobs deleted (%d bytes), %d kept, %d recovered",
                report.links_removed, report.blobs_deleted, report.bytes_freed, report.blobs_kept,
                report.recovered,
            )  # fmt: skip
        return report

    async def _unlink(
        self, links: Sequence[UnreferencedLink], linked_before: datetime
    ) -> list[UnreferencedLink]:
        by_repository: dict[int, list[str]] = defaultdict(list)
        for link in links:
            by_repository[link.repository_id].append(link.digest)
        removed: list[UnreferencedLink] = []
        for repository_id, digests in by_repository.items():
            removed += await self._store.unlink_unreferenced(repository_id, digests, linked_before)
        return removed

    async def _sweep(self, modified_before: datetime, ignored: Counter[str], *, dry_run: bool) -> _Sweep:
        sweep = _Sweep()
        batch: list[StoredBlob] = []
        async for blob in self._blobs.list_blobs():
            if blob.modified_at < modified_before:
                batch.append(blob)
            if len(batch) >= BATCH:
                await self._sweep_batch(batch, ignored, sweep, dry_run=dry_run)
                batch = []
        await self._sweep_batch(batch, ignored, sweep, dry_run=dry_run)
        return sweep

    async def _sweep_batch(
        self, candidates: Sequence[StoredBlob], ignored: Counter[str], sweep: _Sweep, *, dry_run: bool
    ) -> None:
        if not candidates:
            return
        counts = await self._store.link_counts([str(blob.digest) for blob in candidates])
        for blob in candidates:
            digest = str(blob.digest)
            if counts.get(digest, 0) > ignored[digest]:
                continue
            if dry_run:
                sweep.deleted += 1
                sweep.freed += blob.size
                continue
            aside = await self._blobs.set_aside(blob.digest, self._clock.now())
            if aside is None:
                continue  # gone already (another collector)
            if aside.modified_at != blob.modified_at or await self._store.link_counts([digest]):
                await self._blobs.restore(aside)
                sweep.kept += 1
                continue
            await self._blobs.purge(aside)
            sweep.deleted += 1
            sweep.freed += aside.size

    async def _recover(self, set_aside_before: datetime) -> int:
        leftovers = [
            aside for aside in await self._blobs.list_set_aside() if aside.set_aside_at < set_aside_before
        ]
        if not leftovers:
            return 0
        counts = await self._store.link_counts([str(aside.digest) for aside in leftovers])
        for aside in leftovers:
            if counts.get(str(aside.digest)):
                await self._blobs.restore(aside)
            else:
                await self._blobs.purge(aside)
        logger.warning("garbage collection: recovered %d blobs a collector had left aside", len(leftovers))
        return len(leftovers)
