"""Repositories and their settings: create, describe, delete, tag mutability, scan on
push, repository policy and resource tags (reference/ecr-api.md §4.1, §4.5, §4.6, §4.12)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from strongroom.api.ecr.call import ECR, EcrCall, Operation, Result, table
from strongroom.api.ecr.errors import InvalidTagParameter
from strongroom.api.ecr.model import InvalidParameter
from strongroom.api.ecr.pagination import next_token, page_size, position
from strongroom.errors import NameUnknown
from strongroom.registry.policy_review import audit_findings
from strongroom.registry.repositories import Repository, RepositorySpec, TagMutability

_REPOSITORY_ARN = re.compile(r"^arn:aws:ecr:[a-z0-9-]*:(?P<account>[0-9]{12}):repository/(?P<name>.+)$")
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def render_repository(call: EcrCall, repository: Repository) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "repositoryArn": call.repository_arn(repository.account_id, repository.name),
        "registryId": repository.account_id,
        "repositoryName": repository.name,
        "repositoryUri": call.repository_uri(repository.account_id, repository.name),
        "createdAt": repository.created_at,
        "imageTagMutability": repository.tag_mutability,
        "imageScanningConfiguration": {"scanOnPush": repository.scan_on_push},
        "encryptionConfiguration": {
            "encryptionType": repository.encryption_type,
            "kmsKey": repository.kms_key,
        },
    }
    if repository.tag_mutability_filters:
        rendered["imageTagMutabilityExclusionFilters"] = _render_filters(repository.tag_mutability_filters)
    return rendered


def mutability_of(params: Mapping[str, Any]) -> TagMutability | None:
    mode = params.get("imageTagMutability")
    filters = tuple(f["filter"] for f in params.get("imageTagMutabilityExclusionFilters") or ())
    if mode is None:
        if filters:
            raise InvalidParameter("imageTagMutabilityExclusionFilters need an imageTagMutability mode")
        return None
    return TagMutability(mode, filters)


def resource_tags(tags: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Tags as a mapping, checked as ECR checks them (``InvalidTagParameterException``)."""
    result: dict[str, str] = {}
    for tag in tags:
        key, value = tag["Key"], tag["Value"]
        if not 1 <= len(key) <= MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise InvalidTagParameter(
                f"Tag keys have 1 to {MAX_TAG_KEY} characters and values at most {MAX_TAG_VALUE}"
            )
        if key.lower().startswith("aws:"):
            raise InvalidTagParameter("Tag keys starting with 'aws:' are reserved")
        result[key] = value
    return result


# repositories


async def create_repository(call: EcrCall) -> Result:
    params = call.params
    encryption = params.get("encryptionConfiguration") or {}
    if encryption.get("kmsKey") and encryption.get("encryptionType") == "AES256":
        raise InvalidParameter(
            "Invalid parameter at 'encryptionConfiguration': a KMS key needs encryptionType KMS"
        )
    spec = RepositorySpec(
        mutability=mutability_of(params) or TagMutability(),
        scan_on_push=bool((params.get("imageScanningConfiguration") or {}).get("scanOnPush", False)),
        encryption_type=encryption.get("encryptionType"),
        kms_key=encryption.get("kmsKey"),
        resource_tags=resource_tags(params.get("tags") or ()),
    )
    repository = await call.services.repositories.create(call.registry_id, call.repository_name, spec)
    return {"repository": render_repository(call, repository)}


async def describe_repositories(call: EcrCall) -> Result:
    names = call.params.get("repositoryNames")
    if names is not None and ("nextToken" in call.params or "maxResults" in call.params):
        raise InvalidParameter("repositoryNames cannot be combined with nextToken or maxResults")
    limit = page_size(call.params)
    found = await call.services.repositories.describe(
        call.registry_id, names=names, after=position(call.params), limit=limit + 1
    )
    page = found[:limit] if names is None else found
    result: dict[str, Any] = {"repositories": [render_repository(call, r) for r in page]}
    if names is None and len(found) > limit:
        result["nextToken"] = next_token(page[-1].name)
    return result


def described_repositories(call: EcrCall) -> str:
    """The one repository named, else all of the registry's."""
    names: list[str] = call.params.get("repositoryNames") or []
    return call.repository_arn(call.registry_id, names[0] if len(names) == 1 else "*")


async def delete_repository(call: EcrCall) -> Result:
    repository = await call.services.repositories.delete(
        call.registry_id, call.repository_name, force=bool(call.params.get("force", False))
    )
    return {"repository": render_repository(call, repository)}


async def put_image_tag_mutability(call: EcrCall) -> Result:
    mutability = mutability_of(call.params)
    assert mutability is not None  # imageTagMutability is required
    repository = await call.services.repositories.set_tag_mutability(
        call.registry_id, call.repository_name, mutability
    )
    result: dict[str, Any] = {
        "registryId": repository.account_id,
        "repositoryName": repository.name,
        "imageTagMutability": repository.tag_mutability,
    }
    if repository.tag_mutability_filters:
        result["imageTagMutabilityExclusionFilters"] = _render_filters(repository.tag_mutability_filters)
    return result


async def put_image_scanning_configuration(call: EcrCall) -> Result:
    scan_on_push = bool(call.params["imageScanningConfiguration"].get("scanOnPush", False))
    repository = await call.services.repositories.set_scan_on_push(
        call.registry_id, call.repository_name, scan_on_push
    )
    return {
        "registryId": repository.account_id,
        "repositoryName": repository.name,
        "imageScanningConfiguration": {"scanOnPush": repository.scan_on_push},
    }


# the repository policy


async def set_repository_policy(call: EcrCall) -> Result:
    """Stores any policy ECR would; ``force`` (ECR's lock-out guard) has no effect here
    (registry/policy_review.py)."""
    text = call.params["policyText"]
    found = await call.services.repositories.set_policy(call.registry_id, call.repository_name, text)
    call.audit_detail["findings"] = audit_findings(found)
    return _policy_result(call, text)


async def get_repository_policy(call: EcrCall) -> Result:
    text = await call.services.repositories.policy(call.registry_id, call.repository_name)
    return _policy_result(call, text)


async def delete_repository_policy(call: EcrCall) -> Result:
    text = await call.services.repositories.delete_policy(call.registry_id, call.repository_name)
    return _policy_result(call, text)


def _policy_result(call: EcrCall, text: str) -> dict[str, Any]:
    return {"registryId": call.registry_id, "repositoryName": call.repository_name, "policyText": text}


# resource tags


def tagged_resource(call: EcrCall) -> str:
    """The repository ARN in ``resourceArn`` (authorized as given)."""
    arn = str(call.params["resourceArn"])
    if _REPOSITORY_ARN.match(arn) is None:
        raise InvalidParameter(
            "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'must be a repository ARN'"
        )
    return arn


def _tagged_repository(call: EcrCall) -> tuple[str, str]:
    match = _REPOSITORY_ARN.match(tagged_resource(call))
    assert match is not None
    return match.group("account"), match.group("name")


async def tag_resource(call: EcrCall) -> Result:
    account, name = _tagged_repository(call)
    await call.services.repositories.tag(account, name, resource_tags(call.params["tags"]))
    return {}


async def untag_resource(call: EcrCall) -> Result:
    account, name = _tagged_repository(call)
    await call.services.repositories.untag(account, name, call.params["tagKeys"])
    return {}


async def list_tags_for_resource(call: EcrCall) -> Result:
    account, name = _tagged_repository(call)
    try:
        tags = await call.services.repositories.resource_tags(account, name)
    except NameUnknown:
        raise NameUnknown(name) from None
    return {"tags": [{"Key": key, "Value": value} for key, value in tags.items()]}


def _render_filters(filters: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"filterType": "WILDCARD", "filter": value} for value in filters]


OPERATIONS = table(
    Operation(ECR, "CreateRepository", create_repository, mutates=True),
    Operation(ECR, "DescribeRepositories", describe_repositories, resource=described_repositories),
    Operation(ECR, "DeleteRepository", delete_repository, mutates=True),
    Operation(ECR, "PutImageTagMutability", put_image_tag_mutability, mutates=True),
    Operation(ECR, "PutImageScanningConfiguration", put_image_scanning_configuration, mutates=True),
    Operation(ECR, "SetRepositoryPolicy", set_repository_policy, mutates=True),
    Operation(ECR, "GetRepositoryPolicy", get_repository_policy),
    Operation(ECR, "DeleteRepositoryPolicy", delete_repository_policy, mutates=True),
    Operation(ECR, "TagResource", tag_resource, resource=tagged_resource, mutates=True),
    Operation(ECR, "UntagResource", untag_resource, resource=tagged_resource, mutates=True),
    Operation(ECR, "ListTagsForResource", list_tags_for_resource, resource=tagged_resource),
)
