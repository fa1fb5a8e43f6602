"""A push marked as replication by another Strongroom (ADR 0020, decision 16).

The source's copy names its repository's ARN in :data:`~strongroom.replication.rules.SOURCE_HEADER`
on every request. The header is a claim of the caller, so it is honoured only when the
one policy engine allows the authenticated principal ``ecr:ReplicateImage`` on the
repository with the claim in the context (``aws:SourceArn``, ``aws:SourceAccount``): a
policy conditioned on them bounds which sources that principal may claim. Honoured, the
push stores what it stores with the source keys in the creation's evaluation, a new
repository takes the ``REPLICATION`` creation template, and the manifests it stores are
not replicated onward. Not honoured (absent, not an ARN, anonymous, not allowed), the
request is a push like any other: nothing of the header is used.
"""

from __future__ import annotations

from starlette.requests import Request

from strongroom.auth.authorizer import AccessRequest
from strongroom.auth.principals import Principal
from strongroom.oci.names import RepositoryRef
from strongroom.replication.rules import SOURCE_HEADER, source_keys
from strongroom.services import Services

REPLICATE_IMAGE = "ecr:ReplicateImage"

Context = dict[str, str | list[str]]


async def honoured_source(
    request: Request, services: Services, principal: Principal, repository: RepositoryRef, context: Context
) -> Context | None:
    """The request's context with the source keys, when the request is a replication the
    principal may make; else None."""
    keys = source_keys(request.headers.get(SOURCE_HEADER))
    if keys is None or principal.is_anonymous:
        return None
    claimed = {**context, **keys}
    resource = repository.arn(services.settings.region)
    decision = await services.authorizer.decide(AccessRequest(principal, REPLICATE_IMAGE, resource, claimed))
    return claimed if decision.allowed else None
