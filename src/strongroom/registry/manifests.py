"""Pushing, pulling and deleting manifests by tag or digest."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from strongroom.errors import DigestInvalid, ManifestBlobUnknown, ManifestUnknown, NameUnknown
from strongroom.metadata.records import NewManifest, Repository, StoredManifest
from strongroom.oci.digest import Digest, looks_like_digest
from strongroom.oci.manifest import ParsedManifest, parse_manifest
from strongroom.oci.names import RepositoryRef, validate_tag
from strongroom.registry.context import RegistryContext

logger = logging.getLogger("strongroom.registry")

PULL_TIME_RESOLUTION = timedelta(hours=1)
"""How stale a manifest's recorded pull time may get (ECR's ``lastRecordedPullTime`` is
also approximate); a GET writes only when the recorded time is older."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A manifest reference from a URL: exactly one of a tag or a digest."""

    tag: str | None
    digest: Digest | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        if looks_like_digest(text):
            return cls(None, Digest.parse(text))
        return cls(validate_tag(text), None)

    def __str__(self) -> str:
        return self.tag if self.tag is not None else str(self.digest)


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: Digest
    created: bool
    subject: Digest | None


class Manifests:
    def __init__(self, context: RegistryContext) -> None:
        self._context = context

    async def put(
        self, ref: RepositoryRef, reference: Reference, body: bytes, content_type: str | None
    ) -> PushedManifest:
        algorithm = reference.digest.algorithm if reference.digest else "sha256"
        digest = Digest.of(body, algorithm)
        if reference.digest is not None and digest != reference.digest:
            raise DigestInvalid(f"manifest digest {digest} does not match the reference {reference.digest}")
        parsed = parse_manifest(body, content_type, digest)
        now = self._context.clock.now()
        repository = await self._repository_for(ref, parsed)
        created = await self._context.metadata.put_manifest(
            repository.id,
            NewManifest(
                digest=str(digest),
                media_type=parsed.media_type,
                content=body,
                subject_digest=str(parsed.subject) if parsed.subject else None,
                artifact_type=parsed.artifact_type,
                annotations_json=json.dumps(parsed.annotations) if parsed.annotations else None,
                blob_digests=tuple(str(d.digest) for d in parsed.blobs),
                child_digests=tuple(str(d.digest) for d in parsed.children),
            ),
            reference.tag,
            now,
            immutable_tag=reference.tag is not None and repository.tag_is_immutable(reference.tag),
        )
        return PushedManifest(digest, created, parsed.subject)

    async def _repository_for(self, ref: RepositoryRef, parsed: ParsedManifest) -> Repository:
        """The repository, created by this push, unless the push must be refused anyway: a
        new repository holds none of the blobs or manifests this one names, and a refused
        request changes nothing."""
        existing = await self._context.metadata.get_repository(ref.account_id, ref.name)
        if existing is not None:
            return existing
        needed = [str(descriptor.digest) for descriptor in (*parsed.blobs, *parsed.children)]
        if needed:
            raise ManifestBlobUnknown(needed)
        return await self._context.repository_for_push(ref)

    async def get(self, ref: RepositoryRef, reference: Reference, *, pull: bool = False) -> StoredManifest:
        """The manifest; with ``pull`` (a GET, not a HEAD) its pull time is recorded too,
        at most once per :data:`PULL_TIME_RESOLUTION`, for ``sinceImagePulled`` rules."""
        found = await self._context.metadata.lookup_manifest(
            ref.account_id,
            ref.name,
            tag=reference.tag,
            digest=str(reference.digest) if reference.digest else None,
        )
        if not found.repository_exists:
            raise NameUnknown(ref.path)
        if found.manifest is None:
            raise ManifestUnknown(str(reference))
        if pull:
            await self._record_pull(ref, found.manifest)
        return found.manifest

    async def _record_pull(self, ref: RepositoryRef, manifest: StoredManifest) -> None:
        now = self._context.clock.now()
        recent = now - PULL_TIME_RESOLUTION
        if manifest.last_pulled_at is not None and manifest.last_pulled_at >= recent:
            return  # the common case: no write at all
        try:
            await self._context.metadata.record_pull(
                ref.account_id, ref.name, manifest.digest, now, unless_since=recent
            )
        except Exception:  # a statistic must never fail a pull
            logger.warning("could not record a pull of %s in %s", manifest.digest, ref.path, exc_info=True)

    async def delete(self, ref: RepositoryRef, reference: Reference) -> None:
        """By tag: remove the tag only. By digest: remove the manifest and its tags."""
        repository = await self._context.repository(ref)
        metadata = self._context.metadata
        if reference.tag is not None:
            deleted = await metadata.delete_tag(repository.id, reference.tag)
        else:
            deleted = await metadata.delete_manifest(repository.id, str(reference.digest))
        if not deleted:
            raise ManifestUnknown(str(reference))
