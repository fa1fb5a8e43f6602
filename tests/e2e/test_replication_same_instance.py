"""Replication to another account of the same instance (ADR 0020): no destination is
registered; the registry copies the image itself, authorized by the destination account's
registry policy allowing ``ecr:ReplicateImage`` (and ``ecr:CreateRepository``) to the
source account, conditioned on ``aws:SourceAccount``/``aws:SourceArn``, as in ECR.

One real server (us-west-2): account A (111111111111, the default) replicates ``team/``
to account B (222222222222) of the same server. Attacker's test first: B never agreed, so
nothing may appear in B. Then B's policy allows A, and the image arrives byte-identical,
pulled with skopeo by a user of B. A ``REPLICATION`` creation template in B shapes the new
repository; an immutable tag there is a named FAILED reason, at once, not an overwrite."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from support.aws import aws_client
from support.images import OciLayout, build_image, sha256_digest
from support.server import RunningServer, start_server

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

A, B = "111111111111", "222222222222"
REGION = "us-west-2"
HERE_B = (REGION, B)
FAST_JOBS = {
    "STRONGROOM_JOB_POLL_SECONDS": "0.2", "STRONGROOM_JOB_RETRY_BASE_SECONDS": "0.5",
    "STRONGROOM_POLICY_CACHE_SECONDS": "0",
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"STRONGROOM_REGION": REGION, "STRONGROOM_ACCOUNT_ID": A, **FAST_JOBS}
    running = start_server(tmp_path_factory.mktemp("same-instance"), env=env, args=["--workers", "1"])
    try:
        running.cli("account", "create", "--id", B)
        ecr(running).put_replication_configuration(
            replicationConfiguration={
                "rules": [
                    {"destinations": [{"region": REGION, "registryId": B}],
                     "repositoryFilters": [{"filter": "team/", "filterType": "PREFIX_MATCH"}]}
                ]
            }
        )  # fmt: skip
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def b_key(server: RunningServer) -> tuple[str, str]:
    """An administrator of account B (its own identity policy: every ECR action)."""
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


def ecr(server: RunningServer, key: tuple[str, str] | None = None) -> Any:
    if key is None:
        return aws_client(server, "ecr", region_name=REGION)
    return aws_client(server, "ecr", key[0], key[1], region_name=REGION)


def push(skopeo: Cli, server: RunningServer, layout: OciLayout, tag: str, repository: str) -> None:
    skopeo.run(
        "copy", "--all", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
        "--dest-creds", f"{server.user}:{server.password}",
        f"oci:{layout.path}:{tag}", f"docker://{server.registry}/{repository}:{tag}",
    )  # fmt: skip


def status(server: RunningServer, repository: str, tag: str) -> dict[str, str]:
    answer = ecr(server).describe_image_replication_status(
        repositoryName=repository, imageId={"imageTag": tag}
    )
    found = {(s["region"], s["registryId"]): s for s in answer["replicationStatuses"]}
    return dict(found.get(HERE_B, {}))


def wait_for(
    server: RunningServer, repository: str, tag: str, wanted: str, seconds: float = 30
) -> dict[str, str]:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        found = status(server, repository, tag)
        if found.get("status") == wanted:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{repository}:{tag} never reached {wanted}: {status(server, repository, tag)}")


def b_repositories(server: RunningServer, b_key: tuple[str, str]) -> dict[str, dict[str, Any]]:
    listed = ecr(server, b_key).describe_repositories()["repositories"]
    return {r["repositoryName"]: r for r in listed}


def registry_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_A = {
    "Sid": "ReplicationFromA",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
    "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
    "Resource": f"arn:aws:ecr:{REGION}:{B}:repository/*",
    "Condition": {"StringEquals": {"aws:SourceAccount": A}},
}


def test_without_b_s_registry_policy_nothing_reaches_b(
    server: RunningServer, b_key: tuple[str, str], skopeo: Cli, tmp_path: Path
) -> None:
    layout = OciLayout.create(tmp_path / "source")
    layout.add("v1", build_image(random.Random(101), layers=2))
    started = time.monotonic()
    push(skopeo, server, layout, "v1", "team/denied")
    failed = wait_for(server, "team/denied", "v1", "FAILED")
    took = time.monotonic() - started
    # A refusal is permanent: recorded at the first attempt, not after ten with backoff.
    assert took < 10, took
    assert failed["failureCode"].startswith("REPLICATION_DENIED"), failed
    assert "ecr:ReplicateImage" in failed["failureCode"] and B in failed["failureCode"], failed
    assert "team/denied" not in b_repositories(server, b_key)
    # A policy for another source account does not let A in either.
    other = {**ALLOW_A, "Principal": {"AWS": "arn:aws:iam::333333333333:root"}}
    ecr(server, b_key).put_registry_policy(policyText=registry_policy(other))
    push(skopeo, server, layout, "v1", "team/denied2")
    assert wait_for(server, "team/denied2", "v1", "FAILED")["failureCode"].startswith("REPLICATION_DENIED")
    assert "team/denied2" not in b_repositories(server, b_key)


def test_a_source_arn_condition_limits_what_a_may_replicate(
    server: RunningServer, b_key: tuple[str, str], skopeo: Cli, tmp_path: Path
) -> None:
    only_app = {
        **ALLOW_A,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:ecr:{REGION}:{A}:repository/team/app*"}},
    }
    ecr(server, b_key).put_registry_policy(policyText=registry_policy(only_app))
    layout = OciLayout.create(tmp_path / "source")
    layout.add("v1", build_image(random.Random(103)))
    push(skopeo, server, layout, "v1", "team/elsewhere")
    assert wait_for(server, "team/elsewhere", "v1", "FAILED")["failureCode"].startswith("REPLICATION_DENIED")
    assert "team/elsewhere" not in b_repositories(server, b_key)
    push(skopeo, server, layout, "v1", "team/app-x")
    wait_for(server, "team/app-x", "v1", "COMPLETE")
    assert "team/app-x" in b_repositories(server, b_key)


def test_with_b_s_policy_the_image_arrives_byte_identical(
    server: RunningServer, b_key: tuple[str, str], skopeo: Cli, tmp_path: Path
) -> None:
    ecr(server, b_key).put_registry_policy(policyText=registry_policy(ALLOW_A))
    layout = OciLayout.create(tmp_path / "source")
    layout.add("v1", build_image(random.Random(107), layers=3))
    started = time.monotonic()
    push(skopeo, server, layout, "v1", "team/app")
    pushed = time.monotonic()
    wait_for(server, "team/app", "v1", "COMPLETE")
    print(f"same-instance: push to COMPLETE {time.monotonic() - pushed:.2f}s (push {pushed - started:.2f}s)")
    target = tmp_path / "pulled"
    skopeo.run(
        "copy", "--all", "--quiet", "--preserve-digests", "--src-tls-verify=false",
        "--src-creds", f"{b_key[0]}:{b_key[1]}",
        f"docker://{server.registry}/{B}/team/app:v1", f"oci:{target}:v1",
    )  # fmt: skip
    pulled = OciLayout(target)
    assert pulled.descriptor("v1")["digest"] == layout.descriptor("v1")["digest"]
    assert pulled.blob_digests() == layout.blob_digests()
    for digest in layout.blob_digests():
        data = pulled.read_blob(digest)
        assert sha256_digest(data) == digest and data == layout.read_blob(digest)
    events = server.cli_json("events", "list", "--type", "replication.complete", "--output", "json")["events"]
    assert any(
        e["data"]["repository-name"] == "team/app" and e["data"]["destination-registry-id"] == B
        for e in events
    )


def test_a_replication_template_shapes_b_s_repository_and_an_immutable_tag_is_a_named_failure(
    server: RunningServer, b_key: tuple[str, str], skopeo: Cli, tmp_path: Path
) -> None:
    ecr(server, b_key).put_registry_policy(policyText=registry_policy(ALLOW_A))
    ecr(server, b_key).create_repository_creation_template(
        prefix="team/frozen", appliedFor=["REPLICATION"], imageTagMutability="IMMUTABLE",
        resourceTags=[{"Key": "origin", "Value": "replication"}],
    )  # fmt: skip
    first, second = build_image(random.Random(109)), build_image(random.Random(113))
    layout = OciLayout.create(tmp_path / "one")
    layout.add("prod", first)
    push(skopeo, server, layout, "prod", "team/frozen")
    wait_for(server, "team/frozen", "prod", "COMPLETE")
    created = b_repositories(server, b_key)["team/frozen"]
    assert created["imageTagMutability"] == "IMMUTABLE"
    tags = ecr(server, b_key).list_tags_for_resource(resourceArn=created["repositoryArn"])["tags"]
    assert {"Key": "origin", "Value": "replication"} in tags
    # Without a template, the source's settings: scan on push as in the source.
    ecr(server).create_repository(
        repositoryName="team/scanned", imageScanningConfiguration={"scanOnPush": True}
    )
    push(skopeo, server, layout, "prod", "team/scanned")
    wait_for(server, "team/scanned", "prod", "COMPLETE")
    assert b_repositories(server, b_key)["team/scanned"]["imageScanningConfiguration"]["scanOnPush"] is True
    # The source's tag moves; B keeps it where it is and the status says why, at once.
    layout = OciLayout.create(tmp_path / "two")
    layout.add("prod", second)
    started = time.monotonic()
    push(skopeo, server, layout, "prod", "team/frozen")
    failed = wait_for(server, "team/frozen", "prod", "FAILED")
    assert time.monotonic() - started < 10
    assert failed["failureCode"].startswith("TAG_IMMUTABLE"), failed
    found = ecr(server, b_key).describe_images(repositoryName="team/frozen", imageIds=[{"imageTag": "prod"}])
    assert found["imageDetails"][0]["imageDigest"] == first.manifest.digest


def replication_events(server: RunningServer, kind: str, digest: str) -> list[dict[str, Any]]:
    events = server.cli_json("events", "list", "--type", f"replication.{kind}", "--output", "json")["events"]
    return [
        e["data"]
        for e in events
        if e["data"]["image-digest"] == digest and e["data"]["action-type"] == "DELETE"
    ]


def wait_for_event(server: RunningServer, kind: str, digest: str, seconds: float = 30) -> dict[str, Any]:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        found = replication_events(server, kind, digest)
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no replication.{kind} of the deletion of {digest}")


def push_and_delete(server: RunningServer, skopeo: Cli, tmp_path: Path, seed: int) -> str:
    """Push team/gone:v<seed>, wait until B has it, delete it in A; its digest."""
    layout = OciLayout.create(tmp_path / f"gone-{seed}")
    image = build_image(random.Random(seed))
    layout.add(f"v{seed}", image)
    push(skopeo, server, layout, f"v{seed}", "team/gone")
    wait_for(server, "team/gone", f"v{seed}", "COMPLETE")
    ecr(server).batch_delete_image(
        repositoryName="team/gone", imageIds=[{"imageDigest": image.manifest.digest}]
    )
    return image.manifest.digest


def in_b(server: RunningServer, b_key: tuple[str, str], digest: str) -> bool:
    found = ecr(server, b_key).batch_get_image(repositoryName="team/gone", imageIds=[{"imageDigest": digest}])
    return bool(found["images"])


def test_deletes_replicate_only_when_the_account_says_so_and_b_allows_them(
    server: RunningServer, b_key: tuple[str, str], skopeo: Cli, tmp_path: Path
) -> None:
    ecr(server, b_key).put_registry_policy(policyText=registry_policy(ALLOW_A))
    assert ecr(server).get_account_setting(name="REPLICATION_DELETES")["value"] == "DISABLED"
    kept = push_and_delete(server, skopeo, tmp_path, 127)
    time.sleep(2)  # several polls of the job runner: no job was queued
    assert in_b(server, b_key, kept) and not replication_events(server, "complete", kept)
    ecr(server).put_account_setting(name="REPLICATION_DELETES", value="ENABLED")
    try:
        # Enabled at A, but B's policy does not allow ecr:BatchDeleteImage: refused, at once.
        refused = push_and_delete(server, skopeo, tmp_path, 131)
        failed = wait_for_event(server, "failed", refused, seconds=10)
        assert (
            failed["failure-code"] == "REPLICATION_DENIED"
            and "ecr:BatchDeleteImage" in failed["failure-reason"]
        )
        assert in_b(server, b_key, refused)
        allow = {**ALLOW_A, "Action": [*ALLOW_A["Action"], "ecr:BatchDeleteImage"]}
        ecr(server, b_key).put_registry_policy(policyText=registry_policy(allow))
        deleted = push_and_delete(server, skopeo, tmp_path, 137)
        wait_for_event(server, "complete", deleted)
        assert not in_b(server, b_key, deleted)
        assert in_b(server, b_key, kept)  # what went before the setting stays
    finally:
        ecr(server).put_account_setting(name="REPLICATION_DELETES", value="DISABLED")
