"""Images as the ECR API handles them: listed, described, fetched, put and deleted by
tag or digest (reference/ecr-api.md §4.2).

Putting an image is :meth:`Manifests.put`, the path of an OCI manifest PUT, so reference
checks and tag immutability are the same on both APIs; ECR only adds its own refusals
around it (an unchanged image, a digest that does not match). Fetching is
:meth:`Manifests.get`. Per-image problems of the batch calls come back as
:class:`ImageFailure` values (ECR's ``failures[]``), not as errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from strongroom.errors import (
    Conflict,
    DigestInvalid,
    InvalidRequest,
    ManifestBlobUnknown,
    ManifestReferenced,
    ManifestUnknown,
    TagInvalid,
)
from strongroom.metadata.image_deletions import Deletion
from strongroom.metadata.images import ImageSummary, SqlImageStore, TaggedImage, TagStatus
from strongroom.metadata.records import StoredManifest
from strongroom.oci.digest import Digest
from strongroom.oci.manifest import parse_manifest
from strongroom.oci.names import RepositoryRef, validate_tag
from strongroom.registry.context import RegistryContext
from strongroom.registry.discovery import Discovery
from strongroom.registry.manifests import Manifests, Reference, refuse_listed
from strongroom.registry.pull_gate import Puller, PullRefused

__all__ = ["ImageFailure", "ImageId", "ImageSummary", "Images", "TagStatus", "TaggedImage"]

# ECR ImageFailureCode values.
IMAGE_NOT_FOUND = "ImageNotFound"
INVALID_IMAGE_DIGEST = "InvalidImageDigest"
INVALID_IMAGE_TAG = "InvalidImageTag"
MISSING_DIGEST_AND_TAG = "MissingDigestAndTag"
TAG_DOES_NOT_MATCH_DIGEST = "ImageTagDoesNotMatchDigest"
REFERENCED_BY_MANIFEST_LIST = "ImageReferencedByManifestList"
IMAGE_INACCESSIBLE = "ImageInaccessible"
"""The pull gate refused the image (ADR 0014): the code of botocore's enum that says the
image is there but may not be read; the reason is the gate's message."""


@dataclass(frozen=True, slots=True)
class ImageId:
    """ECR's ``ImageIdentifier``: a digest, a tag, or both."""

    digest: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class ImageFailure:
    image_id: ImageId
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class FoundImage:
    image_id: ImageId
    """The digest, and the tag it was asked by."""
    manifest: StoredManifest


@dataclass(frozen=True, slots=True)
class PushedImage:
    digest: str
    tag: str | None
    media_type: str


class ImageNotFound(ManifestUnknown):
    def __init__(self, ref: RepositoryRef, image_id: ImageId) -> None:
        super().__init__(str(image_id.digest or image_id.tag))
        self.message = (
            f"The image with imageId {{imageDigest:'{image_id.digest}', imageTag:'{image_id.tag}'}} "
            f"does not exist within the repository with name '{ref.name}' "
            f"in the registry with id '{ref.account_id}'"
        ).replace("'None'", "'null'")


class ImageAlreadyExists(Conflict):
    """PutImage of the manifest a tag (or, untagged, the repository) already holds."""


class ImageDigestMismatch(DigestInvalid):
    """The digest a PutImage names is not the manifest's."""


class ReferencedImagesUnknown(ManifestBlobUnknown):
    """An index lists manifests the repository does not hold."""


class Images:
    def __init__(
        self, context: RegistryContext, store: SqlImageStore, manifests: Manifests, discovery: Discovery
    ) -> None:
        self._context = context
        self._store = store
        self._manifests = manifests
        self._discovery = discovery

    async def list_ids(
        self, ref: RepositoryRef, tag_status: TagStatus, after: tuple[str, str] | None, limit: int
    ) -> list[ImageId]:
        """One id per (digest, tag); untagged images by digest alone."""
        repository = await self._context.repository(ref)
        found = await self._store.list_image_ids(
            repository.id, tag_status=tag_status, after=after, limit=limit
        )
        return [ImageId(digest, tag) for digest, tag in found]

    async def describe(
        self, ref: RepositoryRef, tag_status: TagStatus, after: str | None, limit: int
    ) -> list[ImageSummary]:
        repository = await self._context.repository(ref)
        return await self._store.describe_images(
            repository.id, tag_status=tag_status, after=after, limit=limit
        )

    async def describe_tags(self, ref: RepositoryRef, after: str | None, limit: int) -> list[TaggedImage]:
        """A page of tags in name order, each with the image it names (ECR Public)."""
        repository = await self._context.repository(ref)
        return await self._store.describe_tags(repository.id, after=after, limit=limit)

    async def describe_ids(self, ref: RepositoryRef, ids: Sequence[ImageId]) -> list[ImageSummary]:
        """The images named; any that is not there fails the whole call."""
        repository = await self._context.repository(ref)
        digests = []
        for image_id, outcome in await self._resolve(repository.id, ids):
            if isinstance(outcome, str):
                digests.append(outcome)
            elif outcome.code in (MISSING_DIGEST_AND_TAG, INVALID_IMAGE_DIGEST):
                raise InvalidRequest(f"Invalid parameter at 'imageIds': {outcome.reason}")
            else:
                raise ImageNotFound(ref, image_id)
        return await self._store.describe_images(repository.id, digests=digests)

    async def resolve(self, ref: RepositoryRef, image_id: ImageId) -> tuple[int, str]:
        """The repository id and digest of one image; ImageNotFound when it is not there."""
        repository = await self._context.repository(ref)
        [(_, outcome)] = await self._resolve(repository.id, [image_id])
        if isinstance(outcome, str):
            return repository.id, outcome
        if outcome.code in (MISSING_DIGEST_AND_TAG, INVALID_IMAGE_DIGEST):
            raise InvalidRequest(f"Invalid parameter at 'imageId': {outcome.reason}")
        raise ImageNotFound(ref, image_id)

    async def get(
        self, ref: RepositoryRef, ids: Sequence[ImageId], accepted: Sequence[str] | None, puller: Puller
    ) -> tuple[list[FoundImage], list[ImageFailure]]:
        """The manifests named, as an OCI pull by digest reads them (through the pull
        gate). A manifest whose media type is not ``accepted`` is a failure: Strongroom
        never converts; so is one the pull gate refuses."""
        repository = await self._context.repository(ref)
        found: list[FoundImage] = []
        failures: list[ImageFailure] = []
        for image_id, outcome in await self._resolve(repository.id, ids):
            if isinstance(outcome, ImageFailure):
                failures.append(outcome)
                continue
            try:
                manifest = await self._manifests.get(ref, Reference(None, Digest.parse(outcome)), pull=puller)
            except ManifestUnknown:  # deleted meanwhile
                failures.append(ImageFailure(image_id, IMAGE_NOT_FOUND, "Requested image not found"))
                continue
            except PullRefused as refused:
                failures.append(ImageFailure(image_id, IMAGE_INACCESSIBLE, refused.message))
                continue
            if accepted is not None and manifest.media_type not in accepted:
                reason = (
                    f"Requested image not found with an accepted media type (it is {manifest.media_type})"
                )
                failures.append(ImageFailure(image_id, IMAGE_NOT_FOUND, reason))
                continue
            found.append(FoundImage(ImageId(outcome, image_id.tag), manifest))
        return found, failures

    async def put(
        self, ref: RepositoryRef, body: bytes, media_type: str | None, tag: str | None, digest: str | None,
        pusher: Puller | None = None,
    ) -> PushedImage:  # fmt: skip
        """Store a manifest as an OCI push does, under ``tag`` if given (judged by the gate
        as ``pusher``'s push)."""
        repository = await self._context.repository(ref)
        if tag is not None:
            validate_tag(tag)
        expected = Digest.parse(digest) if digest is not None else None
        actual = Digest.of(body, expected.algorithm if expected else "sha256")
        if expected is not None and actual != expected:
            raise ImageDigestMismatch(
                f"Manifest digest {actual} does not match the digest {expected} given for the image"
            )
        pointed, existing = await self._store.resolve(
            repository.id, tag_names=[tag] if tag else [], digests=[str(actual)]
        )
        unchanged = pointed.get(tag) == str(actual) if tag is not None else str(actual) in existing
        if unchanged:
            with_tag = f" and tag '{tag}'" if tag else ""
            raise ImageAlreadyExists(
                f"Image with digest '{actual}'{with_tag} already exists in the repository with name "
                f"'{ref.name}' in registry with id '{ref.account_id}'"
            )
        reference = Reference(tag, None) if tag is not None else Reference(None, actual)
        try:
            await self._manifests.put(ref, reference, body, media_type, pusher=pusher)
        except ManifestBlobUnknown as error:
            if parse_manifest(body, media_type, actual).children:
                raise ReferencedImagesUnknown(error.missing) from None
            raise
        return PushedImage(str(actual), tag, parse_manifest(body, media_type, actual).media_type)

    async def delete(
        self, ref: RepositoryRef, ids: Sequence[ImageId]
    ) -> tuple[list[ImageId], list[ImageFailure]]:
        """By tag, remove the tag (an image losing its last tag goes with it); by digest,
        the image and its tags. A manifest an index lists is kept."""
        repository = await self._context.repository(ref)
        deleted: list[ImageId] = []
        failures: list[ImageFailure] = []
        for image_id in dict.fromkeys(ids):
            failure = _invalid(image_id)
            if failure is None and image_id.tag is not None and image_id.digest is not None:
                failure = await self._mismatch(repository.id, image_id)
            if failure is not None:
                failures.append(failure)
                continue
            now = self._context.clock.now()
            if image_id.tag is not None:
                deletion = await self._store.delete_image_tag(repository.id, image_id.tag, now=now)
            else:
                deletion = await self._store.delete_image(repository.id, str(image_id.digest), now=now)
            outcome = _deletion_outcome(image_id, deletion)
            if isinstance(outcome, ImageFailure):
                failures.append(outcome)
            else:
                deleted += outcome
        return deleted, failures

    async def referrers(
        self, ref: RepositoryRef, subject: Digest, artifact_types: Sequence[str], after: str | None
    ) -> list[dict[str, Any]]:
        """Descriptors of the manifests whose subject is ``subject``, in digest order,
        after the digest ``after``; of the given artifact types if any are given."""
        await self._context.repository(ref)
        found = await self._discovery.referrers(ref, subject, None)
        return [
            descriptor
            for descriptor in found
            if (not artifact_types or descriptor.get("artifactType") in artifact_types)
            and (after is None or descriptor["digest"] > after)
        ]

    async def _resolve(
        self, repository_id: int, ids: Sequence[ImageId]
    ) -> list[tuple[ImageId, str | ImageFailure]]:
        """Each distinct id with its digest, or why it has none."""
        unique = list(dict.fromkeys(ids))
        valid = [image_id for image_id in unique if _invalid(image_id) is None]
        pointed, existing = await self._store.resolve(
            repository_id,
            tag_names=[i.tag for i in valid if i.tag is not None],
            digests=[i.digest for i in valid if i.digest is not None],
        )
        resolved: list[tuple[ImageId, str | ImageFailure]] = []
        for image_id in unique:
            invalid = _invalid(image_id)
            if invalid is not None:
                resolved.append((image_id, invalid))
                continue
            digest = image_id.digest if image_id.tag is None else pointed.get(image_id.tag)
            if digest is None or (image_id.tag is None and digest not in existing):
                resolved.append(
                    (image_id, ImageFailure(image_id, IMAGE_NOT_FOUND, "Requested image not found"))
                )
            elif image_id.digest is not None and digest != image_id.digest:
                resolved.append((image_id, _mismatched(image_id)))
            else:
                resolved.append((image_id, digest))
        return resolved

    async def _mismatch(self, repository_id: int, image_id: ImageId) -> ImageFailure | None:
        assert image_id.tag is not None
        pointed, _ = await self._store.resolve(repository_id, tag_names=[image_id.tag])
        current = pointed.get(image_id.tag)
        if current is None:
            return ImageFailure(image_id, IMAGE_NOT_FOUND, "Requested image not found")
        return _mismatched(image_id) if current != image_id.digest else None


def _invalid(image_id: ImageId) -> ImageFailure | None:
    if image_id.digest is None and image_id.tag is None:
        return ImageFailure(
            image_id, MISSING_DIGEST_AND_TAG, "Invalid request parameters: both tag and digest cannot be null"
        )
    if image_id.digest is not None:
        try:
            Digest.parse(image_id.digest)
        except DigestInvalid:
            return ImageFailure(
                image_id, INVALID_IMAGE_DIGEST, "Invalid request parameters: invalid image digest"
            )
    if image_id.tag is not None:
        try:
            validate_tag(image_id.tag)
        except TagInvalid:
            return ImageFailure(image_id, INVALID_IMAGE_TAG, "Invalid request parameters: invalid image tag")
    return None


def _mismatched(image_id: ImageId) -> ImageFailure:
    return ImageFailure(
        image_id, TAG_DOES_NOT_MATCH_DIGEST, "Invalid request parameters: given tag and digest do not match"
    )


def _deletion_outcome(image_id: ImageId, deletion: Deletion) -> list[ImageId] | ImageFailure:
    if deletion.digest is None:
        return ImageFailure(image_id, IMAGE_NOT_FOUND, "Requested image not found")
    try:
        refuse_listed(deletion)
    except ManifestReferenced as refused:
        return ImageFailure(image_id, REFERENCED_BY_MANIFEST_LIST, refused.message)
    return [ImageId(deletion.digest, tag) for tag in deletion.tags] or [ImageId(deletion.digest)]
