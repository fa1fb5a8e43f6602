"""The registry's own pushes and deletions of SBOM referrers (ADR 0016).

A finished scan publishes each image's CycloneDX SBOM as a client would push it: the
blobs through :class:`Uploads`, the manifest through :meth:`Manifests.put` (so the
referrers index, blob links, the outbox's ``image.push`` and garbage collection all
behave as for any push), audited as :data:`PRINCIPAL`. Exactly one registry SBOM per
image is current: one that already holds the same document from the same analyser
version is kept as it is (same digest, nothing written); any other the registry made
for that image is deleted through :meth:`Manifests.delete`. Referrers a client pushed
are never touched. When an image is deleted, :meth:`prune` deletes the registry's SBOMs
of it (the ``sbom.prune`` job that the deletion's outbox queues).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from strongroom.audit.log import AuditEvent, AuditLog, JsonValue
from strongroom.errors import ManifestReferenced, ManifestUnknown, NameUnknown
from strongroom.metadata.jobs import Job
from strongroom.metadata.records import Referrer
from strongroom.oci import mediatypes
from strongroom.oci.digest import Digest
from strongroom.oci.names import RepositoryRef
from strongroom.registry.context import RegistryContext
from strongroom.registry.manifests import Manifests, Reference
from strongroom.registry.uploads import Uploads
from strongroom.scanning.sbom_referrer import Sbom, Subject, is_current, is_registry_sbom, sbom_manifest

logger = logging.getLogger("strongroom.scanning")

PRINCIPAL = "strongroom:scanner"
"""Who the audit log names for the SBOMs the registry pushes and replaces (a service,
not the user whose push caused the scan)."""
PUT_ACTION = "ecr:PutImage"
DELETE_ACTION = "ecr:BatchDeleteImage"


class SbomReferrers:
    def __init__(
        self, context: RegistryContext, uploads: Uploads, manifests: Manifests, audit: AuditLog, region: str
    ) -> None:
        self._context = context
        self._uploads = uploads
        self._manifests = manifests
        self._audit = audit
        self._region = region

    async def publish(self, account_id: str, repository: str, sboms: list[Sbom]) -> list[str]:
        ref = _ref(account_id, repository)
        return [await self._publish_one(ref, sbom) for sbom in sboms]

    async def prune(self, account_id: str, repository: str, subject_digest: str) -> int:
        """Delete the registry's SBOMs of a deleted image; how many went. Nothing while the
        image is still there (pushed again meanwhile): its SBOMs describe it."""
        ref = _ref(account_id, repository)
        found = await self._context.metadata.lookup_manifest(account_id, repository, digest=subject_digest)
        if not found.repository_exists or found.manifest is not None:
            return 0
        gone = 0
        for referrer in await self._registry_sboms(ref, subject_digest):
            gone += await self._delete(ref, referrer.digest, subject_digest, "its subject was deleted")
        return gone

    async def prune_job(self, job: Job) -> None:
        """The ``sbom.prune`` job handler."""
        payload = job.payload
        try:
            await self.prune(str(payload["account_id"]), str(payload["repository"]), str(payload["digest"]))
        except NameUnknown:
            return  # the repository went with the image

    async def _publish_one(self, ref: RepositoryRef, sbom: Sbom) -> str:
        existing = await self._registry_sboms(ref, sbom.subject_digest)
        current = await self._current(ref, existing, sbom)
        if not current:
            subject = await self._manifests.get(ref, Reference(None, Digest.parse(sbom.subject_digest)))
            pushed = await self._push(
                ref, Subject(subject.media_type, subject.digest, len(subject.content)), sbom
            )
            # Listed again: a scan of the same image running at once (a platform's own scan
            # and its index's) may have pushed one too. Every scan keeps the same one, the
            # smallest digest, so the two agree and exactly one stays.
            existing = await self._registry_sboms(ref, sbom.subject_digest)
            current = {pushed, *await self._current(ref, existing, sbom)}
        keep = min(current)
        for referrer in existing:
            if referrer.digest != keep:
                await self._delete(
                    ref, referrer.digest, sbom.subject_digest, "replaced by a newer scan's SBOM"
                )
        return keep

    async def _current(self, ref: RepositoryRef, existing: list[Referrer], sbom: Sbom) -> set[str]:
        """The registry SBOMs of the image that already hold this document."""
        return {
            referrer.digest
            for referrer in existing
            if is_current(_annotations(referrer), sbom.document, await self._layer(ref, referrer))
        }

    async def _push(self, ref: RepositoryRef, subject: Subject, sbom: Sbom) -> str:
        await self._uploads.upload_whole(ref, Digest.of(mediatypes.EMPTY_JSON), _once(mediatypes.EMPTY_JSON))
        await self._uploads.upload_whole(ref, Digest.of(sbom.document), _once(sbom.document))
        body = sbom_manifest(subject, sbom.document, self._context.clock.now())
        pushed = await self._manifests.put(
            ref, Reference(None, Digest.of(body)), body, mediatypes.OCI_MANIFEST, made_by_registry=True
        )
        await self._record(ref, PUT_ACTION, {"digest": str(pushed.digest), "subject": subject.digest})
        return str(pushed.digest)

    async def _delete(self, ref: RepositoryRef, digest: str, subject: str, reason: str) -> int:
        try:
            await self._manifests.delete(ref, Reference(None, Digest.parse(digest)))
        except (ManifestUnknown, ManifestReferenced, NameUnknown):  # gone meanwhile, or an index lists it
            return 0
        await self._record(ref, DELETE_ACTION, {"digest": digest, "subject": subject, "reason": reason})
        return 1

    async def _registry_sboms(self, ref: RepositoryRef, subject_digest: str) -> list[Referrer]:
        repository = await self._context.repository(ref)
        found = await self._context.metadata.list_referrers(
            repository.id, subject_digest, mediatypes.CYCLONEDX_JSON
        )
        return [referrer for referrer in found if is_registry_sbom(_annotations(referrer))]

    async def _layer(self, ref: RepositoryRef, referrer: Referrer) -> str | None:
        """The digest of the referrer's one layer (the SBOM document it carries)."""
        try:
            stored = await self._manifests.get(ref, Reference(None, Digest.parse(referrer.digest)))
        except ManifestUnknown:
            return None
        layers = json.loads(stored.content).get("layers") or [{}]
        return str(layers[0].get("digest"))

    async def _record(self, ref: RepositoryRef, action: str, detail: Mapping[str, JsonValue]) -> None:
        event = AuditEvent(
            time=self._context.clock.now(),
            principal=PRINCIPAL,
            action=action,
            resource=ref.arn(self._region),
            source_ip=None,
            decision="allow",
            detail={**detail, "artifact_type": mediatypes.CYCLONEDX_JSON},
        )
        try:
            await self._audit.record(event)
        except Exception:  # the change is made; a lost audit record must be loud
            logger.exception("could not audit the SBOM %s of %s", action, detail.get("subject"))


def _ref(account_id: str, repository: str) -> RepositoryRef:
    return RepositoryRef(account_id, repository, f"{account_id}/{repository}")


def _annotations(referrer: Referrer) -> dict[str, str]:
    found: Any = json.loads(referrer.annotations_json) if referrer.annotations_json else {}
    return found if isinstance(found, dict) else {}


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
