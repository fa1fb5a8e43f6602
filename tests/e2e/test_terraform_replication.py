"""The seed's replication applied with Terraform (issue 15, Proof 3): two real servers of
one account, the source in us-west-2 and a second instance in us-east-1 registered as its
destination; ``aws_ecr_replication_configuration`` (with ``terraform-replication/``) is
applied to the source and planned again with no change; an image pushed to the source is
then served by the destination, byte-identical.

Runs where Terraform and a provider mirror are present (test_terraform.py's ``terraform``
fixture, which skips cleanly otherwise; its configuration is replaced by this one).
"""

from __future__ import annotations

import hashlib
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.test_terraform import APPLY_TIMEOUT, INIT_TIMEOUT, Terraform, terraform
from support.aws import aws_client
from support.images import OCI_MANIFEST, build_image
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer, start_server

__all__ = ["terraform"]  # the fixture, imported to be used here

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

ACCOUNT = "111111111111"
SEED = Path(__file__).parent / "terraform-replication"
VERSIONS = Path(__file__).parent / "terraform" / "versions.tf"
FAST_JOBS = {"STRONGROOM_JOB_POLL_SECONDS": "0.2", "STRONGROOM_JOB_RETRY_BASE_SECONDS": "0.5"}


def serve(directory: Path, region: str) -> RunningServer:
    env = {"STRONGROOM_REGION": region, "STRONGROOM_ACCOUNT_ID": ACCOUNT, **FAST_JOBS}
    return start_server(directory, env=env, args=["--workers", "1"])


@pytest.fixture
def east(tmp_path: Path) -> Iterator[RunningServer]:
    running = serve(tmp_path / "east", "us-east-1")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def server(tmp_path: Path, east: RunningServer) -> Iterator[RunningServer]:
    """The source (the name the ``terraform`` fixture asks for), with us-east-1 registered."""
    running = serve(tmp_path / "source", "us-west-2")
    try:
        running.cli(
            "replication", "destination", "add", "--region", "us-east-1", "--registry-id", ACCOUNT,
            "--url", east.url, "--kind", "strongroom", "--access-key-id", ADMIN_ACCESS_KEY_ID,
            "--secret-stdin", stdin=ADMIN_SECRET_ACCESS_KEY + "\n",
        )  # fmt: skip
        yield running
    finally:
        running.stop()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_the_seed_replication_applied_with_terraform_reaches_the_destination(
    terraform: Terraform, server: RunningServer, east: RunningServer
) -> None:
    for path in terraform.workdir.glob("*.tf"):
        path.unlink()
    for source in (*SEED.glob("*.tf"), VERSIONS):
        shutil.copy(source, terraform.workdir / source.name)
    terraform.run("init", "-input=false", "-no-color", timeout=INIT_TIMEOUT)
    terraform.run("apply", "-auto-approve", "-input=false", "-no-color", timeout=APPLY_TIMEOUT)
    plan = terraform.run(
        "plan", "-detailed-exitcode", "-input=false", "-no-color", timeout=APPLY_TIMEOUT, ok=(0, 2)
    )
    assert plan.returncode == 0, f"a plan right after apply wants changes:\n{plan.stdout[-8000:]}"
    ecr = aws_client(server, "ecr", region_name="us-west-2")
    rules = ecr.describe_registry()["replicationConfiguration"]["rules"]
    assert rules == [
        {
            "destinations": [{"region": "us-east-1", "registryId": ACCOUNT}],
            "repositoryFilters": [{"filter": "seed/", "filterType": "PREFIX_MATCH"}],
        }
    ]

    image = build_image(random.Random(401), layers=2)
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as http:
        for blob in (image.config, *image.layers):
            answer = http.post(
                "/v2/seed/app/blobs/uploads/", params={"digest": blob.digest}, content=blob.data,
                headers={"content-type": "application/octet-stream"},
            )  # fmt: skip
            assert answer.status_code == 201, answer.text
        answer = http.put(
            "/v2/seed/app/manifests/v1", content=image.manifest.data, headers={"content-type": OCI_MANIFEST}
        )
        assert answer.status_code == 201, answer.text
    started, status = time.monotonic(), None
    while time.monotonic() - started < 60:
        found = ecr.describe_image_replication_status(repositoryName="seed/app", imageId={"imageTag": "v1"})
        status = [(s["region"], s["registryId"], s["status"]) for s in found["replicationStatuses"]]
        if status == [("us-east-1", ACCOUNT, "COMPLETE")]:
            break
        time.sleep(0.1)
    assert status == [("us-east-1", ACCOUNT, "COMPLETE")], status
    with east.client() as http:
        pulled = http.get("/v2/seed/app/manifests/v1", headers={"accept": OCI_MANIFEST})
        assert pulled.status_code == 200 and pulled.content == image.manifest.data
        for blob in (image.config, *image.layers):
            assert digest_of(http.get(f"/v2/seed/app/blobs/{blob.digest}").content) == blob.digest

    terraform.run("destroy", "-auto-approve", "-input=false", "-no-color", timeout=APPLY_TIMEOUT)
    assert not ecr.describe_registry()["replicationConfiguration"]["rules"]
