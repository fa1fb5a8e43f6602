"""Copy one image from this registry to a destination over the destination's OCI API.

The order is :mod:`.walk`'s; this module is its :class:`~.walk.Sink` for another
registry: a blob it has is skipped (``HEAD``), the others stream from the blob store
through the client transport's chunked, resumable uploads (memory is one piece per
transfer whatever the size), and the destination checks every digest as it stores (OCI
distribution spec). A referrer pushed to a registry without the referrers API (no
``OCI-Subject`` on the push, ``404`` at ``/referrers``: distribution 2.8) is also listed
under the spec's referrers tag schema, ``sha256-<hex>`` of its subject, an index of the
subject's referrers (OCI distribution spec v1.1, "Pushing Manifests with Subject").

This module loads the HTTP client (httpx, which loads more): the job handler imports it
when a replication runs, so serving processes never pay for it (ADR 0017).

Signing in: a Strongroom destination and any OCI registry alike take the registered
access key as a login: Basic, or exchanged at the registry's token realm (ADR 0020).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import httpx

from strongroom.client.admin import Login
from strongroom.client.blobs import Uploader, UploadJournal
from strongroom.client.transport import TIMEOUT, RegistryError, RegistryHttp, raise_for
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci import mediatypes
from strongroom.oci.digest import Digest
from strongroom.oci.manifest import ParsedManifest
from strongroom.replication.failures import ReplicationError, immutable_tag
from strongroom.replication.rules import SOURCE_HEADER
from strongroom.replication.walk import CopyStats, Deletion, SourceImage, Walk
from strongroom.storage.base import BlobStore


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and as whom to push: the destination's base URL, the repository name there
    (with the account id in the path for a Strongroom destination, DESIGN §10) and the
    login."""

    url: str
    repository: str
    login: Login


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


MountFrom = Callable[[str], Awaitable[str | None]]
"""Given a blob's digest, a repository at the destination that may hold it (for a mount's
``from``), or None."""


def held_elsewhere(
    metadata: SqlMetadataStore, image: SourceImage, name_there: Callable[[str], str]
) -> MountFrom:
    """Another repository of the source's account holding the blob, by its name at the
    destination: replicated there too, the destination mounts the blob from it; if not, it
    answers with an ordinary upload session (OCI distribution spec, "Mounting a blob"), so a
    wrong guess costs nothing more. One indexed query per blob the destination lacks."""

    async def find(digest: str) -> str | None:
        for account_id, name in await metadata.repositories_linking(digest, image.account_id, _CANDIDATES):
            if account_id == image.account_id and name != image.repository:
                return name_there(name)
        return None

    return find


_CANDIDATES = 4


async def replicate(
    metadata: SqlMetadataStore, blob_store: BlobStore, journal_dir: Path, image: SourceImage,
    url: str, repository: str, login: tuple[str, str], marks: Mapping[str, str] | None = None,
    mount_from: MountFrom | None = None,
) -> CopyStats:  # fmt: skip
    """Copy ``image`` to ``repository`` at ``url`` as ``login``; a destination that cannot
    be reached is a :class:`ReplicationError` that says so. ``marks``: the headers that say
    a request is a replication (:data:`~.rules.SOURCE_HEADER`, :data:`~.rules.SETTINGS_HEADER`),
    sent on every request to a Strongroom destination, which then also mounts blobs it holds
    elsewhere rather than receive them. ``mount_from``: where else, for a registry that
    needs the mount's ``from``."""
    endpoint = Endpoint(url, repository, Login(*login))
    headers = dict(marks or {})
    try:
        # A client per copy: nothing is opened before a job runs (nor crosses a worker's fork).
        async with httpx.AsyncClient(timeout=TIMEOUT, headers=headers) as client:
            http = RegistryHttp(endpoint.url, endpoint.login, client)
            sink = HttpSink(
                http, endpoint.repository, StoredBlobs(blob_store), UploadJournal(journal_dir),
                mount=SOURCE_HEADER in headers, mount_from=mount_from,
            )  # fmt: skip
            return await Walk(metadata, image, sink).run()
    except httpx.TransportError as error:
        raise ReplicationError("DESTINATION_UNREACHABLE", f"{url}: {error!r}") from error
    except RegistryError as error:
        if immutable_tag(error.code, error.message):
            raise ReplicationError("TAG_IMMUTABLE", f"{url}: {error.message}", permanent=True) from error
        raise ReplicationError(f"DESTINATION_{error.code}", f"{url}: {error.message}") from error


async def delete_remote(url: str, repository: str, login: tuple[str, str], deletion: Deletion) -> None:
    """Delete at ``repository`` what was deleted at the source: the manifest by digest, or
    each removed tag that still names the image there (a tag moved since is left alone).
    Already gone is done; a registry that cannot delete a tag (distribution 2.8) is a
    permanent ``DESTINATION_UNSUPPORTED``."""
    scopes = [f"repository:{repository}:pull,push,delete"]
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            http = RegistryHttp(url, Login(*login), client)
            references = [deletion.digest] if deletion.manifest_deleted else list(deletion.tags)
            for reference in references:
                if reference != deletion.digest:
                    head = await http.request(
                        "HEAD", f"/v2/{repository}/manifests/{reference}", scopes,
                        headers={"accept": ", ".join(sorted(mediatypes.ACCEPTED_MANIFESTS))},
                    )  # fmt: skip
                    if head.headers.get("docker-content-digest") != deletion.digest:
                        continue
                answer = await http.request("DELETE", f"/v2/{repository}/manifests/{reference}", scopes)
                if answer.status_code == 404:
                    continue
                if answer.status_code in (400, 405) and reference != deletion.digest:
                    raise ReplicationError(
                        "DESTINATION_UNSUPPORTED", f"{url}: the registry does not delete tags", permanent=True
                    )
                await raise_for(answer, f"deleting {reference}")
    except httpx.TransportError as error:
        raise ReplicationError("DESTINATION_UNREACHABLE", f"{url}: {error!r}") from error
    except RegistryError as error:
        raise ReplicationError(f"DESTINATION_{error.code}", f"{url}: {error.message}") from error


class StoredBlobs:
    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def blob(self, digest: str, size: int) -> StoredBlob:
        return StoredBlob(self.store, digest, size)


class HttpSink:
    """Another registry, over its OCI API (a :class:`~.walk.Sink`)."""

    def __init__(
        self, http: RegistryHttp, repository: str, blobs: StoredBlobs, journal: UploadJournal, *,
        chunk_size: int = 16 * 1024 * 1024, mount: bool = False, mount_from: MountFrom | None = None,
    ) -> None:  # fmt: skip
        """``mount``: ask the destination to mount a blob it holds in another repository
        this login may read (a ``mount`` without ``from``, which Strongroom answers) before
        sending it; ``mount_from``: name the repository to mount from."""
        self._http, self._repository, self._blobs = http, repository, blobs
        self._mount_from = mount_from
        self._uploader = Uploader(
            http, repository, journal, _Quiet(), chunk_size=chunk_size, discover_mounts=mount
        )
        self._scopes = [f"repository:{repository}:pull,push"]
        self._referrers_api: bool | None = None

    async def has_manifest(self, digest: str, media_type: str) -> bool:
        path = f"/v2/{self._repository}/manifests/{digest}"
        head = await self._http.request("HEAD", path, self._scopes, headers={"accept": media_type})
        return head.status_code == 200

    async def put_blob(self, digest: str, size: int) -> int:
        """``HEAD``, then a mount, then the bytes (from where an earlier attempt stopped)."""
        source = await self._mount_from(digest) if self._mount_from is not None else None
        return await self._uploader.push(self._blobs.blob(digest, size), digest, mount_from=source)

    async def put_manifest(self, reference: str, content: bytes, parsed: ParsedManifest) -> None:
        answer = await self._put(reference, content, parsed.media_type)
        if parsed.subject is None or reference != str(parsed.digest) or "oci-subject" in answer.headers:
            return
        if not await self._has_referrers_api(str(parsed.subject)):
            await self._list_under_referrers_tag(parsed)

    async def _put(self, reference: str, body: bytes, media_type: str) -> httpx.Response:
        answer = await self._http.request(
            "PUT", f"/v2/{self._repository}/manifests/{reference}", self._scopes,
            headers={"content-type": media_type}, content=body,
        )  # fmt: skip
        await raise_for(answer, f"storing the manifest {reference}")
        return answer

    async def _has_referrers_api(self, subject: str) -> bool:
        if self._referrers_api is None:
            path = f"/v2/{self._repository}/referrers/{subject}"
            answer = await self._http.request(
                "GET", path, self._scopes, headers={"accept": mediatypes.OCI_INDEX}
            )
            self._referrers_api = answer.status_code != 404
        return self._referrers_api

    async def _list_under_referrers_tag(self, referrer: ParsedManifest) -> None:
        """Add ``referrer`` to the index its subject's referrers tag holds (spec v1.1,
        "Referrers Tag Schema"): created when absent, unchanged when it lists it already.

        The tag is read, changed and written back, with no conditional write in
        distribution 2.8: two jobs adding referrers of one subject at once would lose one.
        Jobs of this process take turns (a lock per tag), and each reads the tag back after
        writing, adding itself again if a writer elsewhere replaced the index meanwhile."""
        assert referrer.subject is not None
        tag = referrers_tag(str(referrer.subject))
        async with _TAG_LOCKS.setdefault(f"{self._http.base_url}/{self._repository}:{tag}", anyio.Lock()):
            for _ in range(_TAG_ATTEMPTS):
                index = await self._referrers_index(tag)
                listed = index.setdefault("manifests", [])
                if any(entry.get("digest") == str(referrer.digest) for entry in listed):
                    return
                listed.append(_descriptor(referrer))
                await self._put(tag, json.dumps(index, separators=(",", ":")).encode(), mediatypes.OCI_INDEX)
        raise ReplicationError(
            "REFERRERS_TAG_CONFLICT", f"{tag} kept changing while {referrer.digest} was added"
        )

    async def _referrers_index(self, tag: str) -> dict[str, Any]:
        path = f"/v2/{self._repository}/manifests/{tag}"
        answer = await self._http.request("GET", path, self._scopes, headers={"accept": mediatypes.OCI_INDEX})
        if answer.status_code == 404:
            return {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []}
        await raise_for(answer, f"reading the tag {tag}")
        index = json.loads(answer.content)
        if not isinstance(index, dict):
            raise ReplicationError("DESTINATION_MANIFEST_INVALID", f"the tag {tag} does not hold an index")
        return index


_TAG_ATTEMPTS = 5
_TAG_LOCKS: dict[str, anyio.Lock] = {}
"""Per referrers tag, for the jobs of this process (a few bytes a subject; a process's
jobs replicate referrers of a bounded set of subjects between restarts)."""


def _descriptor(referrer: ParsedManifest) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "mediaType": referrer.media_type, "digest": str(referrer.digest), "size": referrer.size,
    }  # fmt: skip
    if referrer.artifact_type:
        descriptor["artifactType"] = referrer.artifact_type
    if referrer.annotations:
        descriptor["annotations"] = referrer.annotations
    return descriptor


def referrers_tag(subject: str) -> str:
    """The referrers tag schema: ``<alg>-<ref>``, at most 128 characters (spec v1.1)."""
    algorithm, _, encoded = subject.partition(":")
    return f"{algorithm}-{encoded}"[:128]
