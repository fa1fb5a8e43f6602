"""Findings: an inventory's packages against OSV records, one finding per vulnerability.

Distribution records (Debian, Ubuntu, Alpine, RPM distributions) name the *source*
package, so a binary is looked up by its source name and version. Records that share
an id or alias (CVE, GHSA, DSA, PYSEC…) describe one vulnerability and become one
finding, with the highest severity among them and the earliest fix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from strongroom.analysis.inventory import Inventory, Located
from strongroom.analysis.packages.model import OsRelease
from strongroom.analysis.severity import Severity
from strongroom.analysis.vulns.osv import (
    base_ecosystem,
    ecosystem_of,
    evaluate,
    normalise_name,
    order_of,
    preferred_id,
)
from strongroom.analysis.vulns.severity import Rating, rate

Lookup = Callable[[str, str], list[dict[str, Any]]]
"""OSV records filed under (ecosystem, normalised name); the store answers it."""


@dataclass(frozen=True)
class Finding:
    """One vulnerability in one installed package (ECR's ``ImageScanFinding`` plus
    Inspector's ``fixAvailable``/``fixedInVersion``)."""

    name: str
    aliases: tuple[str, ...]
    package: Located
    ecosystem: str
    severity: Severity
    severity_source: str
    score: Decimal | None
    vector: str | None
    fixed_version: str | None
    summary: str

    @property
    def fix_available(self) -> str:
        return "YES" if self.fixed_version else "NO"

    @property
    def uri(self) -> str:
        return f"https://osv.dev/vulnerability/{self.name}"


@dataclass
class _Hit:
    record: dict[str, Any]
    rating: Rating
    fixed: str | None


def match(inventory: Inventory, lookup: Lookup) -> list[Finding]:
    findings: list[Finding] = []
    for located in inventory.packages:
        findings.extend(match_package(located, inventory.os_release, lookup))
    findings.sort(key=lambda f: (-f.severity.rank, f.package.package.name, f.name))
    return findings


def match_package(located: Located, release: OsRelease | None, lookup: Lookup) -> list[Finding]:
    package = located.package
    ecosystem = ecosystem_of(package, release)
    if ecosystem is None:
        return []
    name = normalise_name(ecosystem, package.advisory_name)
    compare = order_of(ecosystem)
    hits: list[_Hit] = []
    for record in lookup(ecosystem, name):
        if record.get("withdrawn"):
            continue
        for affected in record.get("affected") or []:
            if not _names(affected, ecosystem, name):
                continue
            verdict = evaluate(affected, package.advisory_version, compare)
            if verdict.affected:
                hits.append(_Hit(record, rate(record, affected), verdict.fixed_version))
                break
    return [_merge(group, located, ecosystem) for group in _alias_groups(hits)]


def _names(affected: dict[str, Any], ecosystem: str, name: str) -> bool:
    package = affected.get("package") or {}
    filed = str(package.get("ecosystem", ""))
    if filed != ecosystem and filed != base_ecosystem(ecosystem):
        return False
    return normalise_name(ecosystem, str(package.get("name", ""))) == name


def _alias_groups(hits: list[_Hit]) -> list[list[_Hit]]:
    """Hits whose ids and aliases overlap, transitively, grouped together."""
    groups: list[tuple[set[str], list[_Hit]]] = []
    for hit in hits:
        ids = {str(hit.record.get("id"))} | {str(a) for a in hit.record.get("aliases") or []}
        joined = [group for group in groups if group[0] & ids]
        merged_ids, merged_hits = set(ids), [hit]
        for group in joined:
            merged_ids |= group[0]
            merged_hits = group[1] + merged_hits
            groups.remove(group)
        groups.append((merged_ids, merged_hits))
    return [group_hits for _, group_hits in groups]


def _merge(group: list[_Hit], located: Located, ecosystem: str) -> Finding:
    ids = set()
    for hit in group:
        ids |= {str(hit.record.get("id"))} | {str(a) for a in hit.record.get("aliases") or []}
    name = preferred_id(ids)
    best = max(group, key=lambda hit: (hit.rating.severity.rank, hit.rating.score or Decimal(0)))
    fixes = [hit.fixed for hit in group if hit.fixed]
    compare = order_of(ecosystem)
    if fixes and compare is not None:
        fixes.sort(key=functools.cmp_to_key(compare))
    summary = next((str(h.record.get("summary") or h.record.get("details") or "") for h in group), "")
    return Finding(
        name=name,
        aliases=tuple(sorted(ids - {name})),
        package=located,
        ecosystem=ecosystem,
        severity=best.rating.severity,
        severity_source=best.rating.source,
        score=best.rating.score,
        vector=best.rating.vector,
        fixed_version=fixes[0] if fixes else None,
        summary=summary.strip().splitlines()[0][:512] if summary.strip() else "",
    )
