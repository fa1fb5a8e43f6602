"""Scan on push: which pushes queue a scan, and the job that scans an image in the registry.

A push queues a ``scan.image`` job in its own transaction (the outbox) when the
repository scans on push or a registry scanning rule covers it. The job reads the image
from the registry (layers from the blob store, through the persistent layer cache),
analyses it in isolated children, matches the packages against the vulnerability
database, and stores status and findings with their events in one transaction. It is
idempotent: run again after a crash, it scans again and finds the same findings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread

from strongroom.analysis.inventory import Inventory
from strongroom.analysis.vulns.match import match
from strongroom.analysis.vulns.osv import ecosystem_of, normalise_name
from strongroom.clock import Clock, IdFactory
from strongroom.events.catalogue import SCAN_COMPLETE, SCAN_FINDING_CLOSED, SCAN_FINDING_NEW
from strongroom.metadata.jobs import Job
from strongroom.metadata.outbox import ManifestChange, NewEvent, NewJob, Outbox
from strongroom.metadata.scans import (
    COMPLETE,
    FAILED,
    IN_PROGRESS,
    UNSUPPORTED_IMAGE,
    NewFinding,
    ScanOutcome,
    SqlScanStore,
)
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.metadata.vulndb import SqlVulnStore
from strongroom.scanning import configuration, findings, vulndb
from strongroom.scanning.engine import MAX_MANIFEST_BYTES, Analyser, ImageScan, ScanError, scan_manifest
from strongroom.scanning.registry_blobs import LayersInAnalysis, PersistentLayerCache, RegistryBlobs
from strongroom.scanning.sbom_referrer import SbomPublisher, sboms_of
from strongroom.storage.base import BlobStore

SCAN = "scan.image"
SCAN_MAX_ATTEMPTS = 4
_INDEX_DEPTH = 2
COMPLETED = "The scan was completed successfully."
NOTHING_TO_SCAN = "The image has no layers or files that can be scanned."


def scan_job(
    account_id: str, repository: str, digest: str, key: str, reason: str, tag: str | None = None
) -> NewJob:
    payload = {"account_id": account_id, "repository": repository, "digest": digest, "reason": reason}
    if tag is not None:
        payload["tag"] = tag
    return NewJob(SCAN, payload, idempotency_key=key, max_attempts=SCAN_MAX_ATTEMPTS)


def scan_on_push(change: ManifestChange) -> NewJob | None:
    """The scan a push queues, if scanning applies to its repository: only for a manifest
    new in the repository (a tag moved to a scanned image scans nothing), keyed by the
    image and the time it was stored, so a push retried is one scan and an image
    deleted and pushed again is scanned again. The registry's own SBOM (pushed after every
    scan, ADR 0016) is not scanned; anything a client pushes is, whatever it claims to
    be: a pickle pushed with ``artifactType`` CycloneDX must not pass the pull policies
    unscanned (tests/e2e/test_pull_gate_referrers.py)."""
    if not change.created or (not change.scan_on_push and change.scanning is None):
        return None
    if change.made_by_registry:
        return None
    rules = configuration.parse(change.scanning)
    if not configuration.effective_scanning(rules, change.repository, change.scan_on_push).on_push:
        return None
    key = f"{SCAN}:{change.account_id}/{change.repository}@{change.digest}:{change.at.isoformat()}"
    return scan_job(change.account_id, change.repository, change.digest, key, "push", change.tag)


class ImageScanner:
    """The ``scan.image`` job handler."""

    def __init__(
        self,
        metadata: SqlMetadataStore,
        scans: SqlScanStore,
        vulns: SqlVulnStore,
        blob_store: BlobStore,
        analyser: Analyser,
        clock: Clock,
        ids: IdFactory,
        *,
        dispatch_kind: str | None,
        sboms: SbomPublisher | None = None,
    ) -> None:
        """``sboms``: where a completed scan publishes each image's SBOM as its referrer."""
        self._sboms = sboms
        self._metadata = metadata
        self._scans = scans
        self._vulns = vulns
        self._blobs = blob_store
        self._analyser = analyser
        self._clock = clock
        self._ids = ids
        self._dispatch_kind = dispatch_kind
        self._layers = LayersInAnalysis()

    async def __call__(self, job: Job) -> None:
        account_id, name, digest = _scanned(job)
        repository = await self._metadata.get_repository(account_id, name)
        found = await self._metadata.lookup_manifest(account_id, name, digest=digest)
        if repository is None or found.manifest is None:
            return  # deleted since: nothing to scan
        await self._scans.start(repository.id, digest, self._clock.now())
        target = _target(job, repository.id)
        try:
            await self._scan(target, found.manifest.content)
        except Exception as error:
            if job.attempts >= job.max_attempts:
                # The queue gives up on this job: the scan must not stay IN_PROGRESS.
                reason = f"The scan failed on its last attempt: {type(error).__name__}"
                await self.finish(target, FAILED, reason)
            raise

    async def abandoned(self, job: Job) -> None:
        """The runner stopped (killed, out of memory) on the scan's last attempt, maybe
        on this very image: the scan is FAILED, not IN_PROGRESS for ever."""
        account_id, name, _ = _scanned(job)
        repository = await self._metadata.get_repository(account_id, name)
        if repository is None:
            return
        reason = "The scan stopped with its runner on its last attempt (killed or out of memory)."
        await self.finish(_target(job, repository.id), FAILED, reason, only_if_status=IN_PROGRESS)

    async def _scan(self, target: ScanTarget, content: bytes) -> None:
        account_id, name, digest = target.account_id, target.repository, target.digest
        cache = PersistentLayerCache(self._scans, self._layers)
        try:
            manifests = await self.manifests(account_id, name, content, _INDEX_DEPTH)
            reader = RegistryBlobs(self._blobs, manifests)
            images = await anyio.to_thread.run_sync(
                scan_manifest, digest, content, reader.open, cache, self._analyser
            )
        except ScanError as error:
            await cache.flush(self._clock.now())
            await self.finish(target, FAILED, f"The scan failed: {error}", layers=(cache.misses, cache.hits))
            return
        finally:
            cache.release()  # whatever happened, no layer stays locked for other scans
        await cache.flush(self._clock.now())
        if not any(image.layers for image in images) and reader.reads == 0:
            await self.finish(target, UNSUPPORTED_IMAGE, NOTHING_TO_SCAN)
            return
        stored: list[NewFinding] = []
        for image in images:
            stored.extend(await self.findings_of(image))
        if self._sboms is not None:
            # Before COMPLETE is visible, so whoever sees COMPLETE finds the SBOM; a failure
            # here fails the attempt and the job runs again (the same bytes, the same digest).
            sboms = await anyio.to_thread.run_sync(sboms_of, name, images)
            await self._sboms.publish(account_id, name, sboms)
        await self.finish(
            target,
            COMPLETE,
            COMPLETED,
            stored,
            source_updated_at=await self.source_updated_at(),
            layers=(cache.misses, cache.hits),
        )

    async def source_updated_at(self) -> datetime | None:
        """When the vulnerability database last changed, a withdrawal included (ECR
        ``vulnerabilitySourceUpdatedAt``)."""
        return (await self._vulns.state()).last_imported

    async def manifests(
        self, account_id: str, name: str, content: bytes, depth: int = _INDEX_DEPTH
    ) -> dict[str, bytes]:
        """The manifests an index names (and theirs, ``depth`` levels down), from the store."""
        found: dict[str, bytes] = {}
        if depth <= 0:
            return found
        try:
            document = json.loads(content)
        except ValueError:
            return found  # the engine says why
        listed = document.get("manifests") if isinstance(document, dict) else None
        for descriptor in listed if isinstance(listed, list) else []:
            child = str(descriptor.get("digest", "")) if isinstance(descriptor, dict) else ""
            lookup = await self._metadata.lookup_manifest(account_id, name, digest=child)
            if lookup.manifest is None:
                raise ScanError(f"manifest {child} named by the index is not in the repository")
            if len(lookup.manifest.content) > MAX_MANIFEST_BYTES:
                raise ScanError(f"manifest {child} exceeds {MAX_MANIFEST_BYTES} bytes")
            found[child] = lookup.manifest.content
            found |= await self.manifests(account_id, name, lookup.manifest.content, depth - 1)
        return found

    async def findings_of(self, image: ImageScan) -> list[NewFinding]:
        """An image's findings: its packages matched against the database as it is now,
        and its model files."""
        lookup = await vulndb.lookup_for(self._vulns, _keys(image.inventory))
        found = [findings.vulnerability(f, image.platform) for f in match(image.inventory, lookup)]
        models = [*image.inventory.models, *image.blob_findings]
        found += [findings.model(layer, f, image.platform) for layer, f in models]
        return found

    async def finish(
        self,
        target: ScanTarget,
        status: str,
        description: str,
        found: list[NewFinding] | None = None,
        *,
        source_updated_at: datetime | None = None,
        layers: tuple[int, int] = (0, 0),
        only_if_status: str | None = None,
    ) -> ScanOutcome | None:
        """Store the scan's status and findings, with their events (the same path for a
        scan and a re-evaluation, so both announce the same way)."""
        return await self._scans.finish(
            target.repository_id,
            target.digest,
            self._clock.now(),
            status=status,
            description=description,
            findings=found or [],
            source_updated_at=source_updated_at,
            layers=layers,
            announce=self._announcer(target, status, description, found or [], layers),
            only_if_status=only_if_status,
        )

    def _announcer(
        self,
        target: ScanTarget,
        status: str,
        description: str,
        found: list[NewFinding],
        layers: tuple[int, int],
    ) -> Callable[[ScanOutcome], Outbox]:
        def announce(outcome: ScanOutcome) -> Outbox:
            counts: dict[str, int] = {}
            for finding in found:
                counts[finding.severity] = counts.get(finding.severity, 0) + 1
            detail: dict[str, Any] = {
                # ECR's EventBridge "ECR Image Scan" detail, under its names.
                "scan-status": status,
                "repository-name": target.repository,
                "image-digest": target.digest,
                "image-tags": [target.tag] if target.tag else [],
                "finding-severity-counts": dict(sorted(counts.items())),
                "description": description,
                "layers-analysed": layers[0],
                "layers-from-cache": layers[1],
            }
            events = [self._event(target, SCAN_COMPLETE.name, detail)]
            if outcome.new:
                data: dict[str, Any] = {"repository-name": target.repository, "image-digest": target.digest}
                data["count"] = len(outcome.new)
                data["findings"] = findings.summary(outcome.new)
                events.append(self._event(target, SCAN_FINDING_NEW.name, data))
            if outcome.closed:
                closed = [NewFinding(f.key, f.kind, f.name, f.severity, f.document) for f in outcome.closed]
                data = {"repository-name": target.repository, "image-digest": target.digest}
                data["count"] = len(closed)
                data["findings"] = findings.summary(closed)
                events.append(self._event(target, SCAN_FINDING_CLOSED.name, data))
            jobs = []
            if self._dispatch_kind is not None:
                jobs = [
                    NewJob(
                        self._dispatch_kind,
                        {"event_id": event.id, "account_id": target.account_id},
                        idempotency_key=f"{self._dispatch_kind}:{event.id}",
                    )
                    for event in events
                ]
            return Outbox(events=events, jobs=jobs)

        return announce

    def _event(self, target: ScanTarget, type_name: str, data: dict[str, Any]) -> NewEvent:
        return NewEvent(self._ids.new_id(), type_name, target.account_id, target.repository, data)


@dataclass(frozen=True, slots=True)
class ScanTarget:
    account_id: str
    repository: str
    repository_id: int
    digest: str
    tag: str | None


def _keys(inventory: Inventory) -> set[tuple[str, str]]:
    keys = set()
    for located in inventory.packages:
        ecosystem = ecosystem_of(located.package, inventory.os_release)
        if ecosystem is not None:
            keys.add((ecosystem, normalise_name(ecosystem, located.package.advisory_name)))
    return keys


def _scanned(job: Job) -> tuple[str, str, str]:
    """The account, repository and digest a scan job names."""
    return str(job.payload["account_id"]), str(job.payload["repository"]), str(job.payload["digest"])


def _target(job: Job, repository_id: int) -> ScanTarget:
    account_id, name, digest = _scanned(job)
    tag = job.payload.get("tag")
    return ScanTarget(account_id, name, repository_id, digest, tag if isinstance(tag, str) else None)
