"""The inherited-CRITICAL rule against a real server: a base whose Debian packages carry a
fixable CRITICAL vulnerability (a hand-written OSV record, imported offline; found by scan
on push) has an application built on it; the base is rebuilt with the fixed package; the
report names the application still on the old base and the fix the new base carries. The
same policy, enforced, refuses the application's pull through the one pull gate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import hierarchy as h
from support import layers as img
from support.aws import aws_client
from support.scans import finished_scan
from support.server import RunningServer, start_server

pytestmark = [pytest.mark.e2e]

ADVISORY = "CVE-2026-4242"
CRITICAL_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def _status(version: str) -> bytes:
    return (
        "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\n"
        f"Version: {version}\nDescription: compression library\n"
    ).encode()


def _record() -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": f"DEBIAN-{ADVISORY}",
        "modified": "2026-11-01T00:00:00Z",
        "published": "2026-11-01T00:00:00Z",
        "aliases": [ADVISORY],
        "summary": "a critical test advisory in zlib, fixed in 1:1.3.dfsg-2",
        "severity": [{"type": "CVSS_V3", "score": CRITICAL_VECTOR}],
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "zlib"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.3.dfsg-2"}]}],
            }
        ],
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    env = {"STRONGROOM_JOB_POLL_SECONDS": "0.1"}
    running = start_server(tmp_path / "data", env=env, args=["--workers", "1"])
    try:
        yield running
    finally:
        running.stop()


def test_the_report_names_applications_on_a_base_whose_critical_finding_is_fixed_in_the_newer_base(
    server: RunningServer, tmp_path: Path
) -> None:
    records = tmp_path / "osv"
    records.mkdir()
    (records / f"DEBIAN-{ADVISORY}.json").write_text(json.dumps(_record()))
    server.cli("vulndb", "import", str(records))
    ecr = aws_client(server, "ecr")
    ecr.put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
            }
        ],
    )
    os_layer = h.layer(
        "os", {"etc/os-release": img.DEBIAN_OS_RELEASE, "var/lib/dpkg/status": _status("1:1.3.dfsg-1")}
    )
    hardening = h.layer("hardening")
    old_base = h.push(server, "base/os", "12", h.build([os_layer, hardening]))
    h.push(server, "apps/shop", "1", h.build([os_layer, hardening, h.layer("shop")]))
    server.cli("lineage", "set-role", "base/os", "base")
    h.remote(server, "lineage", "set-policy", "apps/", "--prefix", "--no-inherited-critical")
    base_scan = finished_scan(ecr, "base/os", "12")
    assert [f["name"] for f in base_scan["imageScanFindings"]["findings"]] == [ADVISORY]
    assert base_scan["imageScanFindings"]["findings"][0]["severity"] == "CRITICAL"
    h.wait_for(lambda: h.lineage_jobs_done(server), what="lineage jobs")

    (before,) = h.remote(server, "lineage", "report")["images"]
    assert before["repositoryName"] == "apps/shop"
    assert [v["message"] for v in before["violations"]] == [
        f"base base/os:12 digest {old_base} has 1 fixable CRITICAL finding: {ADVISORY}"
    ]

    # Enforced, the same policy refuses pulls through the pull gate, naming the rule.
    h.remote(server, "lineage", "set-policy", "apps/", "--prefix", "--no-inherited-critical", "--enforce")
    with server.client() as client:
        accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
        refused = client.get("/v2/apps/shop/manifests/1", headers=accept)
        assert refused.status_code == 403, refused.text
        (error,) = refused.json()["errors"]
        assert error["code"] == "DENIED"
        assert f"lineage-no-inherited-critical: base base/os:12 digest {old_base}" in error["message"]
        assert client.get("/v2/base/os/manifests/12", headers=accept).status_code == 200
    h.remote(server, "lineage", "set-policy", "apps/", "--prefix", "--no-inherited-critical")

    # The base is rebuilt with the fixed package (a layer replacing the dpkg status).
    fixed_layer = h.layer("fix", {"var/lib/dpkg/status": _status("1:1.3.dfsg-2")})
    new_base = h.push(server, "base/os", "12", h.build([os_layer, hardening, fixed_layer]))
    assert finished_scan(ecr, "base/os", "12")["imageScanFindings"].get("findings", []) == []
    h.wait_for(lambda: h.lineage_jobs_done(server), what="lineage jobs")

    (after,) = h.remote(server, "lineage", "report")["images"]
    assert after["repositoryName"] == "apps/shop"
    (violation,) = after["violations"]
    assert violation["rule"] == "no-inherited-critical"
    assert violation["message"] == (
        f"base base/os:12 digest {old_base} has 1 fixable CRITICAL finding, 1 fixed in the newer base "
        f"{new_base}: {ADVISORY}"
    )
    # The new base adds its layer on the old one: it is built on it too.
    table = h.remote(server, "lineage", "dependents", "base/os@" + old_base)["dependents"]
    assert sorted((d["repositoryName"], d["imageTags"]) for d in table) == [
        ("apps/shop", ["1"]),
        ("base/os", ["12"]),
    ]
