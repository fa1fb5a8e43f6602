"""Pushing, pulling and deleting manifests by tag or digest."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from strongroom.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestReferenced,
    ManifestUnknown,
    NameUnknown,
    TooManyTagsRequested,
)
from strongroom.metadata.image_deletions import Deletion
from strongroom.metadata.images import SqlImageStore
from strongroom.metadata.outbox import Expiry
from strongroom.metadata.records import NewManifest, Repository, StoredManifest
from strongroom.oci.digest import Digest, looks_like_digest
from strongroom.oci.manifest import ParsedManifest, parse_manifest
from strongroom.oci.mediatypes import IMAGE_MANIFESTS
from strongroom.oci.names import RepositoryRef, is_tag, validate_tag
from strongroom.registry.context import RegistryContext
from strongroom.registry.pull_gate import Puller, PullGate

logger = logging.getLogger("strongroom.registry")

PULL_TIME_RESOLUTION = timedelta(hours=1)
"""How stale a manifest's recorded pull time may get (ECR's ``lastRecordedPullTime`` is
also approximate); a GET writes only when the recorded time is older."""

MAX_TAGS_PER_PUSH = 100
"""``?tag=`` values one manifest PUT may carry (OCI 1.1 asks for at least 10)."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A manifest reference from a URL: exactly one of a tag or a digest."""

    tag: str | None
    digest: Digest | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """A reference to store under: a tag must be a valid tag (``TAG_INVALID``)."""
        if looks_like_digest(text):
            return cls(None, Digest.parse(text))
        return cls(validate_tag(text), None)

    @classmethod
    def lookup(cls, text: str) -> Reference:
        """A reference to read or delete: a string that cannot be a tag names no
        manifest, so it is not found (404 ``MANIFEST_UNKNOWN``, as the conformance
        suite's ``.INVALID_MANIFEST_NAME`` check wants), never ``TAG_INVALID``."""
        if looks_like_digest(text):
            return cls(None, Digest.parse(text))
        return cls(text[:256], None)

    @property
    def names_nothing(self) -> bool:
        """A tag outside the grammar: no manifest can carry it, so it is never looked up
        (nor sent to the database, which may refuse such text, e.g. PostgreSQL a NUL)."""
        return self.tag is not None and not is_tag(self.tag)

    def __str__(self) -> str:
        return self.tag if self.tag is not None else str(self.digest)


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: Digest
    tags: tuple[str, ...]
    """Every tag now pointing at it (``OCI-Tag`` headers)."""
    subject: Digest | None


class Manifests:
    def __init__(self, context: RegistryContext, images: SqlImageStore, gate: PullGate | None = None) -> None:
        """``gate``: the pull gate (the composition root always gives it; a store without
        pull policies never reaches it)."""
        self._context = context
        self._images = images
        self._gate = gate

    async def put(
        self,
        ref: RepositoryRef,
        reference: Reference,
        body: bytes,
        content_type: str | None,
        extra_tags: Sequence[str] = (),
        known: Repository | None = None,
        *,
        made_by_registry: bool = False,
        replicated: bool = False,
        pusher: Puller | None = None,
    ) -> PushedManifest:
        """Store the manifest under ``reference`` and every tag of ``extra_tags`` (OCI
        1.1 ``?tag=``), all in one transaction: one immutable tag that would move
        refuses the whole push. ``known``: the repository's row, if the caller has just
        read it (see :meth:`RegistryContext.repository_for_push`). ``made_by_registry``:
        the registry pushes its own artifact (the scan's SBOM), which no scan needs.
        ``replicated``: a replication stores it, and this registry does not replicate it
        onward (ECR's rule; ADR 0020). ``pusher``: who pushes (a client's push): the gate
        judges an image manifest first (:meth:`PullGate.check_push`; ``PushRefused``),
        before anything is stored."""
        tag_names = list(dict.fromkeys([*([reference.tag] if reference.tag else []), *extra_tags]))
        if len(tag_names) > MAX_TAGS_PER_PUSH:
            raise TooManyTagsRequested(f"a manifest PUT may name at most {MAX_TAGS_PER_PUSH} tags")
        for tag in tag_names:
            validate_tag(tag)
        algorithm = reference.digest.algorithm if reference.digest else "sha256"
        digest = Digest.of(body, algorithm)
        if reference.digest is not None and digest != reference.digest:
            raise DigestInvalid(f"manifest digest {digest} does not match the reference {reference.digest}")
        parsed = parse_manifest(body, content_type, digest)
        now = self._context.clock.now()
        repository = known or await self._repository_for(ref, parsed)
        gated = repository.push_gated is not False  # False: read with the row, no enforced policy
        if (
            pusher is not None
            and self._gate is not None
            and gated
            and _judged_at_push(parsed, made_by_registry)
        ):
            assert pusher is not None
            await self._gate.check_push(
                ref, repository.id, str(digest), parsed.media_type, body, parsed.annotations or {}, pusher
            )
        await self._context.metadata.put_manifest(
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
                made_by_registry=made_by_registry,
                replicated=replicated,
            ),
            tag_names,
            now,
            immutable_tags=[tag for tag in tag_names if repository.tag_is_immutable(tag)],
        )
        return PushedManifest(digest, tuple(tag_names), parsed.subject)

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

    async def get(
        self, ref: RepositoryRef, reference: Reference, *, pull: Puller | None = None
    ) -> StoredManifest:
        """The manifest. With ``pull`` (a GET or BatchGetImage, not a HEAD, by this
        puller) the pull gate decides first (:class:`PullGate`; ``PullRefused``), then
        the pull time is recorded, at most once per :data:`PULL_TIME_RESOLUTION`, for
        ``sinceImagePulled`` rules. A HEAD is not gated: it tells the digest and size, not
        the content, and every client follows it with the GET that is refused."""
        if reference.names_nothing:
            await self._context.repository(ref)  # NAME_UNKNOWN first, as for any reference
            raise ManifestUnknown(str(reference))
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
        if pull is not None:
            if found.gated and self._gate is not None and found.repository_id is not None:
                await self._gate.check(ref, found.repository_id, found.manifest.digest, pull)
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

    async def delete(self, ref: RepositoryRef, reference: Reference, *, expiry: Expiry | None = None) -> None:
        """By tag: remove the tag only. By digest: remove the manifest and its tags,
        unless an index of the repository lists it (:func:`refuse_listed`); ``expiry``
        when a lifecycle policy deletes it. The deletion's events go with it."""
        repository = await self._context.repository(ref)
        if reference.names_nothing:
            raise ManifestUnknown(str(reference))
        if reference.tag is not None:
            untagged = await self._images.untag(repository.id, reference.tag, now=self._context.clock.now())
            if untagged.digest is None:
                raise ManifestUnknown(str(reference))
            return
        deletion = await self._images.delete_image(
            repository.id, str(reference.digest), now=self._context.clock.now(), expiry=expiry
        )
        if deletion.digest is None:
            raise ManifestUnknown(str(reference))
        refuse_listed(deletion)


def refuse_listed(deletion: Deletion) -> None:
    """The one rule for deleting a manifest that an index lists, on both APIs: refused.

    ECR's ``BatchDeleteImage`` keeps such a manifest and reports
    ``ImageReferencedByManifestList`` ("Requested image referenced by manifest list:
    [<index>]"); deleting it would leave the index naming content the registry no longer
    serves, and every pull of that index for the missing platform would break. The OCI
    API refuses the same deletion with the same words. Its rendering there is 405
    ``UNSUPPORTED`` (api/oci/errors.py): the distribution spec allows DELETE to answer 400
    or 405 when the registry does not perform a deletion, names ``UNSUPPORTED`` for it,
    and the conformance suite's teardown accepts 202, 404 and 405 but not 400, so a
    registry answering 400 would fail clean-up of an image index; ``DENIED`` would tell
    the client its credentials lack a permission, which is not the case. The index must
    be deleted first (``images.py`` renders the same rule as ECR's failure entry)."""
    if deletion.index is not None and not deletion.manifest_deleted and not deletion.tags:
        raise ManifestReferenced(str(deletion.digest), deletion.index)


def _judged_at_push(parsed: ParsedManifest, made_by_registry: bool) -> bool:
    """An image manifest a client pushes, not a referrer (the gate reads its config)."""
    return not made_by_registry and parsed.subject is None and parsed.media_type in IMAGE_MANIFESTS
