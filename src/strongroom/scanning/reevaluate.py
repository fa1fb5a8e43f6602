"""Continuous scanning: re-evaluating scanned images when the vulnerability database
changes, from their stored layer inventories, without reading a layer.

``vulndb import`` and ``vulndb sync`` queue one ``scan.reevaluate`` job when they
changed the database, keyed by its new state (two imports of the same data queue one).
The job walks every image whose last scan is COMPLETE in a repository continuous
scanning covers (:mod:`.continuous`): an image past its rescan duration becomes
``SCAN_ELIGIBILITY_EXPIRED``; the others are scanned by the same engine with a blob
reader and an analyser that refuse, so their inventories can only come from the
``layer_inventories`` cache, and their packages are matched against the database as it
is now. Results are stored by the scan job's own path (:class:`.on_push.ImageScanner`),
so findings open and close, and ``scan.finding.new`` / ``scan.finding.closed`` /
``scan.complete`` are announced, exactly as after a scan.

An image whose inventory is not stored (the analyser version changed, or an oras file
pushed under a tar type, which is cached as nothing) is queued for a full ``scan.image``
instead. Model-file findings of an artifact's blobs depend only on the bytes, so they
are carried over rather than read again. The same job kind, offered periodically with
``expire_only``, lets eligibility expire when the database does not change.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NoReturn

import anyio.to_thread

from strongroom.analysis.inventory import LayerInventory
from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.streams import Reader
from strongroom.clock import Clock
from strongroom.jobs.schedule import Periodic
from strongroom.metadata.continuous_scans import RepositoryScanning, ScannedImage, SqlContinuousScanStore
from strongroom.metadata.jobs import Job, SqlJobStore
from strongroom.metadata.outbox import NewJob
from strongroom.metadata.scans import COMPLETE, NewFinding, ScanOutcome, SqlScanStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.metadata.vulndb import DatabaseState, SqlVulnStore
from strongroom.scanning import continuous
from strongroom.scanning.engine import ImageScan, ScanError, scan_manifest
from strongroom.scanning.findings import MODEL
from strongroom.scanning.on_push import COMPLETED, SCAN, ImageScanner, ScanTarget, scan_job
from strongroom.scanning.registry_blobs import LayersInAnalysis, PersistentLayerCache

logger = logging.getLogger("strongroom.scanning")

REEVALUATE = "scan.reevaluate"
REEVALUATE_MAX_ATTEMPTS = 4
EXPIRY_INTERVAL = timedelta(hours=6)
"""How often eligibility is checked when the database does not change."""


def reevaluate_job(state: DatabaseState) -> NewJob:
    """The job an import that changed the database queues, keyed by its new state."""
    return NewJob(
        REEVALUATE,
        {"state": state.key},
        idempotency_key=f"{REEVALUATE}:{state.key}",
        max_attempts=REEVALUATE_MAX_ATTEMPTS,
    )


async def queue_reevaluation(vulns: SqlVulnStore, jobs: SqlJobStore, now: datetime) -> bool:
    """After an import that changed the database: queue its re-evaluation (False when a
    job for the same state is queued already)."""
    [queued] = await jobs.enqueue([reevaluate_job(await vulns.state())], now)
    return queued is not None


def expiry_schedule() -> Periodic:
    return Periodic(REEVALUATE, EXPIRY_INTERVAL, {"expire_only": True})


class BlobReadRefused(Exception):
    """Re-evaluation needed a blob's bytes: the image must be scanned in full. Not a
    :class:`ScanError`, so the engine passes it up unchanged."""


class RefusingBlobs:
    """The engine's blob reader and analyser for re-evaluation: manifests (read from the
    metadata store beforehand) are served, any other blob is refused and counted."""

    def __init__(self, manifests: dict[str, bytes]) -> None:
        self._manifests = manifests
        self.refused: list[str] = []

    def open(self, digest: str) -> io.BytesIO:
        manifest = self._manifests.get(digest)
        if manifest is None:
            self._refuse(digest)
        return io.BytesIO(manifest)

    def layer(self, stream: Reader) -> LayerInventory:
        self._refuse("a layer")

    def blob(self, name: str, stream: Reader, size: int | None) -> list[ModelFinding]:
        self._refuse(name)

    def _refuse(self, what: str) -> NoReturn:
        self.refused.append(what)
        raise BlobReadRefused(f"re-evaluation does not read blobs: {what} has no stored inventory")


@dataclass
class Tally:
    """What one job did, for its log line and for tests."""

    reevaluated: int = 0
    changed: int = 0
    expired: int = 0
    rescanned: int = 0
    failed: list[str] = field(default_factory=list)


class Reevaluator:
    """The ``scan.reevaluate`` job handler."""

    def __init__(
        self,
        store: SqlContinuousScanStore,
        scans: SqlScanStore,
        metadata: SqlMetadataStore,
        scanner: ImageScanner,
        clock: Clock,
        rescan_duration: str,
    ) -> None:
        self._store = store
        self._scans = scans
        self._metadata = metadata
        self._scanner = scanner
        self._clock = clock
        self._duration = rescan_duration
        self._layers = LayersInAnalysis()

    async def __call__(self, job: Job) -> None:
        tally = await self.run(
            expire_only=bool(job.payload.get("expire_only")), state=job.payload.get("state")
        )
        if tally.failed:
            # Retried: what was done is not undone, and doing it again announces nothing new.
            raise RuntimeError(f"re-evaluation failed for {len(tally.failed)} images: {tally.failed[:5]}")

    async def run(self, *, expire_only: bool = False, state: object = None) -> Tally:
        tally = Tally()
        source_updated_at = None if expire_only else await self._scanner.source_updated_at()
        for account_id, stored in sorted((await self._store.scanning_configurations()).items()):
            repositories = continuous.covered_repositories(stored, await self._store.repositories(account_id))
            for repository in repositories:
                after = None
                while page := await self._store.complete_images(repository.id, after=after):
                    after = page[-1].digest
                    for image in page:
                        await self._one(
                            account_id, repository, image, expire_only, source_updated_at, state, tally
                        )
        logger.info(
            "re-evaluation: %d images re-evaluated (%d changed), %d expired, %d queued for a full scan",
            tally.reevaluated, tally.changed, tally.expired, tally.rescanned,
        )  # fmt: skip
        return tally

    async def _one(
        self,
        account_id: str,
        repository: RepositoryScanning,
        image: ScannedImage,
        expire_only: bool,
        source_updated_at: datetime | None,
        state: object,
        tally: Tally,
    ) -> None:
        now = self._clock.now()
        if continuous.expired(image.pushed_at, image.last_pulled_at, self._duration, now):
            description = continuous.expiry_description(self._duration)
            tally.expired += await self._store.expire(repository.id, image.digest, now, description)
            return
        if expire_only:
            return
        tag = image.tags[0] if image.tags else None
        target = ScanTarget(account_id, repository.name, repository.id, image.digest, tag)
        try:
            outcome = await self.reevaluate(target, source_updated_at)
        except (BlobReadRefused, ScanError) as reason:
            logger.info("%s@%s needs a full scan: %s", repository.name, image.digest, reason)
            key = f"{SCAN}:{account_id}/{repository.name}@{image.digest}:reevaluate:{state}"
            job = scan_job(account_id, repository.name, image.digest, key, "reevaluate", tag)
            await self._scans.request(repository.id, image.digest, now, job)
            tally.rescanned += 1
        except Exception:
            logger.exception("re-evaluation of %s@%s failed", repository.name, image.digest)
            tally.failed.append(f"{repository.name}@{image.digest}")
        else:
            tally.reevaluated += outcome is not None
            tally.changed += outcome is not None and bool(outcome.new or outcome.closed)

    async def reevaluate(self, target: ScanTarget, source_updated_at: datetime | None) -> ScanOutcome | None:
        """Match one image's stored inventories against the database as it is now and
        store the result; None when the image was deleted or scanned anew meanwhile."""
        found = await self._metadata.lookup_manifest(
            target.account_id, target.repository, digest=target.digest
        )
        if found.manifest is None:
            return None
        content = found.manifest.content
        refusing = RefusingBlobs(await self._scanner.manifests(target.account_id, target.repository, content))
        cache = PersistentLayerCache(self._scans, self._layers)
        try:
            images: list[ImageScan] = await anyio.to_thread.run_sync(
                lambda: scan_manifest(target.digest, content, refusing.open, cache, refusing, files=False)
            )
        finally:
            cache.release()
        wanted: dict[str, NewFinding] = {}
        for image in images:
            wanted |= {f.key: f for f in await self._scanner.findings_of(image)}
        for kept in await self._open_model_findings(target):
            wanted.setdefault(kept.key, kept)
        return await self._scanner.finish(
            target,
            COMPLETE,
            COMPLETED,
            list(wanted.values()),
            source_updated_at=source_updated_at,
            layers=(0, cache.hits),
            only_if_status=COMPLETE,
        )

    async def _open_model_findings(self, target: ScanTarget) -> list[NewFinding]:
        """The image's open model-file findings: an artifact's files are not read again."""
        kept: list[NewFinding] = []
        after = None
        while page := await self._scans.findings(target.repository_id, target.digest, after=after):
            after = page[-1].key
            kept += [
                NewFinding(f.key, f.kind, f.name, f.severity, f.document) for f in page if f.kind == MODEL
            ]
        return kept
