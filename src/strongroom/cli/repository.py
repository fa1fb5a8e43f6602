"""``strongroom repo describe REPO``: one repository as the operator needs to see it, its
settings, its policy, and the findings of that policy and of the registry policy.

Policies are stored as ECR stores them (registry/policy_review.py), so a stored policy
may carry findings the site chose to accept; this is where they stay visible. The
findings are computed afresh from the stored text, so they follow the linter of the
version running, located in the text as ``iam policy validate`` locates them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import click

from strongroom.cli.output import Output, Table, emit, output_option
from strongroom.cli.policy import findings_report, findings_table
from strongroom.cli.store import run_on_store
from strongroom.errors import NameUnknown
from strongroom.metadata.database import Database
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.records import Repository
from strongroom.metadata.repositories import RepositoryDocuments, SqlRepositoryStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.names import validate_name
from strongroom.policy.document import Policy
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.policy.findings import findings
from strongroom.policy.types import PolicyType
from strongroom.settings import Settings


@dataclass(frozen=True, slots=True)
class _Found:
    repository: Repository
    documents: RepositoryDocuments
    tags: dict[str, str]
    default_account: str | None
    settings: Settings
    registry_policy: str | None


@click.command("describe")
@click.argument("repository_name")
@click.option("--account-id", help="Account (default: the default account).")
@output_option
def describe(repository_name: str, account_id: str | None, output: Output | None) -> None:
    """A repository's settings, its policy and the policy's findings."""
    found = run_on_store(lambda settings, database: _load(settings, database, repository_name, account_id))
    text, registry = found.documents.policy, found.registry_policy
    report, error = _review(text, PolicyType.RESOURCE)
    registry_report, registry_error = _review(registry, PolicyType.REGISTRY)
    value = {
        "repository": _facts(found),
        "policy": json.loads(text) if text is not None else None,
        "policyError": error,
        "findings": report,
        # The registry policy governs this repository too.
        "registryPolicy": json.loads(registry) if registry is not None else None,
        "registryPolicyError": registry_error,
        "registryPolicyFindings": registry_report,
    }
    tables = [Table.of(value["repository"]), findings_table("repository policy", report)]
    if value["policy"] is not None:
        tables.append(replace(Table.of(value["policy"]), title="repository policy"))
    if registry is not None:
        tables.append(findings_table("registry policy", registry_report))
    emit(output, value, *tables)


async def _load(settings: Settings, database: Database, name: str, account_id: str | None) -> _Found:
    metadata = SqlMetadataStore(database)
    default = await metadata.default_account_id()
    account = account_id or default
    repository = None if account is None else await metadata.get_repository(account, validate_name(name))
    if repository is None:
        raise NameUnknown(name)
    store = SqlRepositoryStore(database)
    documents = await store.repository_documents(repository.id)
    tags = await store.resource_tags(repository.id)
    registry = await SqlIamStore(database).get_registry_policy(repository.account_id)
    return _Found(repository, documents, tags, default, settings, registry)


def _review(text: str | None, policy_type: PolicyType) -> tuple[list[dict[str, Any]], str | None]:
    """The findings of a stored policy, or why it no longer parses."""
    if text is None:
        return [], None
    try:
        policy = Policy.from_json(text, policy_type.kind)
    except MalformedPolicyDocument as error:
        return [], error.message
    return findings_report(text, findings(policy, policy_type)), None


def _facts(found: _Found) -> dict[str, Any]:
    repository, settings = found.repository, found.settings
    account = repository.account_id
    path = repository.name
    if repository.account_id != found.default_account:
        path = f"{repository.account_id}/{repository.name}"
    return {
        "repositoryName": repository.name,
        "registryId": repository.account_id,
        "repositoryArn": f"arn:aws:ecr:{settings.region}:{account}:repository/{repository.name}",
        "repositoryUri": f"{settings.token_service}/{path}",
        "createdAt": repository.created_at.isoformat(),
        "imageTagMutability": repository.tag_mutability,
        "imageTagMutabilityExclusionFilters": list(repository.tag_mutability_filters),
        "scanOnPush": repository.scan_on_push,
        "encryptionType": repository.encryption_type,
        "kmsKey": repository.kms_key,
        "public": found.documents.public,
        "lifecyclePolicy": found.documents.lifecycle_policy is not None,
        "tags": found.tags,
    }
