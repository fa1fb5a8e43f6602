"""One scan's result as the commands print it: JSON shaped like ECR's
``DescribeImageScanFindings`` (``imageScanFindings.findings`` with ``findingSeverityCounts``)
plus Strongroom's model findings and the evidence that could not be read (``problems``),
and the table a terminal shows."""

from __future__ import annotations

from collections import Counter
from typing import Any

from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.vulns.match import Finding
from strongroom.scanning.engine import ImageScan


def image_report(scan: ImageScan, findings: list[Finding]) -> dict[str, Any]:
    models = [(layer, finding) for layer, finding in scan.inventory.models] + scan.blob_findings
    counts = Counter(str(f.severity) for f in findings) + Counter(str(f.severity) for _, f in models)
    release = scan.inventory.os_release
    return {
        "imageDigest": scan.digest,
        "platform": scan.platform or None,
        "distribution": f"{release.id} {release.version_id}".strip() if release else None,
        "packages": len(scan.inventory.packages),
        "findingSeverityCounts": dict(sorted(counts.items())),
        "findings": [_vulnerability(f) for f in findings],
        "modelFindings": [_model(layer, f) for layer, f in models],
        "problems": [{"layer": layer, "detail": detail} for layer, detail in scan.inventory.problems],
    }


def _vulnerability(finding: Finding) -> dict[str, Any]:
    package = finding.package.package
    return {
        "name": finding.name,
        "uri": finding.uri,
        "severity": str(finding.severity),
        "description": finding.summary,
        "attributes": [
            {"key": "package_name", "value": package.name},
            {"key": "package_version", "value": package.version},
            {"key": "source_package", "value": package.advisory_name},
            {"key": "ecosystem", "value": finding.ecosystem},
            {"key": "aliases", "value": ",".join(finding.aliases)},
            {"key": "severity_source", "value": finding.severity_source},
            *([{"key": "CVSS_SCORE", "value": str(finding.score)}] if finding.score is not None else []),
            *([{"key": "CVSS_VECTOR", "value": finding.vector}] if finding.vector else []),
            {"key": "fix_available", "value": finding.fix_available},
            *([{"key": "fixed_in_version", "value": finding.fixed_version}] if finding.fixed_version else []),
            {"key": "layer", "value": finding.package.layer},
            {"key": "path", "value": package.path},
        ],
    }


def _model(layer: str, finding: ModelFinding) -> dict[str, Any]:
    return {
        "path": finding.path,
        "severity": str(finding.severity),
        "rule": finding.rule,
        "detail": finding.detail,
        "layer": layer,
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"image {report['imageDigest']}" + (f" ({report['platform']})" if report.get("platform") else ""),
        f"distribution {report['distribution'] or 'unknown'}, {report['packages']} packages",
        *(f"not read (the inventory is incomplete): {p['detail']}" for p in report.get("problems", [])),
    ]
    rows = [
        (
            f["severity"],
            f["name"],
            _attr(f, "package_name"),
            _attr(f, "package_version"),
            _attr(f, "fixed_in_version"),
        )
        for f in report["findings"]
    ]
    rows += [(m["severity"], m["rule"], m["path"], m["detail"], "") for m in report["modelFindings"]]
    if not rows:
        return "\n".join([*lines, "no findings"])
    header = ("SEVERITY", "FINDING", "PACKAGE / FILE", "VERSION / DETAIL", "FIXED IN")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        lines.append(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


def _attr(finding: dict[str, Any], key: str) -> str:
    return next((a["value"] for a in finding["attributes"] if a["key"] == key), "")
