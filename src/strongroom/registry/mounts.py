"""Cross-repository blob mount (distribution-spec §4.6): link a blob another repository
holds into the pushed one without copying it, from a named repository or from one the
caller may read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from strongroom.errors import BlobUnknown
from strongroom.oci.digest import Digest
from strongroom.oci.names import RepositoryRef
from strongroom.registry.context import RegistryContext

BLOB_MOUNTING_SETTING = "BLOB_MOUNTING"
"""The account setting (ECR's) that, set to ``DISABLED``, turns mounts into uploads."""

MountingAllowed = Callable[[str], Awaitable[bool]]
"""Whether an account lets pushes mount blobs from other repositories."""

MayRead = Callable[[RepositoryRef], Awaitable[bool]]
"""Whether the caller may pull blobs from a repository (asked of the authorizer)."""

MOUNT_CANDIDATES = 20
"""Repositories a mount without ``from`` asks the authorizer about, at most."""


async def _mounting_always_allowed(account_id: str) -> bool:
    return True


class Mounts:
    def __init__(
        self, context: RegistryContext, mounting_allowed: MountingAllowed = _mounting_always_allowed
    ) -> None:
        self._context = context
        self._mounting_allowed = mounting_allowed

    async def mount(self, ref: RepositoryRef, digest: Digest, source: RepositoryRef) -> int | None:
        """Link a blob of ``source`` into ``ref`` without copying; None if ``source``
        lacks it, or the account does not allow mounting. The caller has checked that
        the principal may pull from ``source``."""
        if not await self._mounting_allowed(ref.account_id):
            return None
        metadata = self._context.metadata
        size = await metadata.linked_blob_size(source.account_id, source.name, str(digest))
        if size is None:
            return None
        if not await self._context.blobs.touch(digest):  # touch, then link: see registry/gc.py
            raise BlobUnknown(str(digest))
        now = self._context.clock.now()
        repository = await self._context.repository_for_push(ref)
        await metadata.link_blob(repository.id, str(digest), size, now)
        return size

    async def mount_readable(self, ref: RepositoryRef, digest: Digest, may_read: MayRead) -> int | None:
        """A mount without ``from``: link the blob from the first repository holding it
        that the caller may read (``may_read`` is the caller's authorizer, asked per
        candidate), trying at most :data:`MOUNT_CANDIDATES`; None when there is none.
        Repositories the caller may not read are never used, so the answer tells the
        caller nothing about them."""
        if not await self._mounting_allowed(ref.account_id):
            return None
        candidates = await self._context.metadata.repositories_linking(
            str(digest), ref.account_id, MOUNT_CANDIDATES
        )
        for account_id, name in candidates:
            source = RepositoryRef(account_id, name, f"{account_id}/{name}")
            if (account_id, name) != (ref.account_id, ref.name) and await may_read(source):
                return await self.mount(ref, digest, source)
        return None
