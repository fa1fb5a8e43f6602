"""Copy one image from this registry to a destination over the destination's OCI API.

The order is the one a registry that checks references accepts: for each manifest, its
subject first (a referrer after what it refers to), then an index's children, then the
blobs (config and layers), then the manifest by digest; the tag is moved last, once
everything it names is there. A manifest the destination already has is skipped with
everything under it (a registry holds a manifest only once all it names is there);
a blob it has is skipped (``HEAD``). Blobs stream from the blob store through the client
transport's chunked, resumable uploads: memory is one piece per transfer whatever the
size. The destination checks every digest as it stores (OCI distribution spec).

This module loads the HTTP client (httpx, which loads more): the job handler imports it
when a replication runs, so serving processes never pay for it (ADR 0017).

Signing in: a Strongroom destination and any OCI registry alike take the registered
access key as a login: Basic, or exchanged at the registry's token realm (ADR 0020).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import anyio.from_thread
import httpx

from strongroom.client.admin import Login
from strongroom.client.blobs import Uploader, UploadJournal
from strongroom.client.transport import TIMEOUT, RegistryError, RegistryHttp, raise_for
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.digest import Digest
from strongroom.oci.manifest import parse_manifest
from strongroom.replication.failures import ReplicationError
from strongroom.storage.base import BlobStore

_MAX_DEPTH = 4
"""Subjects and index children nest; deeper than this is refused (a cycle or abuse)."""


@dataclass(frozen=True, slots=True)
class SourceImage:
    account_id: str
    repository: str
    digest: str
    tag: str | None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and as whom to push: the destination's base URL, the repository name there
    (with the account id in the path for a Strongroom destination, DESIGN §10) and the
    login."""

    url: str
    repository: str
    login: Login


@dataclass(slots=True)
class CopyStats:
    manifests_sent: int = 0
    manifests_skipped: int = 0
    blobs_sent: int = 0
    blobs_skipped: int = 0
    bytes_sent: int = 0
    seen: set[str] = field(default_factory=set)


class StoredBlob:
    """A blob of the blob store as the uploader's :class:`ChunkSource`: read by range in
    the uploader's worker thread, from the file when the store has one."""

    def __init__(self, store: BlobStore, digest: str, size: int) -> None:
        self._store, self._digest, self._size = store, Digest.parse(digest), size
        self._path: Path | None = store.local_path(self._digest)

    @property
    def digest(self) -> str:
        return str(self._digest)

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, size: int) -> bytes:
        if self._path is not None:
            with self._path.open("rb") as handle:
                handle.seek(offset)
                return handle.read(size)
        return anyio.from_thread.run(self._read, offset, size)

    async def _read(self, offset: int, size: int) -> bytes:
        pieces = [piece async for piece in self._store.read(self._digest, offset, offset + size)]
        return b"".join(pieces)


class _Quiet:
    """No progress bars in a job (client.progress would load rich)."""

    def start(self, name: str, total: int) -> None:
        pass

    def advance(self, name: str, amount: int) -> None:
        pass

    def finish(self, name: str) -> None:
        pass


async def replicate(
    metadata: SqlMetadataStore, blob_store: BlobStore, journal_dir: Path, image: SourceImage,
    url: str, repository: str, login: tuple[str, str],
) -> CopyStats:  # fmt: skip
    """Copy ``image`` to ``repository`` at ``url`` as ``login``; a destination that cannot
    be reached is a :class:`ReplicationError` that says so."""
    copier = OciCopy(metadata, blob_store, UploadJournal(journal_dir))
    try:
        return await copier.copy(image, Endpoint(url, repository, Login(*login)))
    except httpx.TransportError as error:
        raise ReplicationError("DESTINATION_UNREACHABLE", f"{url}: {error!r}") from error
    except RegistryError as error:
        raise ReplicationError(f"DESTINATION_{error.code}", f"{url}: {error.message}") from error


class OciCopy:
    def __init__(
        self, metadata: SqlMetadataStore, blob_store: BlobStore, journal: UploadJournal, *,
        chunk_size: int = 16 * 1024 * 1024,
    ) -> None:  # fmt: skip
        self._metadata, self._blobs = metadata, blob_store
        self._journal, self._chunk = journal, chunk_size

    async def copy(self, image: SourceImage, endpoint: Endpoint) -> CopyStats:
        # A client per copy: nothing is opened before a job runs (nor crosses a worker's fork).
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            http = RegistryHttp(endpoint.url, endpoint.login, client)
            uploader = Uploader(http, endpoint.repository, self._journal, _Quiet(), chunk_size=self._chunk)
            stats = CopyStats()
            await self._manifest(image, image.digest, http, endpoint, uploader, stats, 0)
            if image.tag is not None and await self._tag_still_names(image):
                content, media_type = await self._content(image, image.digest)
                await self._put_manifest(http, endpoint, image.tag, content, media_type)
            return stats

    async def _tag_still_names(self, image: SourceImage) -> bool:
        """Whether the source's tag still names the image: a tag moved again since is left
        to the later push's job, so jobs finishing out of order never move a destination's
        tag back (the image itself is copied either way)."""
        found = await self._metadata.lookup_manifest(image.account_id, image.repository, tag=image.tag)
        return found.manifest is not None and found.manifest.digest == image.digest

    async def _content(self, image: SourceImage, digest: str) -> tuple[bytes, str]:
        found = await self._metadata.lookup_manifest(image.account_id, image.repository, digest=digest)
        if found.manifest is None:
            missing = f"{image.repository}@{digest} is no longer in the source"
            raise ReplicationError("IMAGE_NOT_FOUND", missing)
        return found.manifest.content, found.manifest.media_type

    async def _manifest(
        self, image: SourceImage, digest: str, http: RegistryHttp, endpoint: Endpoint, uploader: Uploader,
        stats: CopyStats, depth: int,
    ) -> None:  # fmt: skip
        """Make the manifest present at the destination."""
        if depth > _MAX_DEPTH:
            raise ReplicationError("UNSUPPORTED_IMAGE", f"{digest}: subjects and children nest too deep")
        content, media_type = await self._content(image, digest)
        if digest in stats.seen:
            return
        stats.seen.add(digest)
        scopes = [f"repository:{endpoint.repository}:pull,push"]
        head = await http.request(
            "HEAD", f"/v2/{endpoint.repository}/manifests/{digest}", scopes, headers={"accept": media_type}
        )
        if head.status_code == 200:
            stats.manifests_skipped += 1
            return
        parsed = parse_manifest(content, media_type, Digest.parse(digest))
        if parsed.subject is not None:
            lookup = await self._metadata.lookup_manifest(
                image.account_id, image.repository, digest=str(parsed.subject)
            )
            if lookup.manifest is not None:  # a referrer may name a subject not pushed (yet)
                await self._manifest(image, str(parsed.subject), http, endpoint, uploader, stats, depth + 1)
        for child in parsed.children:
            await self._manifest(image, str(child.digest), http, endpoint, uploader, stats, depth + 1)
        for blob in parsed.blobs:
            if not blob.is_distributable:
                continue
            sent = await self._blob(uploader, endpoint, http, str(blob.digest), blob.size)
            stats.blobs_sent += sent > 0
            stats.blobs_skipped += sent == 0
            stats.bytes_sent += sent
        await self._put_manifest(http, endpoint, digest, content, media_type)
        stats.manifests_sent += 1

    async def _blob(
        self, uploader: Uploader, endpoint: Endpoint, http: RegistryHttp, digest: str, size: int
    ) -> int:
        """Bytes sent for the blob: 0 when the destination had it."""
        scopes = [f"repository:{endpoint.repository}:pull,push"]
        head = await http.request("HEAD", f"/v2/{endpoint.repository}/blobs/{digest}", scopes)
        if head.status_code == 200:
            return 0
        await uploader.push(StoredBlob(self._blobs, digest, size), digest)
        return size

    async def _put_manifest(
        self, http: RegistryHttp, endpoint: Endpoint, reference: str, body: bytes, media_type: str
    ) -> None:
        answer = await http.request(
            "PUT",
            f"/v2/{endpoint.repository}/manifests/{reference}",
            [f"repository:{endpoint.repository}:pull,push"],
            headers={"content-type": media_type},
            content=body,
        )
        await raise_for(answer, f"storing the manifest {reference}")
