"""Replication backfills through boto3 (botocore's StartReplicationBackfill,
ListReplicationBackfills, DescribeReplicationBackfillResults, StopReplicationBackfill):
images pushed before a rule existed reach the destination (account B of the same
server) once a backfill runs; images no rule matches stay home. With the job runner off,
a backfill stays IN_PROGRESS, a second one to the same destination is refused, and a
stopped one is STOPPED."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from support.aws import aws_client
from support.images import OciLayout, build_image
from support.server import RunningServer, start_server

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

A, B = "111111111111", "222222222222"
REGION = "us-west-2"
DESTINATION = {"region": REGION, "registryId": B}
FAST_JOBS = {"STRONGROOM_JOB_POLL_SECONDS": "0.2", "STRONGROOM_JOB_RETRY_BASE_SECONDS": "0.5"}
CONFIGURATION = {
    "rules": [
        {
            "destinations": [DESTINATION],
            "repositoryFilters": [{"filter": "team/", "filterType": "PREFIX_MATCH"}],
        }
    ]
}
ALLOW_A = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
                "Resource": f"arn:aws:ecr:{REGION}:{B}:repository/*",
            }
        ],
    }
)


def serve(directory: Path, *args: str) -> RunningServer:
    env = {"STRONGROOM_REGION": REGION, "STRONGROOM_ACCOUNT_ID": A, **FAST_JOBS}
    server = start_server(directory, env=env, args=["--workers", "1", *args])
    server.cli("account", "create", "--id", B)
    return server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = serve(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


def ecr(server: RunningServer, key: tuple[str, str] | None = None) -> Any:
    if key is None:
        return aws_client(server, "ecr", region_name=REGION)
    return aws_client(server, "ecr", key[0], key[1], region_name=REGION)


def b_key(server: RunningServer) -> tuple[str, str]:
    server.cli("iam", "create-user", "--user-name", "b-admin", "--account-id", B)
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
    )
    server.cli(
        "iam", "put-user-policy", "--user-name", "b-admin", "--account-id", B,
        "--policy-name", "all", "--policy-document", document,
    )  # fmt: skip
    created = server.cli_json("iam", "create-access-key", "--user-name", "b-admin", "--account-id", B)
    return created["AccessKey"]["AccessKeyId"], created["AccessKey"]["SecretAccessKey"]


def push(skopeo: Cli, server: RunningServer, tmp_path: Path, repository: str, tag: str, seed: int) -> str:
    layout = OciLayout.create(tmp_path / f"{repository.replace('/', '-')}-{tag}")
    image = build_image(random.Random(seed))
    layout.add(tag, image)
    skopeo.run(
        "copy", "--all", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
        "--dest-creds", f"{server.user}:{server.password}",
        f"oci:{layout.path}:{tag}", f"docker://{server.registry}/{repository}:{tag}",
    )  # fmt: skip
    return image.manifest.digest


def test_a_backfill_copies_what_existed_before_the_rule(
    server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    key = b_key(server)
    ecr(server, key).put_registry_policy(policyText=ALLOW_A)
    pushed = {
        ("team/a", "v1"): push(skopeo, server, tmp_path, "team/a", "v1", 301),
        ("team/a", "v2"): push(skopeo, server, tmp_path, "team/a", "v2", 307),
        ("team/b", "v1"): push(skopeo, server, tmp_path, "team/b", "v1", 311),
    }
    push(skopeo, server, tmp_path, "other/x", "v1", 313)
    client = ecr(server)
    with pytest.raises(ClientError) as refused:
        client.start_replication_backfill(destination=DESTINATION)  # no configuration names it yet
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    client.put_replication_configuration(replicationConfiguration=CONFIGURATION)
    started = client.start_replication_backfill(destination=DESTINATION)
    backfill_id = started["replicationBackfillId"]
    assert started["status"] in ("IN_PROGRESS", "COMPLETE") and started["destination"] == DESTINATION
    clock = time.monotonic()
    while True:
        [listed] = client.list_replication_backfills()["backfills"]
        if listed["status"] == "COMPLETE":
            break
        assert time.monotonic() - clock < 60, listed
        time.sleep(0.2)
    print(f"backfill of 3 images COMPLETE {time.monotonic() - clock:.2f}s after it started")
    assert listed["replicationBackfillId"] == backfill_id and "endedAt" in listed
    assert listed["progress"] == {
        "totalReplicationCount": 3, "completedReplicationCount": 3, "failedReplicationCount": 0,
        "failureCodes": [],
    }  # fmt: skip
    results = client.describe_replication_backfill_results(replicationBackfillId=backfill_id)["results"]
    assert {
        (r["repositoryName"], r["imageId"]["imageTag"], r["imageId"]["imageDigest"]) for r in results
    } == {(name, tag, digest) for (name, tag), digest in pushed.items()}
    assert {r["status"] for r in results} == {"COMPLETE"}
    for (name, tag), digest in pushed.items():
        found = ecr(server, key).describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])
        assert found["imageDetails"][0]["imageDigest"] == digest
        status = client.describe_image_replication_status(repositoryName=name, imageId={"imageTag": tag})
        assert [s["status"] for s in status["replicationStatuses"]] == ["COMPLETE"]
    names = {r["repositoryName"] for r in ecr(server, key).describe_repositories()["repositories"]}
    assert names == {"team/a", "team/b"}
    failed = client.describe_replication_backfill_results(
        replicationBackfillId=backfill_id, resultStatusFilter="FAILED"
    )
    assert failed["results"] == []


def test_one_backfill_at_a_time_per_destination_and_stopping_one(skopeo: Cli, tmp_path: Path) -> None:
    server = serve(tmp_path / "data", "--no-jobs")  # nothing runs: the backfill stays IN_PROGRESS
    try:
        push(skopeo, server, tmp_path, "team/a", "v1", 317)
        client = ecr(server)
        client.put_replication_configuration(replicationConfiguration=CONFIGURATION)
        first = client.start_replication_backfill(destination=DESTINATION)["replicationBackfillId"]
        with pytest.raises(ClientError) as busy:
            client.start_replication_backfill(destination=DESTINATION)
        assert busy.value.response["Error"]["Code"] == "ReplicationBackfillInProgressException"
        stopped = client.stop_replication_backfill(replicationBackfillId=first)
        assert stopped["status"] == "STOPPED"
        with pytest.raises(ClientError) as again:
            client.stop_replication_backfill(replicationBackfillId=first)
        assert again.value.response["Error"]["Code"] == "ReplicationBackfillInvalidStatusException"
        with pytest.raises(ClientError) as unknown:
            client.describe_replication_backfill_results(
                replicationBackfillId="00000000-0000-4000-8000-000000000000"
            )
        assert unknown.value.response["Error"]["Code"] == "ReplicationBackfillNotFoundException"
        second = client.start_replication_backfill(destination=DESTINATION)["replicationBackfillId"]
        listed = client.list_replication_backfills()["backfills"]
        assert [(b["replicationBackfillId"], b["status"]) for b in listed] == [
            (second, "IN_PROGRESS"), (first, "STOPPED"),
        ]  # fmt: skip
        assert listed[0]["progress"]["totalReplicationCount"] == 1
    finally:
        server.stop()


def allow(account: str, region_account: str) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
        "Resource": f"arn:aws:ecr:{REGION}:{region_account}:repository/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def wait_backfill(client: Any) -> dict[str, Any]:
    clock = time.monotonic()
    while True:
        [listed] = client.list_replication_backfills()["backfills"]
        if listed["status"] != "IN_PROGRESS":
            return dict(listed)
        assert time.monotonic() - clock < 60, listed
        time.sleep(0.2)


def test_a_backfill_at_a_destination_skips_what_it_received_by_replication(
    server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    """A replicates team/ to B; B's own rule names A: B's backfill sends B's own image only
    (the mark stored on the manifest, ADR 0020 decision 23)."""
    key = b_key(server)
    ecr(server, key).put_registry_policy(policyText=ALLOW_A)
    ecr(server).put_registry_policy(policyText=allow(B, A))
    received = push(skopeo, server, tmp_path, "team/a", "v1", 331)
    ecr(server).put_replication_configuration(replicationConfiguration=CONFIGURATION)
    ecr(server).start_replication_backfill(destination=DESTINATION)
    assert wait_backfill(ecr(server))["status"] == "COMPLETE"
    found = ecr(server, key).describe_images(repositoryName="team/a", imageIds=[{"imageTag": "v1"}])
    assert found["imageDetails"][0]["imageDigest"] == received
    # B's own push, then B's rule back to A.
    layout = OciLayout.create(tmp_path / "b-own")
    own = build_image(random.Random(337))
    layout.add("v1", own)
    skopeo.run(
        "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
        "--dest-creds", f"{key[0]}:{key[1]}",
        f"oci:{layout.path}:v1", f"docker://{server.registry}/{B}/team/own:v1",
    )  # fmt: skip
    back = {"region": REGION, "registryId": A}
    rules = {
        "rules": [
            {"destinations": [back], "repositoryFilters": [{"filter": "team/", "filterType": "PREFIX_MATCH"}]}
        ]
    }
    ecr(server, key).put_replication_configuration(replicationConfiguration=rules)
    ecr(server, key).start_replication_backfill(destination=back)
    ended = wait_backfill(ecr(server, key))
    assert ended["status"] == "COMPLETE" and ended["progress"]["totalReplicationCount"] == 1, ended
    results = ecr(server, key).describe_replication_backfill_results(
        replicationBackfillId=ended["replicationBackfillId"]
    )["results"]
    assert [(r["repositoryName"], r["imageId"]["imageDigest"], r["status"]) for r in results] == [
        ("team/own", own.manifest.digest, "COMPLETE")
    ]
