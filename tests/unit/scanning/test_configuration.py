"""Which scans apply to a repository, and how findings are keyed and shaped for storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from strongroom.analysis.inventory import Located
from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.packages.model import Kind, Package
from strongroom.analysis.severity import Severity
from strongroom.analysis.vulns.match import Finding
from strongroom.metadata.outbox import ManifestChange
from strongroom.scanning import configuration, findings
from strongroom.scanning.on_push import scan_on_push

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def rules(*entries: tuple[str, str]) -> str:
    return json.dumps(
        {
            "scanType": "ENHANCED",
            "rules": [
                {
                    "scanFrequency": frequency,
                    "repositoryFilters": [{"filter": pattern, "filterType": "WILDCARD"}],
                }
                for frequency, pattern in entries
            ],
        }
    )


@pytest.mark.parametrize(
    ("stored", "flag", "frequency"),
    [
        (None, False, "MANUAL"),
        (None, True, "SCAN_ON_PUSH"),
        (rules(("SCAN_ON_PUSH", "ml/*")), False, "SCAN_ON_PUSH"),
        (rules(("SCAN_ON_PUSH", "other/*")), True, "SCAN_ON_PUSH"),
        (rules(("SCAN_ON_PUSH", "*"), ("CONTINUOUS_SCAN", "ml/*")), False, "CONTINUOUS_SCAN"),
        (rules(("SCAN_ON_PUSH", "ml/fraud")), False, "MANUAL"),
    ],
)
def test_a_matching_rule_wins_over_the_repository_flag(
    stored: str | None, flag: bool, frequency: str
) -> None:
    effective = configuration.effective_scanning(configuration.parse(stored), "ml/fraud/model", flag)
    assert effective.frequency == frequency


def change(*, created: bool = True, flag: bool = False, scanning: str | None = None) -> ManifestChange:
    return ManifestChange(
        "123456789012", "ml/model", "sha256:" + "a" * 64, "application/vnd.oci.image.manifest.v1+json",
        "v1", created, None, None, NOW, scan_on_push=flag, scanning=scanning,
    )  # fmt: skip


def test_only_a_new_manifest_with_scanning_on_queues_a_scan() -> None:
    assert scan_on_push(change()) is None
    assert scan_on_push(change(flag=True, created=False)) is None
    assert scan_on_push(change(scanning=rules(("SCAN_ON_PUSH", "other/*")))) is None
    job = scan_on_push(change(scanning=rules(("CONTINUOUS_SCAN", "ml/*"))))
    assert job is not None
    assert job.idempotency_key == f"scan.image:123456789012/ml/model@sha256:{'a' * 64}:{NOW.isoformat()}"
    assert job.payload["tag"] == "v1"


def test_finding_keys_are_stable_and_tell_findings_apart() -> None:
    package = Package(Kind.DEB, "libc6", "2.36-9", "var/lib/dpkg/status", source_name="glibc")

    def vulnerability(version: str, platform: str) -> findings.NewFinding:
        located = Located("sha256:" + "b" * 64, Package(Kind.DEB, "libc6", version, package.path))
        finding = Finding(
            "CVE-2024-2961", ("DSA-5678",), located, "Debian:12", Severity.HIGH, "CVSS_V3", None,
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "2.36-9+deb12u7", "iconv overflow",
        )  # fmt: skip
        return findings.vulnerability(finding, platform)

    first = vulnerability("2.36-9", "linux/amd64")
    assert first.key == vulnerability("2.36-9", "linux/amd64").key
    assert first.key != vulnerability("2.36-9", "linux/arm64").key
    assert first.key != vulnerability("2.36-10", "linux/amd64").key
    assert first.document["cvss_version"] == "3.1"
    model = findings.model("sha256:" + "c" * 64, ModelFinding("m.pkl", Severity.CRITICAL, "rule", "x"), "")
    assert (model.kind, model.name, model.severity) == ("model", "rule", "CRITICAL")
    assert findings.cvss_version("AV:N/AC:L/Au:N/C:P/I:P/A:P") == "2.0"
