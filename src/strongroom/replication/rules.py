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
from dataclasses import dataclass
from typing import Any

PREFIX_MATCH = "PREFIX_MATCH"


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
