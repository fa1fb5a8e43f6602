"""An image's replication status at each destination (DescribeImageReplicationStatus,
``strongroom replication status``)."""

from __future__ import annotations

from strongroom.metadata.replication import ReplicationStatus, SqlReplicationStore
from strongroom.oci.names import RepositoryRef
from strongroom.registry.images import ImageId, Images


class ReplicationStatuses:
    def __init__(self, images: Images, store: SqlReplicationStore) -> None:
        self._images, self._store = images, store

    async def of(self, ref: RepositoryRef, image_id: ImageId) -> tuple[str, list[ReplicationStatus]]:
        """The image's digest and its status at each destination a push queued it to
        (none: no rule matched it). ``ImageNotFound``/``RepositoryNotFound`` as any image call."""
        _, digest = await self._images.resolve(ref, image_id)
        return digest, await self._store.statuses(ref.account_id, ref.name, digest)


def status_document(status: ReplicationStatus) -> dict[str, str]:
    """ECR's ``ImageReplicationStatus``; ``failureCode`` (a free string in ECR's model)
    carries the code and the reason."""
    document = {"region": status.region, "registryId": status.registry_id, "status": status.status}
    if status.failure_code is not None:
        document["failureCode"] = f"{status.failure_code}: {status.failure_reason or ''}".rstrip(": ")
    return document
