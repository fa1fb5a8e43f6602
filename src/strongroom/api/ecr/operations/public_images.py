"""ECR Public ``DescribeImages`` and ``DescribeImageTags`` (reference/ecr-api.md §3).

The same use cases as ECR's DescribeImages (:class:`strongroom.registry.images.Images`),
on public repositories only: to ECR Public a private repository does not exist, so its
images are never described here. Output carries only the members of ``ecr-public``'s
shapes (``ImageDetail``, ``ImageTagDetail``); ECR Public has no ``filter``.
Authorized as ``ecr-public:DescribeImages`` and ``ecr-public:DescribeImageTags`` on the
public repository ARN, as every other ECR Public repository operation (public.py).
"""

from __future__ import annotations

from typing import Any

from strongroom.api.ecr.call import ECR_PUBLIC, EcrCall, Operation, Result, table
from strongroom.api.ecr.operations.images import digest_position, ids_alone
from strongroom.api.ecr.operations.public import public_repository
from strongroom.api.ecr.pagination import next_token, page_size, position
from strongroom.registry.images import ImageSummary, TaggedImage


def _reference(image: ImageSummary) -> dict[str, Any]:
    """ECR Public's ``ReferencedImageDetail``: the image without repository or tags."""
    return {
        "imageDigest": image.digest,
        "imageSizeInBytes": image.size,
        "imagePushedAt": image.pushed_at,
        "imageManifestMediaType": image.media_type,
        "artifactMediaType": image.config_media_type,
    }


def render_detail(call: EcrCall, image: ImageSummary) -> dict[str, Any]:
    """ECR Public's ``ImageDetail``."""
    return {
        "registryId": call.registry_id,
        "repositoryName": call.repository_name,
        "imageTags": list(image.tags) or None,
        **_reference(image),
    }


def render_tag(tagged: TaggedImage) -> dict[str, Any]:
    """ECR Public's ``ImageTagDetail``."""
    return {"imageTag": tagged.tag, "createdAt": tagged.tagged_at, "imageDetail": _reference(tagged.image)}


async def describe_images(call: EcrCall) -> Result:
    await public_repository(call, call.registry_id, call.repository_name)
    images = call.services.images
    ids = ids_alone(call.params)
    if ids is not None:
        found = await images.describe_ids(call.repository, ids)
        return {"imageDetails": [render_detail(call, image) for image in found]}
    limit = page_size(call.params)
    found = await images.describe(call.repository, "ANY", digest_position(call.params), limit + 1)
    result: dict[str, Any] = {"imageDetails": [render_detail(call, image) for image in found[:limit]]}
    if len(found) > limit:
        result["nextToken"] = next_token(found[limit - 1].digest)
    return result


async def describe_image_tags(call: EcrCall) -> Result:
    await public_repository(call, call.registry_id, call.repository_name)
    limit = page_size(call.params)
    found = await call.services.images.describe_tags(call.repository, position(call.params), limit + 1)
    result: dict[str, Any] = {"imageTagDetails": [render_tag(tagged) for tagged in found[:limit]]}
    if len(found) > limit:
        result["nextToken"] = next_token(found[limit - 1].tag)
    return result


OPERATIONS = table(
    Operation(ECR_PUBLIC, "DescribeImages", describe_images),
    Operation(ECR_PUBLIC, "DescribeImageTags", describe_image_tags),
)
