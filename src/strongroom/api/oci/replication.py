"""A push marked as replication by another Strongroom (ADR 0020, decision 16).

The source's copy names its repository's ARN in :data:`~strongroom.replication.rules.SOURCE_HEADER`
on every request. The header is a claim of the caller, so it is honoured only when the
one policy engine allows the authenticated principal ``ecr:ReplicateImage`` on the
repository with the claim in the context (``aws:SourceArn``, ``aws:SourceAccount``): a
policy conditioned on them bounds which sources that principal may claim. It is asked on
every repository route the request takes, once per request (nothing is kept between
requests). Honoured, the request's own action, and a creation, are decided with the source
keys in the context (decision 22), a new
repository takes the ``REPLICATION`` creation template (else the source's settings,
:data:`~strongroom.replication.rules.SETTINGS_HEADER`), and the manifests it stores are
not replicated onward. Not honoured (absent, not an ARN, anonymous, not allowed), the
request is a push like any other: nothing of the header is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from strongroom.auth.authorizer import AccessRequest
from strongroom.auth.principals import Principal
from strongroom.errors import InvalidRequest
from strongroom.oci.names import RepositoryRef
from strongroom.registry.repositories import RepositorySpec, TagMutability
from strongroom.replication.rules import SETTINGS_HEADER, SOURCE_HEADER, source_keys, source_settings
from strongroom.services import Services

REPLICATE_IMAGE = "ecr:ReplicateImage"

Context = dict[str, str | list[str]]


@dataclass(frozen=True, slots=True)
class Replication:
    """An honoured replication: the context with the source keys, and the source
    repository's settings when the source sent them."""

    context: Context
    source: RepositorySpec | None


async def honoured_source(
    request: Request, services: Services, principal: Principal, repository: RepositoryRef, context: Context
) -> Replication | None:
    """The replication the request is, when the principal may make it; else None."""
    keys = source_keys(request.headers.get(SOURCE_HEADER))
    if keys is None or principal.is_anonymous:
        return None
    claimed = {**context, **keys}
    resource = repository.arn(services.settings.region)
    decision = await services.authorizer.decide(AccessRequest(principal, REPLICATE_IMAGE, resource, claimed))
    if not decision.allowed:
        return None
    return Replication(claimed, _spec(request.headers.get(SETTINGS_HEADER)))


def _spec(header: str | None) -> RepositorySpec | None:
    settings = source_settings(header)
    if settings is None:
        return None
    try:
        mutability = TagMutability(settings.tag_mutability, settings.tag_mutability_filters)
    except InvalidRequest:
        return None
    return RepositorySpec(
        mutability=mutability, scan_on_push=settings.scan_on_push, encryption_type=settings.encryption_type
    )
