"""Lifecycle policies and their previews (reference/ecr-api.md §2 "Lifecycle policies", §5).

A preview is evaluated when it is started and stored complete, so
``StartLifecyclePolicyPreview`` answers ``COMPLETE`` and boto3's
``LifecyclePolicyPreviewComplete`` waiter succeeds on its first poll.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from strongroom.api.ecr.call import ECR, EcrCall, Operation, Result, table
from strongroom.api.ecr.model import InvalidParameter
from strongroom.api.ecr.pagination import next_token, page_size, position
from strongroom.lifecycle import Verdict
from strongroom.untrusted import decimal_integer

STORAGE_CLASS = "STANDARD"
"""Every image here is in standard storage: Strongroom has no archive."""


async def put_lifecycle_policy(call: EcrCall) -> Result:
    text = await call.services.lifecycle.put_policy(
        call.registry_id, call.repository_name, call.params["lifecyclePolicyText"]
    )
    return {**_where(call), "lifecyclePolicyText": text}


async def get_lifecycle_policy(call: EcrCall) -> Result:
    stored = await call.services.lifecycle.policy(call.registry_id, call.repository_name)
    return {**_where(call), "lifecyclePolicyText": stored.text, "lastEvaluatedAt": stored.evaluated_at}


async def delete_lifecycle_policy(call: EcrCall) -> Result:
    stored = await call.services.lifecycle.delete_policy(call.registry_id, call.repository_name)
    return {**_where(call), "lifecyclePolicyText": stored.text, "lastEvaluatedAt": stored.evaluated_at}


async def start_lifecycle_policy_preview(call: EcrCall) -> Result:
    preview = await call.services.lifecycle.start_preview(
        call.registry_id, call.repository_name, call.params.get("lifecyclePolicyText")
    )
    return {**_where(call), "lifecyclePolicyText": preview.policy, "status": preview.status}


async def get_lifecycle_policy_preview(call: EcrCall) -> Result:
    params = call.params
    image_ids = params.get("imageIds")
    if image_ids is not None and ("nextToken" in params or "maxResults" in params):
        raise InvalidParameter("imageIds cannot be combined with nextToken or maxResults")
    preview = await call.services.lifecycle.preview(call.registry_id, call.repository_name)
    tag_status = (params.get("filter") or {}).get("tagStatus", "ANY")
    selected = [
        verdict
        for verdict in preview.verdicts
        if _has_tag_status(verdict, tag_status) and (image_ids is None or _identified(verdict, image_ids))
    ]
    start = _start(params)
    limit = len(selected) if image_ids is not None else page_size(params)
    page = selected[start : start + limit]
    result: dict[str, Any] = {
        **_where(call),
        "lifecyclePolicyText": preview.policy,
        "status": preview.status,
        "previewResults": [_render(verdict) for verdict in page],
        "summary": {"expiringImageTotalCount": len(preview.verdicts)},
    }
    if start + limit < len(selected):
        result["nextToken"] = next_token(str(start + limit))
    return result


def _where(call: EcrCall) -> dict[str, str]:
    return {"registryId": call.registry_id, "repositoryName": call.repository_name}


def _start(params: Mapping[str, Any]) -> int:
    after = position(params)
    if after is None:
        return 0
    start = decimal_integer(after, max_digits=19)  # a forged token may hold '²' or 5,000 digits
    if start is None:
        raise InvalidParameter(
            "Invalid parameter at 'nextToken' failed to satisfy constraint: 'invalid token'"
        )
    return start


def _has_tag_status(verdict: Verdict, tag_status: str) -> bool:
    if tag_status == "TAGGED":
        return bool(verdict.tags)
    if tag_status == "UNTAGGED":
        return not verdict.tags
    return True


def _identified(verdict: Verdict, image_ids: Sequence[Mapping[str, str]]) -> bool:
    return any(
        ("imageDigest" in image_id or "imageTag" in image_id)
        and image_id.get("imageDigest", verdict.digest) == verdict.digest
        and ("imageTag" not in image_id or image_id["imageTag"] in verdict.tags)
        for image_id in image_ids
    )


def _render(verdict: Verdict) -> dict[str, Any]:
    return {
        "imageTags": list(verdict.tags),
        "imageDigest": verdict.digest,
        "imagePushedAt": verdict.pushed_at,
        "action": {"type": verdict.action},
        "appliedRulePriority": verdict.rule_priority,
        "storageClass": STORAGE_CLASS,
    }


OPERATIONS = table(
    Operation(ECR, "PutLifecyclePolicy", put_lifecycle_policy, mutates=True),
    Operation(ECR, "GetLifecyclePolicy", get_lifecycle_policy),
    Operation(ECR, "DeleteLifecyclePolicy", delete_lifecycle_policy, mutates=True),
    Operation(ECR, "StartLifecyclePolicyPreview", start_lifecycle_policy_preview, mutates=True),
    Operation(ECR, "GetLifecyclePolicyPreview", get_lifecycle_policy_preview),
)
