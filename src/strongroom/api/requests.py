"""What every front door (OCI, IAM/STS, ECR) does around its handlers the same way:
reading a bounded body, deciding an action with AWS's denial message, and recording
audit events that never fail the request."""

from __future__ import annotations

import logging
from typing import Literal

from starlette.requests import Request

from strongroom.audit.log import ANONYMOUS as AUDIT_ANONYMOUS
from strongroom.audit.log import AuditEvent, JsonValue
from strongroom.auth.authorizer import AccessRequest, denial_message
from strongroom.auth.principals import Principal
from strongroom.errors import AccessDenied, InvalidRequest
from strongroom.services import Services
from strongroom.untrusted import decimal_integer

logger = logging.getLogger("strongroom.api")


class RequestTooLarge(InvalidRequest):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body (a signed request's hash covers it), refused above ``limit`` bytes
    before it is all read."""
    declared = decimal_integer(request.headers.get("content-length", ""), max_digits=19)
    if declared is not None and declared > limit:
        raise RequestTooLarge(f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def request_context(request: Request) -> dict[str, str | list[str]]:
    """The condition keys a request brings (IAM "AWS global condition context keys")."""
    services: Services = request.app.state.services
    now = services.clock.now()
    context: dict[str, str | list[str]] = {
        "aws:SecureTransport": "true" if request.url.scheme == "https" else "false",
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
    }
    if request.client is not None:
        context["aws:SourceIp"] = request.client.host
    return context


async def authorize(request: Request, principal: Principal, action: str, resource: str) -> None:
    """Raise ``AccessDenied`` (worded as AWS words it, and audited) unless policy allows."""
    services: Services = request.app.state.services
    decision = await services.authorizer.decide(
        AccessRequest(principal, action, resource, request_context(request))
    )
    if not decision.allowed:
        denied = AccessDenied(denial_message(principal, action, resource, decision))
        await audit(
            request, principal, action, resource, "deny", message=denied.message, reason=decision.reason
        )
        raise denied


async def audit_failed_sign_in(
    request: Request, action: str, resource: str, claimed: str, message: str
) -> None:
    """Record a failed sign-in, aggregated per source address and claimed identity
    (:mod:`strongroom.audit.sign_ins`): guesses cannot grow the log one event each."""
    services: Services = request.app.state.services
    source = request.client.host if request.client else None
    now = services.clock.now()
    for event in services.sign_in_failures.note(now, source, claimed, action, resource, message):
        await _record(services, event)


async def record_closed_sign_in_failures(services: Services) -> None:
    """Write the summaries of aggregation windows that have closed (run periodically)."""
    for event in services.sign_in_failures.due(services.clock.now()):
        await _record(services, event)


async def _record(services: Services, event: AuditEvent) -> None:
    try:
        await services.audit.record(event)
    except Exception:
        logger.exception("could not record audit event %s %s", event.action, event.resource)


async def audit(
    request: Request,
    principal: Principal,
    action: str,
    resource: str,
    decision: Literal["allow", "deny"],
    **detail: JsonValue,
) -> None:
    """Append an audit event for this request; a failure to record is logged loudly, and
    the request's outcome stands."""
    await _record(
        request.app.state.services, audit_event(request, principal, action, resource, decision, **detail)
    )


def audit_event(
    request: Request,
    principal: Principal,
    action: str,
    resource: str,
    decision: Literal["allow", "deny"],
    **detail: JsonValue,
) -> AuditEvent:
    """The audit event of this request, now."""
    services: Services = request.app.state.services
    return AuditEvent(
        time=services.clock.now(),
        principal=principal.arn if not principal.is_anonymous else AUDIT_ANONYMOUS,
        action=action,
        resource=resource,
        source_ip=request.client.host if request.client else None,
        decision=decision,
        detail={"method": request.method, "path": request.url.path, **detail},
    )
