"""Image scan results: DescribeImageScanFindings, StartImageScan, and the scan summary
DescribeImages shows (reference/ecr-api.md §4.7).

Both scan types run the whole engine (OS and language packages, model files); the
registry's scan type decides only the shape of the answer: BASIC gives ``findings[]``
(name, uri, severity, ``attributes``), ENHANCED gives Inspector's ``enhancedFindings[]``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from strongroom.api.ecr.call import ECR, EcrCall, Operation, Result, table
from strongroom.api.ecr.operations.images import image_id_of, render_image_id, render_status
from strongroom.api.ecr.pagination import next_token, page_size, position
from strongroom.registry.images import ImageId
from strongroom.registry.scans import StoredFinding

FINDINGS_PAGE = 100
ENHANCED = "ENHANCED"
MODEL_TYPE = "MODEL_FILE"
"""Inspector's ``type`` for a model-file finding (Inspector has none of its own)."""
MODEL_ADVICE = "Do not load this file; prefer a format that holds no code (safetensors)."
_PACKAGE_MANAGERS = {"PyPI": "PYTHONPKG", "npm": "NODEPKG", "Go": "GOBINARY", "Maven": "JAR"}


async def describe_image_scan_findings(call: EcrCall) -> Result:
    params = call.params
    image_id = image_id_of(params["imageId"])
    limit = page_size(params, FINDINGS_PAGE)
    scanned = await call.services.scans.findings(
        call.repository, image_id, after=position(params), limit=limit
    )
    page = scanned.findings[:limit]
    findings: dict[str, Any] = {"findingSeverityCounts": scanned.scan.severity_counts}
    if scanned.scan.completed_at is not None:
        findings["imageScanCompletedAt"] = scanned.scan.completed_at
    if scanned.scan.vulnerability_source_updated_at is not None:
        findings["vulnerabilitySourceUpdatedAt"] = scanned.scan.vulnerability_source_updated_at
    if scanned.scan_type == ENHANCED:
        findings["enhancedFindings"] = [_enhanced(call, scanned.digest, image_id, f) for f in page]
    else:
        findings["findings"] = [_basic(f) for f in page]
    result: dict[str, Any] = {
        "registryId": call.registry_id,
        "repositoryName": call.repository_name,
        "imageId": render_image_id(ImageId(scanned.digest, image_id.tag)),
        "imageScanStatus": render_status(scanned.scan),
    }
    if scanned.scan.completed_at is None:
        return result  # queued or running: no findings to show yet
    result["imageScanFindings"] = findings
    if len(scanned.findings) > limit:
        result["nextToken"] = next_token(page[-1].key)
    return result


async def start_image_scan(call: EcrCall) -> Result:
    image_id = image_id_of(call.params["imageId"])
    digest, status = await call.services.scans.start(call.repository, image_id)
    return {
        "registryId": call.registry_id,
        "repositoryName": call.repository_name,
        "imageId": render_image_id(ImageId(digest, image_id.tag)),
        "imageScanStatus": {"status": status},
    }


def _attribute(key: str, value: object) -> dict[str, str] | None:
    return None if value in (None, "") else {"key": key, "value": str(value)}


def _basic(finding: StoredFinding) -> dict[str, Any]:
    d = finding.document
    if finding.kind == "model":
        attributes = [
            _attribute("file_path", d.get("path")),
            _attribute("rule", d.get("rule")),
            _attribute("layer", d.get("layer")),
            _attribute("platform", d.get("platform")),
        ]
        rendered = {"name": finding.name, "severity": finding.severity, "description": d.get("detail")}
        return rendered | {"attributes": [a for a in attributes if a]}
    version = str(d.get("cvss_version") or "")
    cvss = "CVSS2" if version.startswith("2") else f"CVSS{version[:1]}"
    attributes = [
        _attribute("package_name", d.get("package_name")),
        _attribute("package_version", d.get("package_version")),
        _attribute(f"{cvss}_VECTOR", d.get("vector")),
        _attribute(f"{cvss}_SCORE", d.get("score")),
        _attribute("source_package", d.get("source_package")),
        _attribute("ecosystem", d.get("ecosystem")),
        _attribute("fixed_in_version", d.get("fixed_version")),
        _attribute("layer", d.get("layer")),
        _attribute("platform", d.get("platform")),
    ]
    rendered = {"name": finding.name, "uri": d.get("uri"), "severity": finding.severity}
    if d.get("summary"):
        rendered["description"] = d["summary"]
    return rendered | {"attributes": [a for a in attributes if a]}


def _enhanced(call: EcrCall, digest: str, image_id: ImageId, finding: StoredFinding) -> dict[str, Any]:
    d = finding.document
    account = call.registry_id
    severity = "UNTRIAGED" if finding.severity == "UNDEFINED" else finding.severity
    resource = {
        "type": "AWS_ECR_CONTAINER_IMAGE",
        "id": f"arn:aws:ecr:{call.region}:{account}:repository/{call.repository_name}/{digest}",
        "details": {
            "awsEcrContainerImage": {
                "imageHash": digest,
                "registry": account,
                "repositoryName": call.repository_name,
                **({"imageTags": [image_id.tag]} if image_id.tag else {}),
                **({"platform": d["platform"]} if d.get("platform") else {}),
            }
        },
    }
    rendered: dict[str, Any] = {
        "awsAccountId": account,
        "findingArn": f"arn:aws:inspector2:{call.region}:{account}:finding/{finding.key}",
        "firstObservedAt": finding.first_seen,
        "lastObservedAt": finding.last_seen,
        "updatedAt": finding.last_seen,
        "resources": [resource],
        "severity": severity,
        "status": "ACTIVE",
    }
    if finding.kind == "model":
        return rendered | {
            "type": MODEL_TYPE,
            "title": f"{finding.name} - {d.get('path')}",
            "description": d.get("detail"),
            "remediation": {"recommendation": {"text": MODEL_ADVICE}},
        }
    score = d.get("score")
    package: dict[str, Any] = {
        "name": d.get("package_name"),
        "version": d.get("package_version"),
        "packageManager": _PACKAGE_MANAGERS.get(str(d.get("ecosystem")), "OS"),
        "sourceLayerHash": d.get("layer"),
        "filePath": d.get("path"),
    }
    if d.get("arch"):
        package["arch"] = d["arch"]
    if d.get("epoch") is not None:
        package["epoch"] = int(d["epoch"])
    if d.get("fixed_version"):
        package["fixedInVersion"] = d["fixed_version"]
    details: dict[str, Any] = {
        "vulnerabilityId": d.get("name"),
        "source": "OSV",
        "sourceUrl": d.get("uri"),
        "referenceUrls": [d["uri"]] if d.get("uri") else [],
        "relatedVulnerabilities": [a for a in d.get("aliases") or [] if a != d.get("name")],
        "vendorSeverity": finding.severity,
        "vulnerablePackages": [package],
    }
    if score is not None and d.get("vector"):
        cvss = {"baseScore": float(Decimal(score)), "scoringVector": d["vector"], "source": "OSV"}
        details["cvss"] = [cvss | {"version": d.get("cvss_version")}]
        rendered["score"] = float(Decimal(score))
        rendered["scoreDetails"] = {
            "cvss": {
                "score": float(Decimal(score)),
                "scoreSource": "OSV",
                "scoringVector": d["vector"],
                "version": d.get("cvss_version"),
                "adjustments": [],
            }
        }
    fixed = d.get("fixed_version")
    return rendered | {
        "type": "PACKAGE_VULNERABILITY",
        "title": f"{d.get('name')} - {d.get('package_name')}",
        "description": d.get("summary") or d.get("name"),
        "packageVulnerabilityDetails": details,
        "fixAvailable": "YES" if fixed else "NO",
        "remediation": {
            "recommendation": {
                "text": f"Upgrade {d.get('package_name')} to {fixed}" if fixed else "No fix is available yet."
            }
        },
    }


OPERATIONS = table(
    Operation(ECR, "DescribeImageScanFindings", describe_image_scan_findings),
    Operation(ECR, "StartImageScan", start_image_scan, mutates=True),
)
