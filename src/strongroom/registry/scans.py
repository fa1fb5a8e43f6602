"""Image scans as the APIs see them: an image's scan status and findings, the summary
DescribeImages shows, and scans started by hand (ECR's StartImageScan, once per image
per day). The scanning itself is the ``scan.image`` job (:mod:`strongroom.scanning.on_push`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from strongroom.errors import Conflict, NotFound
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.scans import PENDING, ScanRecord, SqlScanStore, StoredFinding
from strongroom.oci.names import RepositoryRef
from strongroom.registry.context import RegistryContext
from strongroom.registry.images import ImageId, Images
from strongroom.scanning import configuration
from strongroom.scanning.on_push import SCAN, scan_job

__all__ = ["ImageScans", "ScanLimitExceeded", "ScanNotFound", "ScanRecord", "ScannedImage", "StoredFinding"]

MANUAL_SCAN_INTERVAL = timedelta(hours=24)
"""ECR: "an image can be scanned once per 24 hours"."""
SCANNING_SETTING = "scanning"


class ScanNotFound(NotFound):
    def __init__(self, ref: RepositoryRef, image_id: ImageId) -> None:
        super().__init__(
            f"Image scan does not exist for the image with '{{imageDigest:'{image_id.digest}', "
            f"imageTag:'{image_id.tag}'}}' in the repository with name '{ref.name}' "
            f"in the registry with id '{ref.account_id}'".replace("'None'", "'null'")
        )


class ScanLimitExceeded(Conflict):
    """A second StartImageScan of an image within a day (ECR's LimitExceededException)."""


@dataclass(frozen=True, slots=True)
class ScannedImage:
    digest: str
    scan: ScanRecord
    findings: list[StoredFinding]
    scan_type: str
    """The registry's scan type (BASIC or ENHANCED): it decides the response shape."""


class ImageScans:
    def __init__(
        self,
        context: RegistryContext,
        images: Images,
        store: SqlScanStore,
        repository_store: SqlRepositoryStore,
    ) -> None:
        self._context = context
        self._images = images
        self._store = store
        self._repository_store = repository_store

    async def scan_type(self, account_id: str) -> str:
        stored = await self._repository_store.account_setting(account_id, SCANNING_SETTING)
        return str(configuration.parse(stored).get("scanType", configuration.BASIC))

    async def findings(
        self, ref: RepositoryRef, image_id: ImageId, *, after: str | None, limit: int
    ) -> ScannedImage:
        """A page of an image's open findings (one more than ``limit`` when more follow)."""
        repository_id, digest = await self._images.resolve(ref, image_id)
        record = (await self._store.scans(repository_id, [digest])).get(digest)
        if record is None:
            raise ScanNotFound(ref, image_id)
        found = await self._store.findings(repository_id, digest, after=after, limit=limit + 1)
        return ScannedImage(digest, record, found, await self.scan_type(ref.account_id))

    async def summaries(self, ref: RepositoryRef, digests: Collection[str]) -> dict[str, ScanRecord]:
        repository = await self._context.repository(ref)
        return await self._store.scans(repository.id, digests)

    async def start(self, ref: RepositoryRef, image_id: ImageId) -> tuple[str, str]:
        """Queue a scan of the image; its digest and status. ScanLimitExceeded when the
        image was scanned by hand within the last day."""
        repository_id, digest = await self._images.resolve(ref, image_id)
        now = self._context.clock.now()
        key = f"{SCAN}:{ref.account_id}/{ref.name}@{digest}:manual:{now.isoformat()}"
        job = scan_job(ref.account_id, ref.name, digest, key, "manual", image_id.tag)
        if not await self._store.request(
            repository_id, digest, now, job, manual_since=now - MANUAL_SCAN_INTERVAL
        ):
            raise ScanLimitExceeded(
                "The scan quota per image has been exceeded. Wait and try again: "
                "an image can be scanned once per 24 hours."
            )
        return digest, PENDING
