"""One ECR or ECR Public request: ``X-Amz-Target`` names the operation; the body is
checked against the service model, the SigV4 signature authenticated, the operation's
action authorized on its resource, then its handler runs.

Denials and failed signatures are audited here, as are successful mutations.
"""

from __future__ import annotations

import logging
import uuid

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from strongroom.api.ecr.call import EcrCall, Operation
from strongroom.api.ecr.errors import NotImplementedOperation, Where, ecr_error
from strongroom.api.ecr.model import ServiceApi, service_apis
from strongroom.api.ecr.operations import OPERATIONS
from strongroom.api.ecr.protocol import (
    MAX_BODY_BYTES,
    UnknownOperation,
    error_response,
    parse_json,
    result_response,
)
from strongroom.api.requests import audit, audit_failed_sign_in, authorize, read_body
from strongroom.api.signing import authenticate_signed
from strongroom.auth.principals import ANONYMOUS
from strongroom.auth.sigv4 import parse_authorization
from strongroom.errors import AuthenticationRequired, StrongroomError
from strongroom.services import Services

logger = logging.getLogger("strongroom.api")


async def json_api(request: Request) -> Response:
    services: Services = request.app.state.services
    request_id = str(uuid.uuid4())
    where: Where | None = None
    action = "ecr:Unknown"
    principal = ANONYMOUS
    try:
        api, name = _target(request.headers.get("x-amz-target", ""))
        action = f"{api.signing_name}:{name}"
        body = await read_body(request, MAX_BODY_BYTES)
        info = parse_authorization(
            request.headers.items(), request.scope.get("query_string", b"").decode("latin-1")
        )
        try:
            principal = await authenticate_signed(request, services, info, body, {api.signing_name})
        except AuthenticationRequired as error:
            await audit_failed_sign_in(request, action, "*", info.access_key_id, error.message)
            raise
        params = api.validate(name, parse_json(body))
        operation = _operation(api, name)
        call = EcrCall(request, services, api.signing_name, name, params, principal, request_id)
        where = Where(call.registry_id, params.get("repositoryName"))
        resource = operation.resource(call)
        await authorize(request, principal, operation.iam_action, resource)
        result = await operation.handler(call)
        if operation.mutates:
            await audit(request, principal, operation.iam_action, resource, "allow", **call.audit_detail)
        return result_response(result, request_id)
    except StrongroomError as error:
        code, message = ecr_error(error, where)
        status = 500 if code == "ServerException" else 400
        if status == 500:
            logger.error("%s failed: %s", action, error.message)
        return error_response(code, message, status, request_id, getattr(error, "ecr_members", None))
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening
    except Exception:
        logger.exception("unexpected error in %s", action)
        return error_response("ServerException", "internal error; see the server log", 500, request_id)


def _target(target: str) -> tuple[ServiceApi, str]:
    prefix, _, name = target.rpartition(".")
    api = service_apis().get(prefix)
    if api is None or name not in api.operation_names:
        raise UnknownOperation(f"unknown operation {target[:200]!r}")
    return api, name


def _operation(api: ServiceApi, name: str) -> Operation:
    operation = OPERATIONS.get((api.signing_name, name))
    if operation is None:
        raise NotImplementedOperation(api.signing_name, name)
    return operation
