"""Repository creation templates: Create, Describe, Update and Delete
RepositoryCreationTemplate (reference/ecr-api.md §4.10).

A template's document is stored with ECR's member names (``imageTagMutability``,
``resourceTags``, ``repositoryPolicy``, ``appliedFor``, …): :class:`Repositories` reads
those when it creates a repository on push (``CREATE_ON_PUSH``). Empty strings clear a
member on update, as Terraform sends them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from strongroom.api.ecr.call import ECR, EcrCall, Operation, Result, registry_resource, table
from strongroom.api.ecr.errors import InvalidTagParameter, TemplateAlreadyExists, TemplateNotFound
from strongroom.api.ecr.model import InvalidParameter
from strongroom.api.ecr.operations.repositories import mutability_of, resource_tags
from strongroom.api.ecr.pagination import next_token, page_size, position
from strongroom.lifecycle import parse_lifecycle_policy
from strongroom.policy.document import Policy, PolicyKind
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.registry.repositories import CreationTemplate

MEMBERS = (
    "description",
    "encryptionConfiguration",
    "resourceTags",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "repositoryPolicy",
    "lifecyclePolicy",
    "appliedFor",
    "customRoleArn",
)
"""The members a template document holds (the prefix and times are kept beside it)."""
MAX_RESOURCE_TAGS = 50
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):role/[\w+=,.@/-]+$")


def _not_found(prefix: str, account: str) -> TemplateNotFound:
    return TemplateNotFound(
        f"The repository creation template with prefix '{prefix}' does not exist "
        f"in the registry with id '{account}'"
    )


def _invalid(member: str, reason: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter at '{member}' failed to satisfy constraint: '{reason}'")


def validate_document(document: Mapping[str, Any], account: str) -> dict[str, Any]:
    """The document to store: members checked as ECR checks them, empty ones dropped."""
    cleaned = {key: value for key, value in document.items() if key in MEMBERS and value not in ("", [])}
    applied_for = list(dict.fromkeys(cleaned.get("appliedFor", ())))
    if not applied_for:
        raise _invalid(
            "appliedFor", "Member must name at least one of REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH"
        )
    cleaned["appliedFor"] = applied_for
    mutability_of(cleaned)  # a mode that fits its exclusion filters
    if "encryptionConfiguration" in cleaned:
        encryption = {k: v for k, v in cleaned["encryptionConfiguration"].items() if v}
        if "kmsKey" in encryption and encryption["encryptionType"] == "AES256":
            raise _invalid("encryptionConfiguration", "a KMS key needs encryptionType KMS or KMS_DSSE")
        cleaned["encryptionConfiguration"] = encryption
    tags = cleaned.get("resourceTags", [])
    try:
        resource_tags(tags)
    except InvalidTagParameter as error:
        raise _invalid("resourceTags", error.message) from None
    if len(tags) > MAX_RESOURCE_TAGS:
        raise _invalid("resourceTags", f"Member must have at most {MAX_RESOURCE_TAGS} tags")
    if "repositoryPolicy" in cleaned:
        try:
            Policy.from_json(cleaned["repositoryPolicy"], PolicyKind.RESOURCE)
        except MalformedPolicyDocument as error:
            raise _invalid(
                "repositoryPolicy", f"Invalid repository policy provided: {error.message}"
            ) from None
    if "lifecyclePolicy" in cleaned:
        parse_lifecycle_policy(cleaned["lifecyclePolicy"])
    role = cleaned.get("customRoleArn")
    if role is not None:
        match = _ROLE_ARN.match(role)
        if match is None or match.group("account") != account:
            raise _invalid("customRoleArn", "Member must be the ARN of an IAM role in the registry's account")
    return cleaned


def render_template(template: CreationTemplate) -> dict[str, Any]:
    document = json.loads(template.document)
    return {
        "prefix": template.prefix,
        "description": document.get("description"),
        "encryptionConfiguration": document.get("encryptionConfiguration") or {"encryptionType": "AES256"},
        "resourceTags": document.get("resourceTags", []),
        "imageTagMutability": document.get("imageTagMutability", "MUTABLE"),
        "imageTagMutabilityExclusionFilters": document.get("imageTagMutabilityExclusionFilters"),
        "repositoryPolicy": document.get("repositoryPolicy"),
        "lifecyclePolicy": document.get("lifecyclePolicy"),
        "appliedFor": document.get("appliedFor", []),
        "customRoleArn": document.get("customRoleArn"),
        "createdAt": template.created_at,
        "updatedAt": template.updated_at,
    }


async def _template(call: EcrCall, account: str, prefix: str) -> CreationTemplate:
    for template in await call.services.repository_store.creation_templates(account):
        if template.prefix == prefix:
            return template
    raise _not_found(prefix, account)


async def create_repository_creation_template(call: EcrCall) -> Result:
    account = call.own_registry()
    prefix = call.params["prefix"]
    document = validate_document(call.params, account)
    now = call.services.clock.now()
    template = CreationTemplate(prefix, json.dumps(document), now, now)
    if not await call.services.repository_store.create_creation_template(account, template):
        raise TemplateAlreadyExists(
            f"The repository creation template with prefix '{prefix}' already exists "
            f"in the registry with id '{account}'"
        )
    return {"registryId": account, "repositoryCreationTemplate": render_template(template)}


async def describe_repository_creation_templates(call: EcrCall) -> Result:
    account = call.own_registry()
    prefixes = call.params.get("prefixes")
    after = position(call.params)
    limit = page_size(call.params)
    stored = sorted(await call.services.repository_store.creation_templates(account), key=lambda t: t.prefix)
    templates = [
        template
        for template in stored
        if (prefixes is None or template.prefix in prefixes) and (after is None or template.prefix > after)
    ]
    page = templates[:limit]
    result: dict[str, Any] = {
        "registryId": account,
        "repositoryCreationTemplates": [render_template(template) for template in page],
    }
    if len(templates) > limit:
        result["nextToken"] = next_token(page[-1].prefix)
    return result


def _updated(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with the members ``params`` gives; a new mutability mode replaces the
    exclusion filters too."""
    updated = dict(document)
    if "imageTagMutability" in params:
        updated.pop("imageTagMutabilityExclusionFilters", None)
    updated.update({key: value for key, value in params.items() if key in MEMBERS})
    return updated


async def update_repository_creation_template(call: EcrCall) -> Result:
    account = call.own_registry()
    prefix = call.params["prefix"]
    existing = await _template(call, account, prefix)
    document = validate_document(_updated(json.loads(existing.document), call.params), account)
    now = call.services.clock.now()
    text = json.dumps(document)
    if not await call.services.repository_store.update_creation_template(account, prefix, text, now):
        raise _not_found(prefix, account)  # deleted meanwhile
    template = CreationTemplate(prefix, text, existing.created_at, now)
    return {"registryId": account, "repositoryCreationTemplate": render_template(template)}


async def delete_repository_creation_template(call: EcrCall) -> Result:
    account = call.own_registry()
    prefix = call.params["prefix"]
    template = await _template(call, account, prefix)
    if not await call.services.repository_store.delete_creation_template(account, prefix):
        raise _not_found(prefix, account)
    return {"registryId": account, "repositoryCreationTemplate": render_template(template)}


OPERATIONS = table(
    Operation(
        ECR,
        "CreateRepositoryCreationTemplate",
        create_repository_creation_template,
        resource=registry_resource,
        mutates=True,
    ),
    Operation(
        ECR,
        "DescribeRepositoryCreationTemplates",
        describe_repository_creation_templates,
        resource=registry_resource,
    ),
    Operation(
        ECR,
        "UpdateRepositoryCreationTemplate",
        update_repository_creation_template,
        resource=registry_resource,
        mutates=True,
    ),
    Operation(
        ECR,
        "DeleteRepositoryCreationTemplate",
        delete_repository_creation_template,
        resource=registry_resource,
        mutates=True,
    ),
)
