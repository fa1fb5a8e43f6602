"""An image scan's results as stored findings: one document per vulnerability in a
package, and per model-file finding, under a key that a later scan computes the same
way (so a finding keeps its first-seen time, and one that is gone can be closed)."""

from __future__ import annotations

import hashlib
from typing import Any

from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.vulns.match import Finding
from strongroom.metadata.scans import NewFinding, ScanRecord, StoredFinding

VULNERABILITY = "vulnerability"
MODEL = "model"


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cvss_version(vector: str | None) -> str | None:
    """``2`` for a CVSS v2 vector (which has no prefix), else the version it names."""
    if not vector:
        return None
    if vector.startswith("CVSS:"):
        return vector.split("/", 1)[0].removeprefix("CVSS:")
    return "2.0"


def vulnerability(finding: Finding, platform: str) -> NewFinding:
    package = finding.package.package
    document: dict[str, Any] = {
        "name": finding.name,
        "aliases": list(finding.aliases),
        "uri": finding.uri,
        "summary": finding.summary,
        "severity": str(finding.severity),
        "severity_source": finding.severity_source,
        "score": None if finding.score is None else str(finding.score),
        "vector": finding.vector,
        "cvss_version": cvss_version(finding.vector),
        "fixed_version": finding.fixed_version,
        "fix_available": finding.fix_available,
        "ecosystem": finding.ecosystem,
        "package_name": package.name,
        "package_version": package.version,
        "source_package": package.advisory_name,
        "arch": package.arch,
        "epoch": package.epoch,
        "path": package.path,
        "layer": finding.package.layer,
        "platform": platform,
    }
    key = _key(VULNERABILITY, finding.name, package.name, package.version, package.path, platform)
    return NewFinding(key, VULNERABILITY, finding.name, str(finding.severity), document)


def model(layer: str, finding: ModelFinding, platform: str) -> NewFinding:
    document = {
        "rule": finding.rule,
        "path": finding.path,
        "detail": finding.detail,
        "severity": str(finding.severity),
        "layer": layer,
        "platform": platform,
    }
    key = _key(MODEL, finding.rule, finding.path, finding.detail, layer, platform)
    return NewFinding(key, MODEL, finding.rule, str(finding.severity), document)


def summary(findings: list[NewFinding], limit: int = 100) -> list[dict[str, str]]:
    """What an event says of findings: the first ``limit`` of them, briefly."""
    return [
        {
            "name": f.name,
            "severity": f.severity,
            "kind": f.kind,
            "package": str(f.document.get("package_name") or f.document.get("path") or ""),
        }
        for f in findings[:limit]
    ]


def finding_document(finding: StoredFinding) -> dict[str, Any]:
    """One stored finding as Strongroom's own API and the CLI show it (vulnerabilities and
    model files alike, one flat shape)."""
    d = finding.document
    model_file = finding.kind == MODEL
    return {
        "kind": finding.kind,
        "name": finding.name,
        "severity": finding.severity,
        "package": None if model_file else d.get("package_name"),
        "version": None if model_file else d.get("package_version"),
        "fixedIn": None if model_file else d.get("fixed_version"),
        "file": d.get("path"),
        "detail": d.get("detail") if model_file else d.get("summary"),
        "uri": d.get("uri"),
        "platform": d.get("platform") or None,
        "layer": d.get("layer"),
        "firstSeen": finding.first_seen.isoformat(),
        "lastSeen": finding.last_seen.isoformat(),
    }


def scan_document(digest: str, scan: ScanRecord, found: list[StoredFinding], limit: int) -> dict[str, Any]:
    """An image's scan and a page of its findings (``found`` holds one more when more follow)."""
    page = found[:limit]
    document: dict[str, Any] = {
        "imageDigest": digest,
        "status": scan.status,
        "description": scan.description,
        "completedAt": scan.completed_at.isoformat() if scan.completed_at else None,
        "findingSeverityCounts": scan.severity_counts,
        "findings": [finding_document(f) for f in page],
    }
    if len(found) > limit:
        document["nextToken"] = page[-1].key
    return document
