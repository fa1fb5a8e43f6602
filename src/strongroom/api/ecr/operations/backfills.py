"""Replication backfills: StartReplicationBackfill, StopReplicationBackfill,
ListReplicationBackfills and DescribeReplicationBackfillResults, in botocore's shapes
(the use case is :mod:`strongroom.replication.backfill`)."""

from __future__ import annotations

from typing import Any

from strongroom.api.ecr.call import ECR, EcrCall, Operation, Result, registry_resource, table
from strongroom.replication.backfill import Backfill, BackfillResult

PAGE = 100


async def start_replication_backfill(call: EcrCall) -> Result:
    account = call.own_registry()
    destination = call.params["destination"]
    started = await call.services.replication_backfills.start(
        account, destination["region"], destination["registryId"]
    )
    return {"registryId": account, **_summary(started, progress=False)}


async def stop_replication_backfill(call: EcrCall) -> Result:
    account = call.own_registry()
    stopped = await call.services.replication_backfills.stop(account, call.params["replicationBackfillId"])
    return {"registryId": account, **_summary(stopped, progress=False)}


async def list_replication_backfills(call: EcrCall) -> Result:
    account = call.own_registry()
    found = await call.services.replication_backfills.of_account(account)
    page, token = _page(found, call.params)
    return {"registryId": account, "backfills": [_summary(b) for b in page], **token}


async def describe_replication_backfill_results(call: EcrCall) -> Result:
    account = call.own_registry()
    backfill, results = await call.services.replication_backfills.results(
        account, call.params["replicationBackfillId"], call.params.get("resultStatusFilter")
    )
    page, token = _page(results, call.params)
    return {"registryId": account, **_summary(backfill), "results": [_result(r) for r in page], **token}


def _summary(backfill: Backfill, *, progress: bool = True) -> dict[str, Any]:
    document: dict[str, Any] = {
        "replicationBackfillId": backfill.id,
        "destination": {"region": backfill.region, "registryId": backfill.registry_id},
        "status": backfill.status,
        "startedAt": backfill.started_at,
    }
    if progress:
        document["progress"] = {
            "totalReplicationCount": backfill.total,
            "completedReplicationCount": backfill.completed,
            "failedReplicationCount": backfill.failed,
            "failureCodes": list(backfill.failure_codes),
        }
        if backfill.ended_at is not None:
            document["endedAt"] = backfill.ended_at
    return document


def _result(result: BackfillResult) -> dict[str, Any]:
    image_id = {"imageDigest": result.digest, **({"imageTag": result.tag} if result.tag else {})}
    document: dict[str, Any] = {
        "repositoryName": result.repository,
        "imageId": image_id,
        "status": result.status,
    }
    if result.failure_code:
        document["failureCode"] = result.failure_code
    return document


def _page(items: list[Any], params: Any) -> tuple[list[Any], dict[str, str]]:
    """A page by position: ``nextToken`` is the index of the next item."""
    token = params.get("nextToken")
    start = int(token) if isinstance(token, str) and token.isdigit() else 0
    size = int(params.get("maxResults") or PAGE)
    page = items[start : start + size]
    return page, ({"nextToken": str(start + size)} if start + size < len(items) else {})


OPERATIONS = table(
    Operation(
        ECR, "StartReplicationBackfill", start_replication_backfill, resource=registry_resource, mutates=True
    ),
    Operation(
        ECR, "StopReplicationBackfill", stop_replication_backfill, resource=registry_resource, mutates=True
    ),
    Operation(ECR, "ListReplicationBackfills", list_replication_backfills, resource=registry_resource),
    Operation(
        ECR,
        "DescribeReplicationBackfillResults",
        describe_replication_backfill_results,
        resource=registry_resource,
    ),
)
