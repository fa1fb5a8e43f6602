"""The ``/admin/v1`` routes, each with its ``strongroom:`` action and resource.

Jobs belong to the deployment, not to an account: only principals of the default
account (the operators') may act on them, and then only as policy allows. Events belong
to an account: a caller sees its own account's events only.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from strongroom.api.admin.endpoint import AdminCall, AdminRoute
from strongroom.errors import AccessDenied, InvalidRequest
from strongroom.events.catalogue import CATALOGUE
from strongroom.jobs.admin import job_document
from strongroom.oci.names import RepositoryRef
from strongroom.registry.images import ImageId
from strongroom.scanning.findings import scan_document

_SINCE = re.compile(r"^([0-9]{1,9})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _arn(call: AdminCall, account_id: str, resource: str) -> str:
    return f"arn:aws:strongroom:{call.services.settings.region}:{account_id}:{resource}"


def _job_resource(call: AdminCall) -> str:
    """A job of the deployment; refused outright to principals of other accounts."""
    default = call.services.default_account_id
    if call.principal.account_id != default:
        raise AccessDenied(
            f"User: {call.principal.arn} is not authorized to act on jobs: "
            f"they belong to the deployment, whose operators are in account {default}"
        )
    job = call.request.path_params.get("job_id")
    return _arn(call, default, f"job/{job if job is not None else '*'}")


def _event_resource(call: AdminCall) -> str:
    return _arn(call, call.principal.account_id, "event/*")


def _limit(call: AdminCall, default: int = 100) -> int:
    text = call.query("maxResults")
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise InvalidRequest("maxResults must be from 1 to 1000")
    return int(text)


async def list_jobs(call: AdminCall) -> dict[str, Any]:
    token = call.query("nextToken")
    if token is not None and not token.isdigit():
        raise InvalidRequest("invalid nextToken")
    limit = _limit(call)
    found = await call.services.job_admin.list(
        state=call.query("state"), kind=call.query("kind"), before=int(token) if token else None, limit=limit
    )
    result: dict[str, Any] = {"jobs": [job_document(job) for job in found]}
    if len(found) == limit:
        result["nextToken"] = str(found[-1].id)
    return result


async def describe_job(call: AdminCall) -> dict[str, Any]:
    return job_document(await call.services.job_admin.show(call.path_int("job_id")))


async def retry_job(call: AdminCall) -> dict[str, Any]:
    return job_document(await call.services.job_admin.retry(call.path_int("job_id"), call.principal.arn))


async def cancel_job(call: AdminCall) -> dict[str, Any]:
    return job_document(await call.services.job_admin.cancel(call.path_int("job_id"), call.principal.arn))


async def list_events(call: AdminCall) -> dict[str, Any]:
    event_type = call.query("type")
    if event_type is not None and event_type not in CATALOGUE:
        raise InvalidRequest(f"unknown event type {event_type[:64]!r}")
    since = call.query("since")
    start = None
    if since is not None:
        match = _SINCE.match(since)
        if match is None:
            raise InvalidRequest("since is a number and a unit: 30s, 15m, 1h, 7d")
        start = call.services.clock.now() - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    found, token = await call.services.event_log.page(
        call.principal.account_id, since=start, type=event_type, next_token=call.query("nextToken"),
        limit=_limit(call),
    )  # fmt: skip
    result: dict[str, Any] = {
        "events": [
            {
                "id": event.id,
                "type": event.type,
                "cloudEventsType": CATALOGUE[event.type].cloudevents_type
                if event.type in CATALOGUE
                else None,
                "time": event.at.isoformat(),
                "account": event.account_id,
                "subject": event.subject,
                "data": event.data,
            }
            for event in found
        ]
    }
    if token is not None:
        result["nextToken"] = token
    return result


def _repository(call: AdminCall) -> RepositoryRef:
    name = call.query("repository")
    if not name:
        raise InvalidRequest("repository is required: [<account id>/]name")
    return RepositoryRef.parse(name, call.principal.account_id)


def _findings_resource(call: AdminCall) -> str:
    """The repository: reading findings here is ``ecr:DescribeImageScanFindings``, the
    permission that reads them through the ECR API."""
    return _repository(call).arn(call.services.settings.region)


async def describe_findings(call: AdminCall) -> dict[str, Any]:
    """An image's last scan and its open findings, model files included."""
    tag, digest = call.query("imageTag"), call.query("imageDigest")
    if (tag is None) == (digest is None):
        raise InvalidRequest("give one of imageTag and imageDigest")
    limit = _limit(call, 1000)
    ref = _repository(call)
    scanned = await call.services.scans.findings(
        ref, ImageId(digest, tag), after=call.query("nextToken"), limit=limit
    )
    document = scan_document(scanned.digest, scanned.scan, scanned.findings, limit)
    return {"repository": ref.name, "registryId": ref.account_id, **document}


ADMIN_ROUTES = [
    AdminRoute("/jobs", "GET", "strongroom:ListJobs", _job_resource, list_jobs),
    AdminRoute("/jobs/{job_id}", "GET", "strongroom:DescribeJob", _job_resource, describe_job),
    AdminRoute("/jobs/{job_id}/retry", "POST", "strongroom:RetryJob", _job_resource, retry_job),
    AdminRoute("/jobs/{job_id}/cancel", "POST", "strongroom:CancelJob", _job_resource, cancel_job),
    AdminRoute("/events", "GET", "strongroom:ListEvents", _event_resource, list_events),
    AdminRoute("/findings", "GET", "ecr:DescribeImageScanFindings", _findings_resource, describe_findings),
]
