"""The order an image is copied in, whatever the destination (ADR 0020).

For each manifest: its subject first (a referrer after what it refers to), then an
index's children, then the blobs (config and layers), then the manifest by digest; the
tag is moved last, once everything it names is there, and only while the source's tag
still names the image. A manifest the destination already has is skipped with everything
under it (a registry holds a manifest only once all it names is there).

Where the bytes go is a :class:`Sink`: another registry over its OCI API
(:mod:`.copy`), or another account of this registry (:mod:`.internal`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.digest import Digest
from strongroom.oci.manifest import ParsedManifest, parse_manifest
from strongroom.replication.failures import ReplicationError

_MAX_DEPTH = 4
"""Subjects and index children nest; deeper than this is refused (a cycle or abuse)."""


@dataclass(frozen=True, slots=True)
class SourceImage:
    account_id: str
    repository: str
    digest: str
    tag: str | None


@dataclass(frozen=True, slots=True)
class Deletion:
    """An image deleted at the source (or tags removed from it), to delete at a destination."""

    account_id: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    manifest_deleted: bool


@dataclass(slots=True)
class CopyStats:
    manifests_sent: int = 0
    manifests_skipped: int = 0
    blobs_sent: int = 0
    blobs_skipped: int = 0
    bytes_sent: int = 0
    seen: set[str] = field(default_factory=set)


class Sink(Protocol):
    """A destination, as the walk sees it."""

    async def has_manifest(self, digest: str, media_type: str) -> bool: ...

    async def put_blob(self, digest: str, size: int) -> int:
        """Make the blob present; the bytes sent (0 when the destination had it)."""
        ...

    async def put_manifest(self, reference: str, content: bytes, parsed: ParsedManifest) -> None:
        """Store the manifest under ``reference`` (its digest, or the tag)."""
        ...


class Walk:
    def __init__(self, metadata: SqlMetadataStore, image: SourceImage, sink: Sink) -> None:
        self._metadata, self._image, self._sink = metadata, image, sink
        self.stats = CopyStats()

    async def run(self) -> CopyStats:
        image = self._image
        await self._manifest(image.digest, 0)
        if image.tag is not None and await self._tag_still_names():
            content, media_type = await self._content(image.digest)
            parsed = parse_manifest(content, media_type, Digest.parse(image.digest))
            await self._sink.put_manifest(image.tag, content, parsed)
        return self.stats

    async def _tag_still_names(self) -> bool:
        """Whether the source's tag still names the image: a tag moved again since is left
        to the later push's job, so jobs finishing out of order never move a destination's
        tag back (the image itself is copied either way)."""
        image = self._image
        found = await self._metadata.lookup_manifest(image.account_id, image.repository, tag=image.tag)
        return found.manifest is not None and found.manifest.digest == image.digest

    async def _content(self, digest: str) -> tuple[bytes, str]:
        image = self._image
        found = await self._metadata.lookup_manifest(image.account_id, image.repository, digest=digest)
        if found.manifest is None:
            missing = f"{image.repository}@{digest} is no longer in the source"
            raise ReplicationError("IMAGE_NOT_FOUND", missing)
        return found.manifest.content, found.manifest.media_type

    async def _manifest(self, digest: str, depth: int) -> None:
        """Make the manifest present at the destination."""
        if depth > _MAX_DEPTH:
            raise ReplicationError("UNSUPPORTED_IMAGE", f"{digest}: subjects and children nest too deep")
        content, media_type = await self._content(digest)
        stats = self.stats
        if digest in stats.seen:
            return
        stats.seen.add(digest)
        if await self._sink.has_manifest(digest, media_type):
            stats.manifests_skipped += 1
            return
        parsed = parse_manifest(content, media_type, Digest.parse(digest))
        if parsed.subject is not None:
            image = self._image
            lookup = await self._metadata.lookup_manifest(
                image.account_id, image.repository, digest=str(parsed.subject)
            )
            if lookup.manifest is not None:  # a referrer may name a subject not pushed (yet)
                await self._manifest(str(parsed.subject), depth + 1)
        for child in parsed.children:
            await self._manifest(str(child.digest), depth + 1)
        for blob in parsed.blobs:
            if not blob.is_distributable:
                continue
            sent = await self._sink.put_blob(str(blob.digest), blob.size)
            stats.blobs_sent += sent > 0
            stats.blobs_skipped += sent == 0
            stats.bytes_sent += sent
        await self._sink.put_manifest(digest, content, parsed)
        stats.manifests_sent += 1
