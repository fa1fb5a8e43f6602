"""Which destinations an image pushed to a repository goes to, under an account's
replication configuration (ECR's JSON, as PutReplicationConfiguration stored it). Pure.

ECR's rules: each rule names up to 25 destinations (``region``, ``registryId``) and up to
100 ``repositoryFilters`` of ``filterType`` ``PREFIX_MATCH``; a rule without filters
matches every repository. A repository matched by several rules goes once to each
distinct destination, in the order the rules name them. A destination that is this
registry in this region is never one (ECR refuses such a rule; one stored before that
check is ignored here).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

PREFIX_MATCH = "PREFIX_MATCH"

SOURCE_HEADER = "X-Strongroom-Replication-Source"
"""Sent by a replication on every request to a Strongroom destination: the source
repository's ARN. The destination honours it only for a principal its policies allow
``ecr:ReplicateImage`` with that ARN as ``aws:SourceArn`` (ADR 0020, decision 16)."""

_SOURCE_ARN = re.compile(
    r"^arn:aws:ecr:(?P<region>[a-z0-9-]{1,32}):(?P<account>[0-9]{12}):repository/(?P<name>[a-z0-9][a-z0-9._/-]{0,255})$"
)


SETTINGS_HEADER = "X-Strongroom-Replication-Settings"
"""Sent with :data:`SOURCE_HEADER`: the source repository's settings, as ECR's
``CreateRepository`` names them (compact JSON), which a repository the replication creates
takes when no ``REPLICATION`` template matches there (ADR 0020, decision 21)."""

_MUTABILITY = ("MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION")
_ENCRYPTION = ("AES256", "KMS", "KMS_DSSE")
_MAX_FILTERS, _MAX_FILTER = 5, 128


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """A source repository's settings a replicated repository takes (no KMS key: the
    source's key is of the source's region and account)."""

    tag_mutability: str
    tag_mutability_filters: tuple[str, ...]
    scan_on_push: bool
    encryption_type: str

    def header(self) -> str:
        return json.dumps(
            {
                "imageTagMutability": self.tag_mutability,
                "imageTagMutabilityExclusionFilters": list(self.tag_mutability_filters),
                "scanOnPush": self.scan_on_push,
                "encryptionType": self.encryption_type,
            },
            separators=(",", ":"),
        )


def source_settings(header: str | None) -> SourceSettings | None:
    """The settings :data:`SETTINGS_HEADER` names; None when absent or not as
    :meth:`SourceSettings.header` writes them (nothing of a malformed header is used)."""
    if not header:
        return None
    try:
        found = json.loads(header)
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    mutability, filters = found.get("imageTagMutability"), found.get("imageTagMutabilityExclusionFilters", [])
    scan, encryption = found.get("scanOnPush"), found.get("encryptionType")
    if mutability not in _MUTABILITY or encryption not in _ENCRYPTION or not isinstance(scan, bool):
        return None
    if not isinstance(filters, list) or len(filters) > _MAX_FILTERS:
        return None
    if not all(isinstance(item, str) and 0 < len(item) <= _MAX_FILTER for item in filters):
        return None
    if bool(filters) != str(mutability).endswith("_WITH_EXCLUSION"):
        return None
    return SourceSettings(str(mutability), tuple(filters), scan, str(encryption))


def repository_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:ecr:{region}:{account_id}:repository/{name}"


def source_keys(header: str | None) -> dict[str, str | list[str]] | None:
    """The condition keys a replication request claims (``aws:SourceArn``,
    ``aws:SourceAccount`` taken from the ARN, so the two never disagree); None when the
    header is absent or is not an ECR repository ARN."""
    if header is None:
        return None
    match = _SOURCE_ARN.match(header.strip())
    if match is None:
        return None
    return {"aws:SourceArn": match.group(0), "aws:SourceAccount": match.group("account")}


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """A destination as a rule names it."""

    region: str
    registry_id: str


def parse(document: str | None) -> list[dict[str, Any]]:
    """The rules of a stored configuration; none when it is absent or unreadable."""
    if not document:
        return []
    try:
        rules = json.loads(document).get("rules", [])
    except (ValueError, AttributeError):
        return []
    return [rule for rule in rules if isinstance(rule, dict)] if isinstance(rules, list) else []


def rule_matches(rule: dict[str, Any], repository: str) -> bool:
    filters = [item for item in rule.get("repositoryFilters") or [] if isinstance(item, dict)]
    if not filters:
        return True
    return any(
        item.get("filterType") == PREFIX_MATCH and repository.startswith(str(item.get("filter", "")))
        for item in filters
    )


def targets_for(rules: list[dict[str, Any]], repository: str, region: str, registry_id: str) -> list[Target]:
    """The distinct destinations of the rules that match ``repository``, in rule order,
    without this registry in this region."""
    return _targets([rule for rule in rules if rule_matches(rule, repository)], region, registry_id)


def all_targets(rules: list[dict[str, Any]], region: str, registry_id: str) -> list[Target]:
    """Every destination the rules name, whatever the repository (without this registry in
    this region): what a backfill may be started to."""
    return _targets(rules, region, registry_id)


def _targets(rules: list[dict[str, Any]], region: str, registry_id: str) -> list[Target]:
    found: list[Target] = []
    for rule in rules:
        for destination in rule.get("destinations") or []:
            if not isinstance(destination, dict):
                continue
            target = Target(str(destination.get("region", "")), str(destination.get("registryId", "")))
            if not target.region or not target.registry_id:
                continue
            if target == Target(region, registry_id) or target in found:
                continue
            found.append(target)
    return found
