"""Scan on push end to end: a real server, images pushed with skopeo and a model pushed
with oras-py, findings read back through boto3 in ECR's basic and enhanced shapes.

The images are the scan engine's fixtures (tests/support/layers.py): a Debian base layer
with known dpkg packages, and an application layer with an npm package, a malicious
pickle and a harmless safetensors file; the advisories are tests/fixtures/osv.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import Cli
from support import layers as img
from support import osv
from support.aws import aws_client, error_of
from support.images import OCI_CONFIG, OCI_MANIFEST
from support.scans import (
    ADMIN_KEY,
    APP,
    EXPECTED,
    EXPECTED_COUNTS,
    OTHER_APP,
    all_findings,
    attributes,
    aws_cli,
    finished_scan,
    layout,
    push,
    put_blob,
    scan_events,
    signed,
)
from support.server import RunningServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def ecr(server: RunningServer) -> Any:
    server.cli("vulndb", "import", str(osv.RECORDS_DIR))
    return aws_client(server, "ecr")


def test_basic_findings_of_an_image_pushed_with_skopeo(
    server: RunningServer, ecr: Any, skopeo: Cli, tmp_path: Path
) -> None:
    ecr.create_repository(repositoryName="team/app", imageScanningConfiguration={"scanOnPush": True})
    push(skopeo, server, layout(tmp_path / "app", APP), "team/app:v1")

    response = finished_scan(ecr, "team/app", "v1")
    assert response["imageScanStatus"] == {
        "status": "COMPLETE",
        "description": "The scan was completed successfully.",
    }
    scan = response["imageScanFindings"]
    assert scan["findingSeverityCounts"] == EXPECTED_COUNTS
    assert "enhancedFindings" not in scan
    found = all_findings(ecr, "team/app", "v1", "findings", page=2)
    assert len(found) == 6
    assert {
        (f["name"], f["severity"], attributes(f).get("package_name"), attributes(f).get("package_version"))
        for f in found
    } == EXPECTED
    glibc = next(f for f in found if f["name"] == "CVE-2024-2961")
    assert glibc["uri"] == "https://osv.dev/vulnerability/CVE-2024-2961"
    lodash = attributes(next(f for f in found if f["name"] == "CVE-2021-23337"))
    assert lodash["CVSS3_VECTOR"] == "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"
    assert lodash["CVSS3_SCORE"] == "7.2"
    model = next(f for f in found if f["severity"] == "CRITICAL")
    assert attributes(model)["file_path"] == "app/models/classifier.pkl"
    assert model["description"] == "imports posix.system"

    # By tag: the repository also holds the image's SBOM, an untagged referrer (ADR 0016).
    [detail] = ecr.describe_images(repositoryName="team/app", imageIds=[{"imageTag": "v1"}])["imageDetails"]
    assert detail["imageScanStatus"]["status"] == "COMPLETE"
    assert detail["imageScanFindingsSummary"]["findingSeverityCounts"] == EXPECTED_COUNTS
    assert "vulnerabilitySourceUpdatedAt" in detail["imageScanFindingsSummary"]

    [complete] = scan_events(server)
    assert complete["data"]["scan-status"] == "COMPLETE"
    assert complete["data"]["finding-severity-counts"] == EXPECTED_COUNTS
    [new] = scan_events(server, "scan.finding.new")
    assert new["data"]["count"] == 6

    # The same findings through /admin/v1 and the CLI, model files in the same list.
    admin = signed(server, "/admin/v1/findings?repository=team%2Fapp&imageTag=v1", ADMIN_KEY)
    assert admin.status_code == 200, admin.text
    cli = server.cli_json("scan", "findings", "team/app:v1", "--output", "json")
    remote = server.cli_json(
        "scan", "findings", "team/app:v1", "--endpoint", server.url,
        "--user", server.user, "--password", server.password, "--output", "json",
    )  # fmt: skip
    assert remote == cli
    missing = server.cli("scan", "findings", "team/app:v9", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    for document in (admin.json(), cli):
        assert (document["status"], document["findingSeverityCounts"]) == ("COMPLETE", EXPECTED_COUNTS)
        assert {
            (f["name"], f["severity"], f["package"], f["version"]) for f in document["findings"]
        } == EXPECTED
        [model_file] = [f for f in document["findings"] if f["kind"] == "model"]
        assert (model_file["file"], model_file["detail"]) == (
            "app/models/classifier.pkl",
            "imports posix.system",
        )
    table = server.cli("scan", "findings", "team/app:v1", "--output", "table").stdout
    rows = [line.split() for line in table.splitlines()]
    assert rows[2] == ["SEVERITY", "FINDING", "PACKAGE", "/", "FILE", "VERSION", "/", "DETAIL", "FIXED", "IN"]
    assert rows[3] == [
        "CRITICAL",
        "pickle-code-execution",
        "app/models/classifier.pkl",
        "imports",
        "posix.system",
    ]
    assert signed(server, "/admin/v1/findings?imageTag=v1", ADMIN_KEY).status_code == 400
    assert (
        signed(server, "/admin/v1/findings?repository=team%2Fapp&imageTag=v9", ADMIN_KEY).status_code == 404
    )
    server.cli("iam", "create-user", "--user-name", "nobody")
    key = server.cli_json("iam", "create-access-key", "--user-name", "nobody")["AccessKey"]
    denied = signed(
        server,
        "/admin/v1/findings?repository=team%2Fapp&imageTag=v1",
        (key["AccessKeyId"], key["SecretAccessKey"]),
    )
    assert denied.status_code == 403
    assert "ecr:DescribeImageScanFindings" in denied.json()["error"]["message"]


def test_an_image_pushed_with_podman_gets_the_same_findings(
    server: RunningServer, ecr: Any, podman: Cli, tmp_path: Path
) -> None:
    """podman stores the layers uncompressed and pushes them recompressed: other blobs,
    the same files, so the same findings."""
    ecr.create_repository(repositoryName="team/podman", imageScanningConfiguration={"scanOnPush": True})
    podman.run("pull", f"oci:{layout(tmp_path / 'app', APP)}:v1", timeout=120)
    [image] = podman.run("images", "--quiet", "--no-trunc").stdout.split()
    podman.run(
        "push", "--tls-verify=false", "--creds", f"{server.user}:{server.password}",
        image, f"docker://{server.registry}/team/podman:v1", timeout=120,
    )  # fmt: skip

    response = finished_scan(ecr, "team/podman", "v1")
    assert response["imageScanStatus"]["status"] == "COMPLETE"
    assert response["imageScanFindings"]["findingSeverityCounts"] == EXPECTED_COUNTS
    found = all_findings(ecr, "team/podman", "v1", "findings", page=3)
    assert {
        (f["name"], f["severity"], attributes(f).get("package_name"), attributes(f).get("package_version"))
        for f in found
    } == EXPECTED
    cli = server.cli_json("scan", "findings", "team/podman:v1", "--output", "json")
    assert {(f["name"], f["severity"], f["package"], f["version"]) for f in cli["findings"]} == EXPECTED


def test_a_shared_base_layer_is_analysed_once_and_an_enhanced_registry_answers_enhanced(
    server: RunningServer, ecr: Any, skopeo: Cli, tmp_path: Path
) -> None:
    ecr.put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [{"filter": "ml/*", "filterType": "WILDCARD"}],
            }
        ],
    )
    push(skopeo, server, layout(tmp_path / "app", APP), "ml/first:v1")
    finished_scan(ecr, "ml/first", "v1")
    # Not covered by the rule, and not scanning on push itself: no scan.
    push(skopeo, server, layout(tmp_path / "app", APP), "other/app:v1")
    push(skopeo, server, layout(tmp_path / "other", OTHER_APP), "ml/second:v1")
    finished_scan(ecr, "ml/second", "v1")

    first, second = sorted(scan_events(server), key=lambda e: e["data"]["repository-name"])
    assert (first["data"]["layers-analysed"], first["data"]["layers-from-cache"]) == (2, 0)
    # The base layer was analysed for ml/first: ml/second reads only its own layer.
    assert (second["data"]["layers-analysed"], second["data"]["layers-from-cache"]) == (1, 1)
    with pytest.raises(ecr.exceptions.ScanNotFoundException):
        ecr.describe_image_scan_findings(repositoryName="other/app", imageId={"imageTag": "v1"})

    found = all_findings(ecr, "ml/first", "v1", "enhancedFindings", page=4)
    assert {
        (
            f["packageVulnerabilityDetails"]["vulnerabilityId"]
            if "packageVulnerabilityDetails" in f
            else f["title"].split(" ")[0],
            f["severity"],
        )
        for f in found
    } == {(name, severity) for name, severity, _, _ in EXPECTED}
    assert {f["status"] for f in found} == {"ACTIVE"}
    lodash = next(f for f in found if f["title"].startswith("CVE-2021-23337"))
    [package] = lodash["packageVulnerabilityDetails"]["vulnerablePackages"]
    assert (package["name"], package["version"], package["packageManager"]) == (
        "lodash",
        "4.17.20",
        "NODEPKG",
    )
    assert lodash["fixAvailable"] == "YES"
    assert package["fixedInVersion"] == "4.17.21"
    assert lodash["resources"][0]["details"]["awsEcrContainerImage"]["repositoryName"] == "ml/first"


def test_start_image_scan_is_allowed_once_a_day(
    server: RunningServer, ecr: Any, skopeo: Cli, tmp_path: Path
) -> None:
    ecr.put_registry_scanning_configuration(scanType="ENHANCED", rules=[])
    ecr.create_repository(repositoryName="manual/app")
    push(skopeo, server, layout(tmp_path / "app", APP), "manual/app:v1")
    with pytest.raises(ecr.exceptions.ScanNotFoundException):
        ecr.describe_image_scan_findings(repositoryName="manual/app", imageId={"imageTag": "v1"})

    started = ecr.start_image_scan(repositoryName="manual/app", imageId={"imageTag": "v1"})
    assert started["imageScanStatus"] == {"status": "PENDING"}
    assert started["imageId"]["imageDigest"].startswith("sha256:")
    code, message, status = error_of(
        ecr.start_image_scan, repositoryName="manual/app", imageId={"imageTag": "v1"}
    )
    assert (code, status) == ("LimitExceededException", 400)
    assert "once per 24 hours" in message
    found = all_findings(ecr, "manual/app", "v1", "enhancedFindings", page=100)
    assert len(found) == 6

    # The AWS CLI reads the same, paginating itself (4 per call).
    aws = aws_cli(server, tmp_path)
    listed = aws("ecr", "describe-image-scan-findings", "--repository-name", "manual/app",
                 "--image-id", "imageTag=v1", "--page-size", "4")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["imageScanStatus"]["status"] == "COMPLETE"
    assert len(document["imageScanFindings"]["enhancedFindings"]) == 6
    assert document["imageScanFindings"]["findingSeverityCounts"] == EXPECTED_COUNTS
    refused = aws("ecr", "start-image-scan", "--repository-name", "manual/app", "--image-id", "imageTag=v1")
    assert refused.returncode != 0
    assert "LimitExceededException" in refused.stderr

    code, _, status = error_of(
        ecr.start_image_scan, repositoryName="manual/app", imageId={"imageTag": "nope"}
    )
    assert (code, status) == ("ImageNotFoundException", 400)
    code, _, status = error_of(
        ecr.describe_image_scan_findings, repositoryName="manual/none", imageId={"imageTag": "v1"}
    )
    assert (code, status) == ("RepositoryNotFoundException", 400)
    for bad in (
        {"imageId": {}},
        {"imageId": {"imageDigest": "sha256:nothex"}},
        {"imageId": {"imageTag": "v1"}, "nextToken": "%%%"},
        {"imageId": {"imageTag": "v1"}, "maxResults": 5000},
    ):
        code, _, status = error_of(ecr.describe_image_scan_findings, repositoryName="manual/app", **bad)
        assert (code, status) == ("InvalidParameterException", 400), bad


def test_an_image_without_layers_is_unsupported_and_a_lost_blob_fails_the_scan(
    server: RunningServer, ecr: Any
) -> None:
    ecr.create_repository(repositoryName="odd/app", imageScanningConfiguration={"scanOnPush": True})
    with server.client() as client:
        config = {"mediaType": OCI_CONFIG, **put_blob(client, "odd/app", b'{"os": "linux"}')}
        empty = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": []})
        stored = client.put(
            "/v2/odd/app/manifests/empty", content=empty, headers={"Content-Type": OCI_MANIFEST}
        )
        assert stored.status_code == 201, stored.text

        layer = {"mediaType": img.media_type("gzip"), **put_blob(client, "odd/app", OTHER_APP)}
        [path] = (server.data_dir / "storage").rglob(layer["digest"].split(":")[1] + "*")
        path.unlink()  # as a disk fault would: the metadata still lists the blob
        lost = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
        )
        stored = client.put(
            "/v2/odd/app/manifests/lost", content=lost, headers={"Content-Type": OCI_MANIFEST}
        )
        assert stored.status_code == 201, stored.text

    unsupported = finished_scan(ecr, "odd/app", "empty")
    assert unsupported["imageScanStatus"] == {
        "status": "UNSUPPORTED_IMAGE",
        "description": "The image has no layers or files that can be scanned.",
    }
    failed = finished_scan(ecr, "odd/app", "lost")
    assert failed["imageScanStatus"]["status"] == "FAILED"
    assert "is missing from the store" in failed["imageScanStatus"]["description"]
    statuses = {
        detail["imageTags"][0]: detail["imageScanStatus"]["status"]
        for detail in ecr.describe_images(repositoryName="odd/app")["imageDetails"]
    }
    assert statuses == {"empty": "UNSUPPORTED_IMAGE", "lost": "FAILED"}
