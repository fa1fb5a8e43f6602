"""Matching inventories built from real layers against hand-written OSV records."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from strongroom.analysis.inventory import analyse_layer, merge
from strongroom.analysis.severity import Severity
from strongroom.analysis.vulns.match import Finding, match
from strongroom.analysis.vulns.severity import rate
from support import builds, models, osv
from support import layers as img
from support.tools import require


def findings_for(*layers: bytes) -> list[Finding]:
    inventory = merge(
        [
            (f"sha256:{i}", analyse_layer(io.BytesIO(d), lambda r: io.BytesIO(r.read())))
            for i, d in enumerate(layers)
        ]
    )
    return match(inventory, osv.lookup_over(osv.records()))


def summary(findings: list[Finding]) -> set[tuple[str, str, str, Severity, str | None]]:
    return {
        (f.name, f.package.package.name, f.package.package.version, f.severity, f.fixed_version)
        for f in findings
    }


def test_every_fixture_record_is_valid_osv() -> None:
    import json

    schema = json.loads(osv.SCHEMA.read_text())
    # osv.dev publishes Alpine and Debian records as ALPINE-/DEBIAN- ids and Ubuntu's
    # rating as severity type "Ubuntu" (schema 1.7), which this bundled schema (1.6)
    # predates; everything else is validated as is.
    prefix = schema["$defs"]["prefix"] if "prefix" in schema.get("$defs", {}) else schema["properties"]["id"]
    prefix["pattern"] = prefix["pattern"].replace("^(", "^(ALPINE|DEBIAN|")
    _extend_enum(schema, "CVSS_V2", "Ubuntu")
    validator = jsonschema.Draft202012Validator(schema)
    documents = osv.records()
    assert len(documents) >= 20
    for document in documents:
        validator.validate(document)


def _extend_enum(node: object, member: str, addition: str) -> None:
    if isinstance(node, dict):
        if member in (node.get("enum") or []):
            node["enum"].append(addition)
        for value in node.values():
            _extend_enum(value, member, addition)
    elif isinstance(node, list):
        for value in node:
            _extend_enum(value, member, addition)


def debian_image() -> bytes:
    pom = b"groupId=org.yaml\nartifactId=snakeyaml\nversion=1.33\n"
    snakeyaml = models.zip_of({"META-INF/maven/org.yaml/snakeyaml/pom.properties": pom})
    return img.layer(
        {
            "etc/os-release": img.DEBIAN_OS_RELEASE,
            "var/lib/dpkg/status": img.DPKG_STATUS,
            "app/node_modules/lodash/package.json": b'{"name": "lodash", "version": "4.17.20"}',
            "app/node_modules/minimist/package.json": b'{"name": "minimist", "version": "1.2.5"}',
            "app/node_modules/@babel/core/package.json": b'{"name": "@babel/core", "version": "7.22.0"}',
            "opt/legacy_thing-0.9.dist-info/METADATA": b"Name: Legacy_Thing\nVersion: 0.9\n",
            "opt/app/lib/snakeyaml-1.33.jar": snakeyaml,
        }
    )


def test_a_debian_image_gets_exactly_the_findings_its_versions_call_for() -> None:
    assert summary(findings_for(debian_image())) == {
        ("CVE-2024-2961", "libc6", "2.36-9+deb12u4", Severity.HIGH, "2.36-9+deb12u7"),
        ("CVE-2023-5678", "libssl3", "3.0.11-1~deb12u2", Severity.LOW, "3.0.13-1~deb12u1"),
        ("CVE-2022-3715", "bash", "5.2.15-2+b2", Severity.INFORMATIONAL, None),
        ("CVE-2023-48795", "openssh-client", "1:9.2p1-2+deb12u2", Severity.MEDIUM, "1:9.2p1-2+deb12u3"),
        ("CVE-2021-23337", "lodash", "4.17.20", Severity.HIGH, "4.17.21"),
        ("CVE-2021-44906", "minimist", "1.2.5", Severity.CRITICAL, "1.2.6"),
        ("GHSA-67hx-6x53-jw92", "@babel/core", "7.22.0", Severity.CRITICAL, None),
        ("CVE-2099-0001", "legacy-thing", "0.9", Severity.MEDIUM, "1.0"),
        ("CVE-2022-1471", "org.yaml:snakeyaml", "1.33", Severity.CRITICAL, "2.0"),
    }


def test_aliases_are_merged_into_one_finding() -> None:
    (glibc,) = [f for f in findings_for(debian_image()) if f.package.package.name == "libc6"]
    assert glibc.aliases == ("CVE-2024-33599", "DEBIAN-CVE-2024-2961", "DSA-5673-1")
    assert glibc.severity_source == "vendor"
    assert glibc.fix_available == "YES"


def test_cvss_scores_are_kept_with_their_vectors() -> None:
    (openssh,) = [f for f in findings_for(debian_image()) if f.package.package.name == "openssh-client"]
    assert (openssh.score, openssh.severity_source) == (Decimal("5.9"), "cvss_v3")
    assert openssh.vector == "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:N"


def test_an_alpine_image_matches_by_origin_with_apk_order() -> None:
    layer = img.layer({"etc/os-release": img.ALPINE_OS_RELEASE, "lib/apk/db/installed": img.APK_INSTALLED})
    assert summary(findings_for(layer)) == {
        ("CVE-2024-2511", "libcrypto3", "3.1.4-r5", Severity.HIGH, "3.1.4-r6"),
        ("CVE-2025-26519", "musl", "1.2.4_git20230717-r4", Severity.HIGH, "1.2.4_git20230717-r5"),
    }


def test_packages_of_an_unknown_distribution_are_not_guessed() -> None:
    layer = img.layer({"var/lib/dpkg/status": img.DPKG_STATUS})
    assert findings_for(layer) == []


def test_a_whiteout_removes_the_findings_of_what_it_hides() -> None:
    upper = img.layer({}, whiteouts=("app/node_modules",))
    names = {f.package.package.name for f in findings_for(debian_image(), upper)}
    assert not names & {"lodash", "minimist", "@babel/core"}
    assert "libc6" in names


def test_a_rocky_image_matches_rpm_packages_by_source_rpm_with_evr_order(tmp_path: Path) -> None:
    require("rpm")
    database = builds.rpmdb(tmp_path, [("openssl", "3.0.7", "24.el9", 1)], subpackage="libs")
    release = b'NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.3"\n'
    layer = img.layer({"etc/os-release": release, "var/lib/rpm/rpmdb.sqlite": database})
    assert summary(findings_for(layer)) == {
        ("CVE-2023-5678", "openssl", "1:3.0.7-24.el9", Severity.MEDIUM, "1:3.0.7-27.el9"),
        ("CVE-2023-5678", "openssl-libs", "1:3.0.7-24.el9", Severity.MEDIUM, "1:3.0.7-27.el9"),
    }


def test_a_go_binary_matches_stdlib_advisories(tmp_path: Path) -> None:
    require("go")
    layer = img.layer({"usr/bin/hello": builds.go_binary(tmp_path)}, executable=("usr/bin/hello",))
    found = summary(findings_for(layer))
    (finding,) = found
    assert finding[:2] == ("CVE-2023-29406", "stdlib")
    assert finding[4] in ("1.19.11", "1.20.6")


SEVERITY_ROWS = [
    ({"ecosystem_specific": {"urgency": "unimportant"}}, {}, Severity.INFORMATIONAL, "vendor"),
    ({"ecosystem_specific": {"urgency": "not yet assigned"}}, {}, Severity.UNDEFINED, "none"),
    ({"severity": [{"type": "Ubuntu", "score": "negligible"}]}, {}, Severity.INFORMATIONAL, "vendor"),
    ({}, {"database_specific": {"severity": "MODERATE"}}, Severity.MEDIUM, "ghsa"),
    (
        {},
        {"severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}]},
        Severity.HIGH,
        "cvss_v2",
    ),
    (
        {},
        {
            "severity": [
                {
                    "type": "CVSS_V4",
                    "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N",
                },
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
            ]
        },
        Severity.CRITICAL,
        "cvss_v3",
    ),
    ({}, {"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:X"}]}, Severity.UNDEFINED, "none"),
    ({}, {}, Severity.UNDEFINED, "none"),
]


@pytest.mark.parametrize(("affected", "record", "severity", "source"), SEVERITY_ROWS)
def test_severity_sources_in_order(affected: dict, record: dict, severity: Severity, source: str) -> None:  # type: ignore[type-arg]
    rating = rate(record, affected)
    assert (rating.severity, rating.source) == (severity, source)


def test_an_ubuntu_lts_image_matches_by_source_with_ubuntus_rating() -> None:
    release = b'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\n'
    status = b"Package: libc6\nStatus: install ok installed\nSource: glibc\nVersion: 2.35-0ubuntu3.4\n"
    layer = img.layer({"usr/lib/os-release": release, "var/lib/dpkg/status": status})
    (finding,) = findings_for(layer)
    assert (finding.name, finding.ecosystem, finding.severity) == (
        "CVE-2024-2961",
        "Ubuntu:22.04:LTS",
        Severity.MEDIUM,
    )
    assert (finding.severity_source, finding.fixed_version) == ("vendor", "2.35-0ubuntu3.8")
