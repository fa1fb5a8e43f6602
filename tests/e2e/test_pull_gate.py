"""The pull gate end to end: an image with known findings (tests/support/scans.py) pushed
with scanning on, a pull policy set with ``strongroom repo set-pull-policy``; skopeo and
podman are refused with the findings named, pull once the risks are accepted (one of them
through ``--endpoint``, the server's ``/admin/v1``), and are refused again when the server's
clock is stepped past the acceptance's expiry. The audit log holds each refusal and
acceptance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import Cli
from support import osv
from support.aws import aws_client
from support.scans import ADMIN_KEY, APP, finished_scan, layout, push
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

REPO = "gate/app"
DAYS = 86_400
BLOCKING = ("CVE-2024-2961", "CVE-2021-23337", "pickle-code-execution")


@pytest.fixture
def offset(tmp_path: Path) -> Path:
    path = tmp_path / "clock-offset"
    path.write_text("0")
    return path


@pytest.fixture
def server(tmp_path: Path, offset: Path) -> Iterator[RunningServer]:
    env = {"STRONGROOM_CLOCK_OFFSET_FILE": str(offset), "STRONGROOM_JOB_POLL_SECONDS": "0.1"}
    running = start_server(tmp_path / "data", env=env, args=["--workers", "1"])
    try:
        yield running
    finally:
        running.stop()


def pull_with_skopeo(skopeo: Cli, server: RunningServer, target: Path, *, fails: bool) -> str:
    args = (
        "copy", "--src-tls-verify=false", "--src-creds", f"{server.user}:{server.password}",
        f"docker://{server.registry}/{REPO}:v1", f"oci:{target}:v1",
    )  # fmt: skip
    result = skopeo.fails(*args) if fails else skopeo.run(*args)
    return result.stderr


def pull_with_podman(podman: Cli, server: RunningServer, *, fails: bool) -> str:
    args = (
        "pull", "--tls-verify=false", "--creds", f"{server.user}:{server.password}",
        f"{server.registry}/{REPO}:v1",
    )  # fmt: skip
    result = podman.fails(*args, timeout=120) if fails else podman.run(*args, timeout=120)
    return result.stderr


def remote_cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    """A client command against the server's /admin/v1, signed with the administrator's key."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("STRONGROOM_", "AWS_"))}
    env.update(
        AWS_ACCESS_KEY_ID=ADMIN_KEY[0], AWS_SECRET_ACCESS_KEY=ADMIN_KEY[1], STRONGROOM_ENDPOINT=server.url,
        STRONGROOM_DATA_DIR=str(server.data_dir.parent / "nowhere"),
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "strongroom", *args], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def audit_events(server: RunningServer) -> list[dict[str, Any]]:
    lines = server.cli("audit", "export").stdout.splitlines()
    return [json.loads(line)["event"] for line in lines if line.strip()]


def test_a_pull_refused_by_policy_allowed_by_accepted_risks_and_refused_again_when_they_expire(
    server: RunningServer, offset: Path, skopeo: Cli, podman: Cli, tmp_path: Path
) -> None:
    server.cli("vulndb", "import", str(osv.RECORDS_DIR))
    ecr = aws_client(server, "ecr")
    ecr.create_repository(repositoryName=REPO, imageScanningConfiguration={"scanOnPush": True})
    push(skopeo, server, layout(tmp_path / "app", APP), f"{REPO}:v1")
    assert finished_scan(ecr, REPO, "v1")["imageScanStatus"]["status"] == "COMPLETE"

    server.cli("repo", "set-pull-policy", REPO, "--max-severity", "HIGH", "--block-unsafe-models",
               "--block-unscanned")  # fmt: skip

    # Refused: the clients show the registry's message, which names the findings.
    refused = pull_with_skopeo(skopeo, server, tmp_path / "copy", fails=True)
    rejected = pull_with_podman(podman, server, fails=True)
    for output in (refused, rejected):
        assert "pull refused by pull policy" in output, output
        for finding in BLOCKING:
            assert finding in output, output
    assert "CVE-2024-2961 (HIGH, libc6 2.36-9+deb12u4)" in refused
    got = ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    assert got["images"] == [] and got["failures"][0]["failureCode"] == "ImageInaccessible"

    # Accepted for 30 days (two locally, one through the server's /admin/v1): allowed.
    for finding in BLOCKING[:2]:
        server.cli("scan", "accept", REPO, finding, "--reason", "fix ships next sprint", "--expires", "30d")
    remote_cli(server, "scan", "accept", REPO, BLOCKING[2], "--reason", "model from our own training run",
               "--expires", "30d", "--output", "json")  # fmt: skip
    listed = remote_cli(server, "scan", "accepted", REPO, "--output", "json").stdout
    assert sorted(entry["findingId"] for entry in json.loads(listed)["acceptedRisks"]) == sorted(BLOCKING)
    pull_with_skopeo(skopeo, server, tmp_path / "copy", fails=False)
    pull_with_podman(podman, server, fails=False)

    # The server's clock steps 31 days ahead: the acceptances have expired, refused again.
    offset.write_text(str(31 * DAYS))
    again = pull_with_skopeo(skopeo, server, tmp_path / "again", fails=True)
    assert all(finding in again for finding in BLOCKING), again
    assert "CVE-2024-2961" in pull_with_podman(podman, server, fails=True)

    events = audit_events(server)
    acceptances = [e for e in events if e["action"] == "strongroom:AcceptFindingRisk"]
    assert sorted(e["detail"]["acceptedRisk"]["findingId"] for e in acceptances) == sorted(BLOCKING)
    assert {e["detail"]["acceptedRisk"]["reason"] for e in acceptances} == {
        "fix ships next sprint", "model from our own training run",
    }  # fmt: skip
    refusals = [e for e in events if e["detail"].get("refusedBy") == "pull-gate"]
    assert len(refusals) >= 5  # skopeo, podman, BatchGetImage; skopeo, podman again
    assert {e["decision"] for e in refusals} == {"deny"}
    assert set(BLOCKING) <= set(refusals[-1]["detail"]["findings"])
    waived = [e for e in events if "acceptedRisks" in e["detail"]]
    assert waived and all(e["decision"] == "allow" for e in waived)
