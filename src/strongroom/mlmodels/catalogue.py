"""Listing indexed models: the models of exactly the repositories where the caller is
allowed ``ecr:DescribeImages`` (its identity policies and each repository's policy, across
accounts, as any DescribeImages call is decided), meeting the filters.

Authorization comes before pagination: the repositories are decided first and only the
allowed ones are paged through, so neither a page's length, nor a ``nextToken``, nor an
empty answer tells a caller anything about a repository it may not read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from strongroom.auth.authorizer import AccessRequest, Authorizer
from strongroom.auth.principals import Principal
from strongroom.errors import InvalidRequest
from strongroom.metadata.models import ModelCursor, ModelFilter, SqlModelStore, StoredModel
from strongroom.oci.names import RepositoryRef

DESCRIBE_IMAGES = "ecr:DescribeImages"
__all__ = ["DESCRIBE_IMAGES", "ModelCatalogue", "ModelFilter", "model_document"]


class ModelCatalogue:
    def __init__(self, store: SqlModelStore, authorizer: Authorizer, region: str) -> None:
        self._store, self._authorizer, self._region = store, authorizer, region

    async def list(
        self,
        principal: Principal,
        context: Mapping[str, str | list[str]],
        where: ModelFilter,
        *,
        next_token: str | None,
        limit: int,
    ) -> tuple[list[StoredModel], str | None]:
        """A page of the models ``principal`` may see, newest first, and the token of the
        next page (None after the last)."""
        after = None if next_token is None else _cursor(next_token)
        allowed = []
        for repository in await self._store.repositories(where):
            arn = RepositoryRef(repository.account_id, repository.name, repository.name).arn(self._region)
            decision = await self._authorizer.decide(AccessRequest(principal, DESCRIBE_IMAGES, arn, context))
            if decision.allowed:
                allowed.append(repository.id)
        found = await self._store.page(where, allowed, after=after, limit=limit)
        return found, (_token(found[-1]) if len(found) == limit else None)


def model_document(model: StoredModel) -> dict[str, Any]:
    return {
        "registryId": model.account_id,
        "repositoryName": model.repository,
        "imageDigest": model.digest,
        "imageTags": list(model.tags),
        "name": model.name,
        "version": model.version,
        "format": model.format,
        "architecture": model.architecture,
        "parameterCount": model.parameter_count,
        "licenses": list(model.licenses),
        "pushedAt": model.pushed_at.isoformat(),
        "indexedAt": model.indexed_at.isoformat(),
        "metadata": model.document,
    }


def _token(model: StoredModel) -> str:
    fields = [model.pushed_at.isoformat(), model.account_id, model.repository, model.digest]
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode("ascii").rstrip("=")


def _cursor(token: str) -> ModelCursor:
    try:
        pushed_at, account_id, repository, digest = json.loads(
            base64.urlsafe_b64decode(token[:2048] + "=" * (-len(token) % 4))
        )
        at = datetime.fromisoformat(pushed_at)
        if at.tzinfo is None or not all(isinstance(v, str) for v in (account_id, repository, digest)):
            raise ValueError("not a cursor")
    except (ValueError, TypeError, binascii.Error):
        raise InvalidRequest("invalid nextToken") from None
    return ModelCursor(at, account_id, repository, digest)
