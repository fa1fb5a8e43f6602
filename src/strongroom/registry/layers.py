"""Layers as the ECR API moves them: checked, uploaded in parts, completed, and located
for a download URL (reference/ecr-api.md §4.3).

The bytes take the paths of OCI blob pushes and pulls (:class:`Uploads`,
:class:`Blobs`). ECR's own rules sit on top: the repository must exist (the API does
not create one on push), parts must continue the upload exactly, and completing an
upload of a layer the repository already holds is refused and the upload discarded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from strongroom.errors import (
    BlobUnknown,
    Conflict,
    DigestInvalid,
    InvalidRequest,
    NotFound,
    UploadRangeInvalid,
)
from strongroom.metadata.images import SqlImageStore
from strongroom.oci.digest import Digest
from strongroom.oci.names import RepositoryRef
from strongroom.registry.context import RegistryContext
from strongroom.registry.upload_bodies import ContentRange
from strongroom.registry.uploads import Uploads

DEFAULT_LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
"""What a layer no manifest of the repository describes is reported as (ECR's default)."""

# ECR LayerFailureCode values.
INVALID_LAYER_DIGEST = "InvalidLayerDigest"
MISSING_LAYER_DIGEST = "MissingLayerDigest"


@dataclass(frozen=True, slots=True)
class AvailableLayer:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True, slots=True)
class LayerFailure:
    digest: str
    code: str
    reason: str


class EmptyUpload(InvalidRequest):
    pass


class InvalidLayer(InvalidRequest):
    """The uploaded bytes do not have the digest the client named."""


class LayerAlreadyExists(Conflict):
    pass


class LayerInaccessible(NotFound):
    """The registry holds the layer, but not in this repository."""


class Layers:
    def __init__(self, context: RegistryContext, uploads: Uploads, store: SqlImageStore) -> None:
        self._context = context
        self._uploads = uploads
        self._store = store

    async def check(
        self, ref: RepositoryRef, digests: Sequence[str]
    ) -> tuple[list[AvailableLayer], list[LayerFailure]]:
        repository = await self._context.repository(ref)
        failures: list[LayerFailure] = []
        valid: list[str] = []
        for digest in dict.fromkeys(digests):
            try:
                valid.append(str(Digest.parse(digest)))
            except DigestInvalid:
                failures.append(LayerFailure(digest, INVALID_LAYER_DIGEST, "Invalid layer digest"))
        linked = await self._store.linked_layers(repository.id, valid)
        available = []
        for digest in valid:
            layer = linked.get(digest)
            if layer is None:
                failures.append(
                    LayerFailure(digest, MISSING_LAYER_DIGEST, "The layer is not in the repository")
                )
            else:
                available.append(
                    AvailableLayer(digest, layer.size, layer.media_type or DEFAULT_LAYER_MEDIA_TYPE)
                )
        return available, failures

    async def initiate(self, ref: RepositoryRef) -> str:
        """A new upload's id."""
        await self._context.repository(ref)
        return (await self._uploads.start(ref)).id

    async def upload_part(
        self, ref: RepositoryRef, upload_id: str, first: int, last: int, data: bytes
    ) -> int:
        """Append bytes ``first``..``last`` (inclusive); returns the last byte received.
        Raises :class:`UploadRangeInvalid` unless the part continues the upload exactly
        and holds exactly that many bytes."""
        state = await self._uploads.status(ref, upload_id)
        if last < first or len(data) != last - first + 1:
            raise UploadRangeInvalid(
                f"the part holds {len(data)} bytes, but bytes {first} to {last} were announced",
                upload_id=upload_id,
                size=state.size,
            )
        state = await self._uploads.append(ref, upload_id, _once(data), ContentRange(first, last))
        return state.size - 1

    async def complete(self, ref: RepositoryRef, upload_id: str, digest: Digest) -> None:
        state = await self._uploads.status(ref, upload_id)
        if state.size == 0:
            raise EmptyUpload("the upload has no layer parts")
        size = await self._context.metadata.linked_blob_size(ref.account_id, ref.name, str(digest))
        if size is not None:
            await self._uploads.cancel(ref, upload_id)
            raise LayerAlreadyExists(
                f"The layer '{digest}' already exists in the repository with name '{ref.name}' "
                f"in registry with id '{ref.account_id}'"
            )
        try:
            await self._uploads.complete(ref, upload_id, digest)
        except DigestInvalid as error:
            raise InvalidLayer(error.message) from None

    async def locate(self, ref: RepositoryRef, digest: Digest) -> int:
        """The size of a layer of the repository, for a download."""
        await self._context.repository(ref)
        size = await self._context.metadata.linked_blob_size(ref.account_id, ref.name, str(digest))
        if size is not None:
            return size
        if await self._store.blob_is_known(str(digest)):
            raise LayerInaccessible(
                f"The layer with digest '{digest}' is not accessible in the repository with name "
                f"'{ref.name}' in the registry with id '{ref.account_id}'"
            )
        raise BlobUnknown(str(digest))


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
