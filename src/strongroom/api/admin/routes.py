"""The ``/admin/v1`` routes, each with its ``strongroom:`` action and resource.

Webhook subscriptions are in :mod:`.webhooks`; pull policies and accepted risks in
:mod:`.pull_policies`; the model index in :mod:`.models`; lineage in :mod:`.lineage`.

Jobs belong to the deployment, not to an account: only principals of the default
account (the operators') may act on them, and then only as policy allows. Events belong
to an account: a caller sees its own account's events only.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from strongroom.api.admin.endpoint import AdminCall, AdminRoute
from strongroom.api.admin.lineage import LINEAGE_ROUTES
from strongroom.api.admin.models import MODEL_ROUTES
from strongroom.api.admin.pull_policies import PULL_POLICY_ROUTES
from strongroom.api.admin.replication import REPLICATION_ROUTES
from strongroom.api.admin.webhooks import WEBHOOK_ROUTES
from strongroom.errors import AccessDenied, InvalidRequest
from strongroom.events.catalogue import CATALOGUE
from strongroom.events.log import event_document
from strongroom.jobs.admin import job_document
from strongroom.oci.names import RepositoryRef
from strongroom.registry.images import ImageId
from strongroom.scanning.findings import scan_document

_SINCE = re.compile(r"^([0-9]{1,9})([smhd])$")
_FINDING_KEY = re.compile(r"^[0-9a-f]{64}$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _job_resource(call: AdminCall) -> str:
    """A job of the deployment; refused outright to principals of other accounts."""
    default = call.services.default_account_id
    if call.principal.account_id != default:
        raise AccessDenied(
            f"User: {call.principal.arn} is not authorized to act on jobs: "
            f"they belong to the deployment, whose operators are in account {default}"
        )
    job = call.request.path_params.get("job_id")
    return call.arn(default, f"job/{job if job is not None else '*'}")


def _event_resource(call: AdminCall) -> str:
    return call.arn(call.principal.account_id, "event/*")


async def list_jobs(call: AdminCall) -> dict[str, Any]:
    limit = call.max_results()
    found = await call.services.job_admin.list(
        state=call.query("state"), kind=call.query("kind"), before=call.token_int(), limit=limit
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
        limit=call.max_results(),
    )  # fmt: skip
    result: dict[str, Any] = {"events": [event_document(event) for event in found]}
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
    limit = call.max_results(1000)
    after = call.query("nextToken")
    if after is not None and not _FINDING_KEY.match(after):
        raise InvalidRequest("invalid nextToken")
    ref = _repository(call)
    scanned = await call.services.scans.findings(ref, ImageId(digest, tag), after=after, limit=limit)
    document = scan_document(scanned.digest, scanned.scan, scanned.findings, limit)
    return {"repository": ref.name, "registryId": ref.account_id, **document}


ADMIN_ROUTES = [
    AdminRoute("/jobs", "GET", "strongroom:ListJobs", _job_resource, list_jobs),
    AdminRoute("/jobs/{job_id}", "GET", "strongroom:DescribeJob", _job_resource, describe_job),
    AdminRoute("/jobs/{job_id}/retry", "POST", "strongroom:RetryJob", _job_resource, retry_job),
    AdminRoute("/jobs/{job_id}/cancel", "POST", "strongroom:CancelJob", _job_resource, cancel_job),
    AdminRoute("/events", "GET", "strongroom:ListEvents", _event_resource, list_events),
    AdminRoute("/findings", "GET", "ecr:DescribeImageScanFindings", _findings_resource, describe_findings),
    *WEBHOOK_ROUTES,
    *PULL_POLICY_ROUTES,
    *MODEL_ROUTES,
    *REPLICATION_ROUTES,
    *LINEAGE_ROUTES,
]
