"""One ``/admin/v1`` request: authenticate, authorize the route's action on its
resource, run the handler, render JSON; errors in the one admin error shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from strongroom.api.requests import audit, authorize, read_body
from strongroom.api.signing import authenticate_signed
from strongroom.auth.principals import ANONYMOUS, Principal
from strongroom.auth.sigv4 import parse_authorization
from strongroom.errors import (
    AccessDenied,
    AuthenticationRequired,
    Conflict,
    InvalidRequest,
    NotFound,
    StrongroomError,
    TooManyRequests,
)
from strongroom.services import Services
from strongroom.untrusted import InputRefused, decimal_integer, read_json

logger = logging.getLogger("strongroom.api")

PREFIX = "/admin/v1"
SIGNING_NAME = "strongroom"
MAX_BODY_BYTES = 64 * 1024
MAX_RESULTS = 1000
_STATUS: list[tuple[type[StrongroomError], int, str]] = [
    (AuthenticationRequired, 401, "AuthenticationRequired"),
    (AccessDenied, 403, "AccessDenied"),
    (NotFound, 404, "NotFound"),
    (Conflict, 409, "Conflict"),
    (TooManyRequests, 429, "TooManyRequests"),
    (InvalidRequest, 400, "InvalidRequest"),
]


@dataclass(frozen=True)
class AdminCall:
    request: Request
    services: Services
    principal: Principal
    body: bytes = b""

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def json(self) -> dict[str, Any]:
        """The request body as a JSON object (an empty body is an empty object)."""
        if not self.body.strip():
            return {}
        try:
            document = read_json(self.body)
        except InputRefused as refused:
            raise InvalidRequest(f"the request body: {refused}") from None
        if not isinstance(document, dict):
            raise InvalidRequest("the request body must be a JSON object")
        return document

    def max_results(self, default: int = 100) -> int:
        text = self.query("maxResults")
        if text is None:
            return default
        value = decimal_integer(text, 4)
        if value is None or not 1 <= value <= MAX_RESULTS:
            raise InvalidRequest(f"maxResults must be from 1 to {MAX_RESULTS}")
        return value

    def token_int(self) -> int | None:
        """A ``nextToken`` that is an id (of the last item of the previous page)."""
        text = self.query("nextToken")
        if text is None:
            return None
        value = decimal_integer(text, 18)
        if value is None:
            raise InvalidRequest("invalid nextToken")
        return value

    def arn(self, account_id: str, resource: str) -> str:
        return f"arn:aws:strongroom:{self.services.settings.region}:{account_id}:{resource}"

    def path_int(self, name: str) -> int:
        value = decimal_integer(str(self.request.path_params[name]), 18)
        if value is None:
            raise InvalidRequest(f"{name} must be a positive integer")
        return value


@dataclass(frozen=True)
class AdminRoute:
    path: str
    method: str
    action: str
    resource: Callable[[AdminCall], str]
    handler: Callable[[AdminCall], Awaitable[Any]]
    mutates: bool = False
    status: int = 200
    """201 for a creation; 204 answers with no body."""
    per_resource: bool = False
    """The handler authorizes ``action`` on each resource it would show, through the policy
    engine, and shows only those; the route itself needs a signed-in caller, no action of
    its own (a search across repositories, as ``GET /models``)."""


def starlette_routes(routes: list[AdminRoute]) -> list[Route]:
    def endpoint(route: AdminRoute) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await _serve(request, route)

        return handle

    return [
        Route(PREFIX + route.path, endpoint(route), methods=[route.method], include_in_schema=False)
        for route in routes
    ]


async def _serve(request: Request, route: AdminRoute) -> Response:
    services: Services = request.app.state.services
    principal = ANONYMOUS
    try:
        body = await read_body(request, MAX_BODY_BYTES)
        principal = await _authenticate(request, services, body)
        call = AdminCall(request, services, principal, body)
        try:
            resource = route.resource(call)
        except AccessDenied as denied:
            await audit(request, principal, route.action, "*", "deny", message=denied.message)
            raise
        if not route.per_resource:
            await authorize(request, principal, route.action, resource)
        result = await route.handler(call)
        if route.mutates:
            await audit(request, principal, route.action, resource, "allow")
        if route.status == 204:
            return Response(status_code=204)
        return JSONResponse(result, route.status)
    except StrongroomError as error:
        if isinstance(error, AuthenticationRequired):
            await audit(request, ANONYMOUS, route.action, "*", "deny", message=error.message)
        return admin_error(error)
    except ClientDisconnect:
        return Response(status_code=400)
    except Exception:
        logger.exception("unexpected error in %s %s", route.method, route.path)
        return _error(500, "InternalError", "internal error; see the server log")


async def _authenticate(request: Request, services: Services, body: bytes) -> Principal:
    authorization = request.headers.get("authorization") or ""
    if authorization.startswith("AWS4-HMAC-SHA256"):
        info = parse_authorization(
            request.headers.items(), request.scope.get("query_string", b"").decode("latin-1")
        )
        return await authenticate_signed(request, services, info, body, {SIGNING_NAME})
    if authorization[:7].lower() == "bearer ":
        return services.tokens.verify(authorization[7:].strip(), services.clock.now()).principal
    source = request.client.host if request.client else None
    principal = await services.authenticator.authenticate(authorization or None, source)
    if principal.is_anonymous:
        raise AuthenticationRequired("authentication required")
    return principal


def admin_error(error: StrongroomError) -> Response:
    for kind, status, code in _STATUS:
        if isinstance(error, kind):
            headers = {"WWW-Authenticate": 'Basic realm="strongroom"'} if status == 401 else None
            return _error(status, code, error.message, headers)
    return _error(400, type(error).__name__, error.message)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)
