"""Content discovery: tag lists, the catalog and referrers, with pagination."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from strongroom.errors import NameUnknown
from strongroom.metadata.records import Referrer
from strongroom.oci.digest import Digest
from strongroom.oci.names import RepositoryRef
from strongroom.registry.context import RegistryContext

MAX_PAGE = 1000
"""Longest page served; longer lists are paginated with a ``Link`` even unasked."""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    more: bool
    """True when items exist after the last one returned."""


class Discovery:
    def __init__(self, context: RegistryContext) -> None:
        self._context = context

    async def tags(self, ref: RepositoryRef, n: int | None, last: str | None) -> Page:
        async def fetch(limit: int) -> list[str]:
            found = await self._context.metadata.list_tags(ref.account_id, ref.name, last, limit)
            if found is None:
                raise NameUnknown(ref.path)
            return found

        return await _page(fetch, n)

    async def catalog(self, account_id: str, n: int | None, last: str | None) -> Page:
        metadata = self._context.metadata
        return await _page(lambda limit: metadata.list_repository_names(account_id, last, limit), n)

    async def referrers(
        self, ref: RepositoryRef, subject: Digest, artifact_type: str | None
    ) -> list[dict[str, Any]]:
        """Descriptors of the manifests in ``ref`` whose subject is ``subject``
        (distribution-spec §8.2); empty, never an error, when there are none."""
        repository = await self._context.metadata.get_repository(ref.account_id, ref.name)
        if repository is None:
            return []
        found = await self._context.metadata.list_referrers(repository.id, str(subject), artifact_type)
        return [_descriptor(referrer) for referrer in found]


async def _page(fetch: Callable[[int], Awaitable[list[str]]], n: int | None) -> Page:
    limit = MAX_PAGE if n is None else min(n, MAX_PAGE)
    if limit == 0:
        return Page([], False)
    items = await fetch(limit + 1)
    return Page(items[:limit], len(items) > limit)


def _descriptor(referrer: Referrer) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "mediaType": referrer.media_type,
        "digest": referrer.digest,
        "size": referrer.size,
    }
    if referrer.artifact_type:
        descriptor["artifactType"] = referrer.artifact_type
    if referrer.annotations_json:
        descriptor["annotations"] = json.loads(referrer.annotations_json)
    return descriptor
