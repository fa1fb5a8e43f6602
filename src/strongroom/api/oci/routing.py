"""Central authentication and authorization for every OCI route.

A route declares its methods, action and resource kind; :func:`starlette_routes`
turns the table into Starlette routes whose endpoint authenticates the caller,
resolves the repository, asks the authorizer, and only then runs the handler.
Handlers never decide access themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from strongroom.api.oci.errors import error_response, plain_error
from strongroom.api.oci.replication import Replication, honoured_source
from strongroom.api.requests import audit, audit_event, audit_failed_sign_in, request_context
from strongroom.audit.log import ANONYMOUS as AUDIT_ANONYMOUS
from strongroom.audit.log import JsonValue
from strongroom.auth.actions import Action
from strongroom.auth.authenticator import claimed_identity
from strongroom.auth.authorizer import AccessRequest, denial_message
from strongroom.auth.principals import ANONYMOUS, Principal
from strongroom.auth.tokens import CATALOG, Grant, challenge_scope
from strongroom.errors import AccessDenied, AuthenticationRequired, StrongroomError
from strongroom.oci.names import RepositoryRef
from strongroom.registry.pull_gate import Puller
from strongroom.registry.repositories import Repository
from strongroom.replication.rules import SOURCE_HEADER
from strongroom.services import Services

logger = logging.getLogger("strongroom.api")


class Resource(Enum):
    REPOSITORY = "repository"
    """The repository named in the path."""
    REGISTRY = "registry"
    """Every repository of the default account (the catalog)."""
    NONE = "none"
    """No resource: the route only needs an authenticated caller (``GET /v2/``)."""


@dataclass(frozen=True)
class Call:
    """What a handler gets: the request, the services, the resolved repository and caller."""

    request: Request
    services: Services
    repository: RepositoryRef
    principal: Principal
    known: Repository | None = None
    """The repository's row, when the route has read it (a push, to decide whether it
    creates the repository); handlers hand it on so the push does not read it again."""
    replicated: bool = False
    """A push honoured as another Strongroom's replication (:mod:`.replication`)."""

    @property
    def head(self) -> bool:
        return self.request.method == "HEAD"

    @property
    def puller(self) -> Puller:
        """Who pulls, for the pull gate's audit events."""
        principal = AUDIT_ANONYMOUS if self.principal.is_anonymous else self.principal.arn
        source = self.request.client.host if self.request.client else None
        return Puller(principal, source, self.services.settings.region)

    async def authorize(self, action: str, repository: RepositoryRef) -> bool:
        """Ask about a second repository (e.g. the source of a mount)."""
        region = self.services.settings.region
        decision = await self.services.authorizer.decide(
            AccessRequest(self.principal, action, repository.arn(region), request_context(self.request))
        )
        return decision.allowed


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class OciRoute:
    path: str
    method: str
    action: str | None
    """The ECR action this route performs; None only with ``Resource.NONE``."""
    resource: Resource
    handler: Handler
    creates: bool = False
    """A push: creates the repository if it does not exist (``create_on_push``), for a
    caller also allowed ``ecr:CreateRepository`` on it."""


def starlette_routes(table: Sequence[OciRoute]) -> list[Route]:
    by_path: dict[str, dict[str, OciRoute]] = {}
    for route in table:
        by_path.setdefault(route.path, {})[route.method] = route
    return [
        Route(path, _endpoint(methods), methods=list(methods), include_in_schema=False)
        for path, methods in by_path.items()
    ]


def _endpoint(methods: dict[str, OciRoute]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        head = request.method == "HEAD"
        # Starlette answers HEAD on GET routes too; those handlers render a body we drop.
        route = methods.get(request.method) or methods["GET"]
        services: Services = request.app.state.services
        principal = ANONYMOUS
        try:
            principal, grant = await _authenticate(request, services)
            repository = _repository(request, services)
            known, replicated = None, None
            try:
                context = request_context(request)
                if SOURCE_HEADER in request.headers and route.resource is Resource.REPOSITORY:
                    replicated = await honoured_source(request, services, principal, repository, context)
                if replicated is not None:
                    await _authorize_replication(services, route, principal, repository, replicated)
                else:
                    await _authorize(services, route, principal, repository, context, grant)
                if route.creates:
                    known = await _authorize_creation(services, principal, repository, context, replicated)
            except AccessDenied as error:
                await _audit(request, services, route, principal, "deny", {"message": error.message})
                raise
            call = Call(request, services, repository, principal, known, replicated is not None)
            if route.action in AUDITED_ACTIONS:
                return await _audited(call, route)
            response = await route.handler(call)
            if head and route.method == "GET":
                response.body = b""
            return response
        except AuthenticationRequired as error:
            if authorization := request.headers.get("authorization"):  # given, and wrong
                action, resource = route.action or "strongroom:Authenticate", _resource(request, services)
                claimed = claimed_identity(authorization)
                await audit_failed_sign_in(request, action, resource, claimed, error.message)
            return error_response(error, head=head, headers=_challenge(request, services, route, error))
        except StrongroomError as error:
            return error_response(error, head=head)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening
        except Exception:
            logger.exception("unexpected error in %s %s", request.method, route.path)
            return plain_error(500, "UNKNOWN", "internal error; see the server log", head=head)

    return endpoint


def _repository(request: Request, services: Services) -> RepositoryRef:
    name = request.path_params.get("name")
    if name is None:
        return RepositoryRef(services.default_account_id, "", "")
    return RepositoryRef.parse(name, services.default_account_id)


AUDITED_ACTIONS = frozenset(
    {Action.PUT_IMAGE, Action.BATCH_DELETE_IMAGE, Action.COMPLETE_LAYER_UPLOAD, Action.INITIATE_LAYER_UPLOAD}
)
"""Mutations recorded when they succeed (an upload POST only when it stores a blob:
a monolithic upload or a mount answers 201)."""


EFFECT_STATUS = {"PUT": 201, "POST": 201, "DELETE": 202}
"""What an audited route answers once its effect (the write it exists to make) committed."""


async def _audited(call: Call, route: OciRoute) -> Response:
    """Run an audited mutation. Its record commits in the transaction of its effect (the
    manifest stored, the blob linked: :meth:`AuditLog.carrying`), saying the status the
    route answers once that committed; a mutation whose effect carries nothing (a
    deletion) is recorded after, with the status it answered."""
    request, services = call.request, call.services
    assert route.action is not None
    resource = _resource(request, services)
    event = audit_event(
        request, call.principal, route.action, resource, "allow", status=EFFECT_STATUS[route.method]
    )
    with services.audit.carrying(event) as entry:
        response = await route.handler(call)
    if entry() is None and response.status_code < 400:
        await _audit(request, services, route, call.principal, "allow", {"status": response.status_code})
    return response


async def _audit(
    request: Request,
    services: Services,
    route: OciRoute,
    principal: Principal,
    decision: Literal["allow", "deny"],
    detail: dict[str, JsonValue],
) -> None:
    if decision == "allow" and route.action == Action.INITIATE_LAYER_UPLOAD and detail.get("status") != 201:
        return
    resource = _resource(request, services)
    await audit(request, principal, route.action or "strongroom:Authenticate", resource, decision, **detail)


def _resource(request: Request, services: Services) -> str:
    try:
        return _repository(request, services).arn(services.settings.region)
    except StrongroomError:
        return "*"


class InsufficientScope(AuthenticationRequired):
    """A valid bearer token that lacks an action policy would allow: fetch a new one."""


async def _authenticate(request: Request, services: Services) -> tuple[Principal, Grant | None]:
    authorization = request.headers.get("authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        grant = services.tokens.verify(authorization[7:].strip(), services.clock.now())
        await services.authenticator.require_valid(grant.principal, grant.access_key_id)
        return grant.principal, grant
    source = request.client.host if request.client else None
    return await services.authenticator.authenticate(authorization, source), None


async def _authorize(
    services: Services,
    route: OciRoute,
    principal: Principal,
    repository: RepositoryRef,
    context: dict[str, str | list[str]],
    grant: Grant | None,
) -> None:
    if route.resource is Resource.NONE or route.action is None:
        if principal.is_anonymous and grant is None:
            raise AuthenticationRequired("authentication required")
        return
    region = services.settings.region
    if route.resource is Resource.REPOSITORY:
        resource, key = repository.arn(region), repository.path
    else:
        resource, key = f"arn:aws:ecr:{region}:{repository.account_id}:repository/*", CATALOG
    if grant is not None and grant.allows(key, route.action):
        return  # decided by policy when the token was issued
    decision = await services.authorizer.decide(AccessRequest(principal, route.action, resource, context))
    if grant is not None and decision.allowed:
        raise InsufficientScope(f"the bearer token does not grant {route.action} on {repository.path}")
    if not decision.allowed:
        if principal.is_anonymous:
            raise AuthenticationRequired("authentication required")
        raise AccessDenied(denial_message(principal, route.action, resource, decision))


async def _authorize_replication(
    services: Services,
    route: OciRoute,
    principal: Principal,
    repository: RepositoryRef,
    replicated: Replication,
) -> None:
    """A request of an honoured replication is decided by policy with the source keys in
    the context, whatever a bearer token grants: a token is issued without them (it would
    carry them to requests without the header), so it can neither allow nor refuse here."""
    if route.action is None:
        return
    resource = repository.arn(services.settings.region)
    decision = await services.authorizer.decide(
        AccessRequest(principal, route.action, resource, replicated.context)
    )
    if not decision.allowed:
        raise AccessDenied(denial_message(principal, route.action, resource, decision))


async def _authorize_creation(
    services: Services,
    principal: Principal,
    repository: RepositoryRef,
    context: dict[str, str | list[str]],
    replicated: Replication | None,
) -> Repository | None:
    """A push to a repository that does not exist creates it: the caller must be allowed
    that too, decided now by policy (never by a token's grant, which names no creation).
    Returns the repository's row when it exists. ``replicated``: an honoured replication,
    decided with its source keys, which creates the repository now, as a replication does
    (the ``REPLICATION`` creation template, else the source's settings)."""
    if (existing := await services.repositories.find(repository)) is not None:
        return existing
    resource = repository.arn(services.settings.region)
    context = replicated.context if replicated is not None else context
    request = AccessRequest(principal, Action.CREATE_REPOSITORY, resource, context)
    decision = await services.authorizer.decide(request)
    if not decision.allowed:
        raise AccessDenied(denial_message(principal, Action.CREATE_REPOSITORY, resource, decision))
    if replicated is not None:
        return await services.repositories.ensure_replicated(repository, replicated.source)
    return None


def _challenge(
    request: Request, services: Services, route: OciRoute, error: AuthenticationRequired
) -> dict[str, str]:
    """``Bearer realm=…,service=…,scope=…`` (RFC 6750 §3, every value quoted); Basic
    credentials stay accepted on every request."""
    settings = services.settings
    parts = [f'realm="{settings.resolved_public_url}/token"', f'service="{settings.token_service}"']
    scope = None
    if route.resource is Resource.REGISTRY:
        scope = "registry:catalog:*"
    elif route.resource is Resource.REPOSITORY and route.action is not None:
        try:
            scope = challenge_scope(_repository(request, services).path, route.action)
        except StrongroomError:
            scope = None
    if scope is not None:
        parts.append(f'scope="{scope}"')
    if isinstance(error, InsufficientScope):
        parts.append('error="insufficient_scope"')
    return {"WWW-Authenticate": "Bearer " + ",".join(parts)}
