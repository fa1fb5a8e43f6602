"""What every use case needs: the stores, a clock, an id factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from strongroom.clock import Clock, IdFactory
from strongroom.errors import NameUnknown
from strongroom.metadata.records import Repository
from strongroom.metadata.store import MetadataStore
from strongroom.oci.names import RepositoryRef
from strongroom.storage.base import BlobStore

if TYPE_CHECKING:
    from strongroom.registry.repositories import Repositories


@dataclass(frozen=True)
class RegistryContext:
    metadata: MetadataStore
    blobs: BlobStore
    clock: Clock
    ids: IdFactory
    repositories: Repositories
    """Where a push creates its repository (with a creation template's defaults)."""

    async def repository(self, ref: RepositoryRef) -> Repository:
        repository = await self.metadata.get_repository(ref.account_id, ref.name)
        if repository is None:
            raise NameUnknown(ref.path)
        return repository

    async def repository_for_push(self, ref: RepositoryRef, known: Repository | None = None) -> Repository:
        """The repository a push goes to, created on first push. ``known`` is its row when
        the caller has just read it (the front door does, to decide whether the push
        creates it): a push then reads it once, not twice."""
        if known is not None:
            return known
        return await self.repositories.ensure(ref)
