"""One IAM or STS query request: read the form, authenticate the SigV4 signature,
authorize the operation's declared action and resource, run its handler, render XML.

Every denial, and every bad signature from a known key id, is audited; the use cases
audit the changes themselves.
"""

from __future__ import annotations

import logging
import uuid

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from strongroom.api.iam.operations import OPERATIONS, Call, Operation
from strongroom.api.iam.protocol import (
    MAX_BODY_BYTES,
    NAMESPACES,
    InvalidAction,
    MissingAction,
    error_code,
    parse_form,
    render_error,
    render_result,
)
from strongroom.api.requests import audit_failed_sign_in, authorize, read_body, request_context
from strongroom.api.signing import authenticate_signed
from strongroom.auth.management import IdentityAdmin
from strongroom.auth.principals import ANONYMOUS, Principal
from strongroom.auth.sigv4 import parse_authorization
from strongroom.errors import AuthenticationRequired, StrongroomError
from strongroom.services import Services

logger = logging.getLogger("strongroom.api")

CONTENT_TYPE = "text/xml"
_STS_ACTIONS = frozenset(name for service, name in OPERATIONS if service == "sts")


async def query_api(request: Request) -> Response:
    services: Services = request.app.state.services
    request_id = str(uuid.uuid4())
    service, action = "iam", ""
    principal = ANONYMOUS
    try:
        body = await read_body(request, MAX_BODY_BYTES)
        params = parse_form(request.headers.get("content-type", ""), body)
        action = params.optional("Action") or ""
        service = "sts" if action in _STS_ACTIONS else "iam"  # until the signature says
        info = parse_authorization(
            request.headers.items(), request.scope.get("query_string", b"").decode("latin-1")
        )
        service = info.service if info.service in NAMESPACES else service
        try:
            principal = await authenticate_signed(request, services, info, body, NAMESPACES)
        except AuthenticationRequired as error:
            await audit_failed_sign_in(request, f"{service}:{action}", "*", info.access_key_id, error.message)
            raise
        operation = _operation(service, action)
        call = Call(
            params,
            principal,
            _admin(request, services, principal),
            services.authorizer,
            services.iam,
            request_context(request),
        )
        await _authorize(request, operation, call)
        result = await operation.handler(call)
        return Response(render_result(service, action, result, request_id), 200, media_type=CONTENT_TYPE)
    except StrongroomError as error:
        code, status = error_code(error)
        return _error(service, code, status, error.message, request_id)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening
    except Exception:
        logger.exception("unexpected error in %s %s", service, action)
        return _error(service, "ServiceFailure", 500, "internal error; see the server log", request_id)


def _operation(service: str, action: str) -> Operation:
    if not action:
        raise MissingAction("The request must contain the parameter Action.")
    operation = OPERATIONS.get((service, action))
    if operation is None:
        raise InvalidAction(f"Could not find operation {action[:100]} for version of {service.upper()}")
    return operation


async def _authorize(request: Request, operation: Operation, call: Call) -> None:
    if operation.action is not None:
        await authorize(
            request, call.principal, operation.action, operation.resource(call.params, call.principal)
        )


def _admin(request: Request, services: Services, principal: Principal) -> IdentityAdmin:
    """The use cases acting as the caller, who is audited with the address it called from."""
    source = request.client.host if request.client else None
    return IdentityAdmin(
        services.metadata, services.iam, services.secrets, services.clock, services.audit,
        actor=principal.arn, source_ip=source,
    )  # fmt: skip


def _error(service: str, code: str, status: int, message: str, request_id: str) -> Response:
    return Response(render_error(service, code, status, message, request_id), status, media_type=CONTENT_TYPE)
