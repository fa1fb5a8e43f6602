"""Images: list, describe, get, put, delete, and referrers (reference/ecr-api.md §4.2).

The use cases are :class:`strongroom.registry.images.Images`; PutImage and BatchGetImage
share the OCI manifest PUT and GET underneath.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from strongroom.api.ecr.call import ECR, EcrCall, Operation, Result, table
from strongroom.api.ecr.model import InvalidParameter
from strongroom.api.ecr.pagination import next_token, page_size, position
from strongroom.auth.actions import Action
from strongroom.oci.digest import Digest
from strongroom.registry.images import ImageFailure, ImageId, ImageSummary, TagStatus
from strongroom.registry.scans import ScanRecord

REFERRERS_PAGE = 20
ACTIVE = "ACTIVE"


def image_id_of(raw: Mapping[str, Any]) -> ImageId:
    return ImageId(raw.get("imageDigest"), raw.get("imageTag"))


def render_image_id(image_id: ImageId) -> dict[str, Any]:
    return {"imageDigest": image_id.digest, "imageTag": image_id.tag}


def render_failure(failure: ImageFailure) -> dict[str, Any]:
    return {
        "imageId": render_image_id(failure.image_id),
        "failureCode": failure.code,
        "failureReason": failure.reason,
    }


def _filter(params: Mapping[str, Any]) -> TagStatus | None:
    """``filter.tagStatus``, or None when ``filter.imageStatus`` asks for images that
    cannot exist here (Strongroom archives nothing: every image is ACTIVE)."""
    given = params.get("filter") or {}
    if given.get("imageStatus", ACTIVE) not in (ACTIVE, "ANY"):
        return None
    status: TagStatus = given.get("tagStatus", "ANY")
    return status


def ids_alone(params: Mapping[str, Any]) -> list[ImageId] | None:
    ids = params.get("imageIds")
    if ids is not None and ("nextToken" in params or "maxResults" in params):
        raise InvalidParameter("imageIds cannot be combined with nextToken or maxResults")
    return None if ids is None else [image_id_of(raw) for raw in ids]


def digest_position(params: Mapping[str, Any]) -> str | None:
    """The digest a ``nextToken`` continues after."""
    after = position(params)
    if after is not None and ":" not in after:
        raise InvalidParameter(
            "Invalid parameter at 'nextToken' failed to satisfy constraint: 'invalid token'"
        )
    return after


def _id_position(params: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (digest, tag or "") a ListImages ``nextToken`` continues after."""
    after = digest_position(params)
    if after is None:
        return None
    digest, _, tag = after.partition("\n")
    return digest, tag


# listing and describing


async def list_images(call: EcrCall) -> Result:
    tag_status = _filter(call.params)
    after = _id_position(call.params)
    limit = page_size(call.params)
    images = call.services.images
    found = [] if tag_status is None else await images.list_ids(call.repository, tag_status, after, limit + 1)
    result: dict[str, Any] = {"imageIds": [render_image_id(image_id) for image_id in found[:limit]]}
    if len(found) > limit:
        last = found[limit - 1]
        result["nextToken"] = next_token(f"{last.digest}\n{last.tag or ''}")
    return result


def render_detail(call: EcrCall, image: ImageSummary) -> dict[str, Any]:
    return {
        "registryId": call.registry_id,
        "repositoryName": call.repository_name,
        "imageDigest": image.digest,
        "imageTags": list(image.tags) or None,
        "imageSizeInBytes": image.size,
        "imagePushedAt": image.pushed_at,
        "imageManifestMediaType": image.media_type,
        "artifactMediaType": image.config_media_type,
        "lastRecordedPullTime": image.last_pulled_at,
        "subjectManifestDigest": image.subject_digest,
        "imageStatus": ACTIVE,
    }


def render_status(scan: ScanRecord) -> dict[str, Any]:
    status: dict[str, Any] = {"status": scan.status}
    if scan.description:
        status["description"] = scan.description
    return status


def render_summary(scan: ScanRecord) -> dict[str, Any] | None:
    """DescribeImages' ``imageScanFindingsSummary``: only for a scan that finished (an
    image whose eligibility expired keeps the findings of its last evaluation)."""
    if scan.completed_at is None or scan.status not in ("COMPLETE", "SCAN_ELIGIBILITY_EXPIRED"):
        return None
    summary: dict[str, Any] = {
        "imageScanCompletedAt": scan.completed_at,
        "findingSeverityCounts": scan.severity_counts,
    }
    if scan.vulnerability_source_updated_at is not None:
        summary["vulnerabilitySourceUpdatedAt"] = scan.vulnerability_source_updated_at
    return summary


async def _details(call: EcrCall, found: Sequence[ImageSummary]) -> list[dict[str, Any]]:
    """Each image's detail, with its last scan's status and summary where it has one."""
    scans = await call.services.scans.summaries(call.repository, [image.digest for image in found])
    details = []
    for image in found:
        detail = render_detail(call, image)
        scan = scans.get(image.digest)
        if scan is not None:
            detail["imageScanStatus"] = render_status(scan)
            detail["imageScanFindingsSummary"] = render_summary(scan)
        details.append(detail)
    return details


async def describe_images(call: EcrCall) -> Result:
    images = call.services.images
    ids = ids_alone(call.params)
    if ids is not None:
        return {"imageDetails": await _details(call, await images.describe_ids(call.repository, ids))}
    tag_status = _filter(call.params)
    limit = page_size(call.params)
    after = digest_position(call.params)
    found = [] if tag_status is None else await images.describe(call.repository, tag_status, after, limit + 1)
    result: dict[str, Any] = {"imageDetails": await _details(call, found[:limit])}
    if len(found) > limit:
        result["nextToken"] = next_token(found[limit - 1].digest)
    return result


# getting, putting and deleting


async def batch_get_image(call: EcrCall) -> Result:
    ids = [image_id_of(raw) for raw in call.params["imageIds"]]
    found, failures = await call.services.images.get(
        call.repository, ids, call.params.get("acceptedMediaTypes"), call.puller
    )
    images = [
        _render_image(call, image.image_id, image.manifest.content, image.manifest.media_type)
        for image in found
    ]
    return {"images": images, "failures": [render_failure(failure) for failure in failures]}


async def put_image(call: EcrCall) -> Result:
    params = call.params
    pushed = await call.services.images.put(
        call.repository,
        params["imageManifest"].encode(),
        params.get("imageManifestMediaType"),
        params.get("imageTag"),
        params.get("imageDigest"),
        replace(call.puller, action=Action.PUT_IMAGE),
    )
    image_id = ImageId(pushed.digest, pushed.tag)
    return {"image": _render_image(call, image_id, params["imageManifest"], pushed.media_type)}


def _render_image(call: EcrCall, image_id: ImageId, manifest: str | bytes, media_type: str) -> dict[str, Any]:
    return {
        "registryId": call.registry_id,
        "repositoryName": call.repository_name,
        "imageId": render_image_id(image_id),
        "imageManifest": manifest if isinstance(manifest, str) else manifest.decode("utf-8", "replace"),
        "imageManifestMediaType": media_type,
    }


async def batch_delete_image(call: EcrCall) -> Result:
    ids = [image_id_of(raw) for raw in call.params["imageIds"]]
    deleted, failures = await call.services.images.delete(call.repository, ids)
    return {
        "imageIds": [render_image_id(image_id) for image_id in deleted],
        "failures": [render_failure(failure) for failure in failures],
    }


# referrers


async def list_image_referrers(call: EcrCall) -> Result:
    params = call.params
    subject = Digest.parse(params["subjectId"]["imageDigest"])
    given = params.get("filter") or {}
    limit = page_size(params, REFERRERS_PAGE)
    found: Sequence[dict[str, Any]] = []
    if given.get("artifactStatus", ACTIVE) in (ACTIVE, "ANY"):
        found = await call.services.images.referrers(
            call.repository, subject, given.get("artifactTypes") or (), digest_position(params)
        )
    result: dict[str, Any] = {
        "referrers": [{**descriptor, "artifactStatus": ACTIVE} for descriptor in found[:limit]]
    }
    if len(found) > limit:
        result["nextToken"] = next_token(found[limit - 1]["digest"])
    return result


OPERATIONS = table(
    Operation(ECR, "ListImages", list_images),
    Operation(ECR, "DescribeImages", describe_images),
    Operation(ECR, "BatchGetImage", batch_get_image),
    Operation(ECR, "PutImage", put_image, mutates=True),
    Operation(ECR, "BatchDeleteImage", batch_delete_image, mutates=True),
    # The model documents ListImageReferrers as authorized by ecr:BatchGetImage.
    Operation(ECR, "ListImageReferrers", list_image_referrers, action=Action.BATCH_GET_IMAGE),
)
