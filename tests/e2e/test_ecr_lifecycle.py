"""Lifecycle policies and garbage collection against a real server: every lifecycle
operation of the ECR API with boto3 and its documented errors, a preview that matches
what ``strongroom lifecycle run`` then expires, the periodic job, and online garbage
collection (bytes freed, grace period, a push racing the collector, dry runs)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.aws import aws_client, error_of
from support.images import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, Blob, Image, build_image, encode_json
from support.server import RunningServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NO_JOB = {"STRONGROOM_LIFECYCLE_INTERVAL_SECONDS": "0"}


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose lifecycle job is off, so only the tests apply policies."""
    running = start_server(tmp_path_factory.mktemp("lifecycle") / "data", env=NO_JOB)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def ecr(quiet_server: RunningServer) -> Any:
    return aws_client(quiet_server, "ecr")


@pytest.fixture(scope="module")
def account(ecr: Any) -> str:
    return str(ecr.describe_registry()["registryId"])


def policy(*rules: dict[str, Any]) -> str:
    """A lifecycle policy document, indented (boto3 refuses texts under 100 characters)."""
    return json.dumps({"rules": list(rules)}, indent=2)


def rule(priority: int, selection: dict[str, Any], description: str = "") -> dict[str, Any]:
    document: dict[str, Any] = {
        "rulePriority": priority,
        "selection": selection,
        "action": {"type": "expire"},
    }
    if description:
        document["description"] = description
    return document


KEEP_TWO_RELEASES = rule(
    1,
    {
        "tagStatus": "tagged",
        "tagPrefixList": ["release-"],
        "countType": "imageCountMoreThan",
        "countNumber": 2,
    },
    "keep the two newest releases",
)
KEEP_ONE_UNTAGGED = rule(
    2, {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}, "one untagged image"
)


# --- pushing ---------------------------------------------------------------------------------------


def push_blob(client: httpx.Client, name: str, blob: Blob) -> None:
    started = client.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    done = client.put(started.headers["location"], params={"digest": blob.digest}, content=blob.data)
    assert done.status_code == 201, done.text


def push(server: RunningServer, name: str, image: Image, reference: str | None = None) -> str:
    """Push ``image`` over the OCI API, tagged ``reference`` (default: by digest, untagged)."""
    with server.client() as client:
        for blob in (image.config, *image.layers):
            push_blob(client, name, blob)
        pushed = client.put(
            f"/v2/{name}/manifests/{reference or image.manifest.digest}",
            content=image.manifest.data,
            headers={"Content-Type": image.manifest.media_type},
        )
    assert pushed.status_code == 201, pushed.text
    return image.manifest.digest


def pullable(server: RunningServer, name: str, image: Image) -> bool:
    """Whether the manifest and every blob of ``image`` can be pulled, byte for byte."""
    with server.client() as client:
        manifest = client.get(
            f"/v2/{name}/manifests/{image.manifest.digest}", headers={"Accept": image.manifest.media_type}
        )
        if manifest.status_code != 200 or manifest.content != image.manifest.data:
            return False
        for blob in (image.config, *image.layers):
            got = client.get(f"/v2/{name}/blobs/{blob.digest}")
            if got.status_code != 200 or got.content != blob.data:
                return False
    return True


def small_image(seed: int) -> Image:
    return build_image(random.Random(seed), layers=2, files_per_layer=1, file_size=4096)


def image_of(seed: int, *layers: Blob) -> Image:
    """An image over layers already made (uploaded, perhaps, long before)."""
    config = Blob(OCI_CONFIG, encode_json({"architecture": "amd64", "os": "linux", "seed": seed}))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    platform = {"architecture": "amd64", "os": "linux"}
    return Image(Blob(OCI_MANIFEST, encode_json(manifest)), config, layers, {}, platform)


def blob_files(server: RunningServer) -> set[str]:
    root = server.data_dir / "storage" / "blobs"
    return {f"{path.parent.parent.name}:{path.name}" for path in root.glob("*/*/*")}


def audit_events(server: RunningServer) -> list[dict[str, Any]]:
    output = server.cli("audit", "export").stdout
    return [json.loads(line)["event"] for line in output.splitlines() if line.strip()]


# --- the policy --------------------------------------------------------------------------------------


def test_put_get_delete_lifecycle_policy(ecr: Any, account: str) -> None:
    ecr.create_repository(repositoryName="lc/policy")
    text = policy(KEEP_ONE_UNTAGGED, KEEP_TWO_RELEASES)  # out of order, indented
    put = ecr.put_lifecycle_policy(repositoryName="lc/policy", lifecyclePolicyText=text)
    normalised = put["lifecyclePolicyText"]
    assert json.loads(normalised) == {"rules": [KEEP_TWO_RELEASES, KEEP_ONE_UNTAGGED]}
    assert (put["registryId"], put["repositoryName"]) == (account, "lc/policy")

    got = ecr.get_lifecycle_policy(repositoryName="lc/policy")
    assert got["lifecyclePolicyText"] == normalised
    assert "lastEvaluatedAt" not in got  # never applied yet

    deleted = ecr.delete_lifecycle_policy(repositoryName="lc/policy")
    assert deleted["lifecyclePolicyText"] == normalised
    missing = (
        "LifecyclePolicyNotFoundException",
        "Lifecycle policy does not exist for the repository with name 'lc/policy' "
        f"in the registry with id '{account}'",
        400,
    )
    assert error_of(ecr.get_lifecycle_policy, repositoryName="lc/policy") == missing
    assert error_of(ecr.delete_lifecycle_policy, repositoryName="lc/policy") == missing
    assert error_of(ecr.start_lifecycle_policy_preview, repositoryName="lc/policy") == missing


def test_invalid_policies_are_refused_with_the_parser_message(ecr: Any) -> None:
    ecr.create_repository(repositoryName="lc/invalid")
    no_unit = rule(1, {"tagStatus": "any", "countType": "sinceImagePushed", "countNumber": 7})
    code, message, status = error_of(
        ecr.put_lifecycle_policy, repositoryName="lc/invalid", lifecyclePolicyText=policy(no_unit)
    )
    assert (code, status) == ("InvalidParameterException", 400)
    assert message.startswith(
        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
        "'Lifecycle policy validation failure: rules[0] (rulePriority 1): selection.countUnit is required"
    )
    assert message.endswith("'")
    unknown = {**KEEP_TWO_RELEASES, "colour": "blue"}
    assert error_of(
        ecr.start_lifecycle_policy_preview, repositoryName="lc/invalid", lifecyclePolicyText=policy(unknown)
    ) == (
        "InvalidParameterException",
        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy "
        "validation failure: object instance has properties which are not allowed by the schema: "
        '(["colour"])\'',
        400,
    )
    not_json = "{" + " " * 120
    assert error_of(ecr.put_lifecycle_policy, repositoryName="lc/invalid", lifecyclePolicyText=not_json) == (
        "InvalidParameterException",
        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
        "'Lifecycle policy validation failure: Could not map policyString into LifecyclePolicy.'",
        400,
    )
    # Nothing was stored by the refused calls.
    assert error_of(ecr.get_lifecycle_policy, repositoryName="lc/invalid")[0] == (
        "LifecyclePolicyNotFoundException"
    )


def test_unknown_repository_and_missing_preview(ecr: Any, account: str) -> None:
    text = policy(KEEP_TWO_RELEASES)
    calls = [
        (ecr.put_lifecycle_policy, {"lifecyclePolicyText": text}),
        (ecr.get_lifecycle_policy, {}),
        (ecr.delete_lifecycle_policy, {}),
        (ecr.start_lifecycle_policy_preview, {"lifecyclePolicyText": text}),
        (ecr.get_lifecycle_policy_preview, {}),
    ]
    for call, extra in calls:
        assert error_of(call, repositoryName="lc/nowhere", **extra) == (
            "RepositoryNotFoundException",
            f"The repository with name 'lc/nowhere' does not exist in the registry with id '{account}'",
            400,
        )
    ecr.create_repository(repositoryName="lc/no-preview")
    assert error_of(ecr.get_lifecycle_policy_preview, repositoryName="lc/no-preview") == (
        "LifecyclePolicyPreviewNotFoundException",
        "Lifecycle policy preview does not exist for the repository with name 'lc/no-preview' "
        f"in the registry with id '{account}'",
        400,
    )
    code, _, _ = error_of(ecr.get_lifecycle_policy_preview, repositoryName="lc/no-preview", maxResults=101)
    assert code == "InvalidParameterException"


# --- preview and application agree -------------------------------------------------------------------


def test_preview_then_run_expire_exactly_the_same_images(
    quiet_server: RunningServer, ecr: Any, account: str
) -> None:
    name = "lc/app"
    releases = [small_image(100 + i) for i in range(4)]
    untagged = [small_image(200 + i) for i in range(2)]
    latest = small_image(300)
    digests = {
        f"release-{i}": push(quiet_server, name, image, f"release-{i}") for i, image in enumerate(releases)
    }
    untagged_digests = [push(quiet_server, name, image) for image in untagged]
    push(quiet_server, name, latest, "latest")
    expected = {digests["release-0"], digests["release-1"], untagged_digests[0]}

    text = policy(KEEP_TWO_RELEASES, KEEP_ONE_UNTAGGED)
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=text)
    started = ecr.start_lifecycle_policy_preview(repositoryName=name)
    assert started["status"] in ("IN_PROGRESS", "COMPLETE")
    ecr.get_waiter("lifecycle_policy_preview_complete").wait(
        repositoryName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    preview = ecr.get_lifecycle_policy_preview(repositoryName=name)
    assert preview["status"] == "COMPLETE"
    assert preview["lifecyclePolicyText"] == started["lifecyclePolicyText"]
    assert preview["summary"]["expiringImageTotalCount"] == 3
    results = {result["imageDigest"]: result for result in preview["previewResults"]}
    assert set(results) == expected
    release = results[digests["release-0"]]
    assert release["imageTags"] == ["release-0"]
    assert release["action"] == {"type": "EXPIRE"}
    assert release["appliedRulePriority"] == 1
    assert release["imagePushedAt"].timestamp() > time.time() - 600
    assert results[untagged_digests[0]]["appliedRulePriority"] == 2
    assert results[untagged_digests[0]].get("imageTags", []) == []

    tagged = ecr.get_lifecycle_policy_preview(repositoryName=name, filter={"tagStatus": "TAGGED"})
    assert {r["imageDigest"] for r in tagged["previewResults"]} == {
        digests["release-0"],
        digests["release-1"],
    }
    assert tagged["summary"]["expiringImageTotalCount"] == 3
    by_tag = ecr.get_lifecycle_policy_preview(repositoryName=name, imageIds=[{"imageTag": "release-1"}])
    assert [r["imageDigest"] for r in by_tag["previewResults"]] == [digests["release-1"]]
    pages = ecr.get_paginator("get_lifecycle_policy_preview").paginate(
        repositoryName=name, PaginationConfig={"PageSize": 1}
    )
    paged = [r["imageDigest"] for page in pages for r in page["previewResults"]]
    assert sorted(paged) == sorted(expected)
    assert len(paged) == 3
    code, _, _ = error_of(
        ecr.get_lifecycle_policy_preview, repositoryName=name, imageIds=[{"imageTag": "x"}], maxResults=5
    )
    assert code == "InvalidParameterException"

    dry = json.loads(
        quiet_server.cli("lifecycle", "run", "--repository", name, "--dry-run", "--output", "json").stdout
    )
    [dry_run] = dry["repositories"]
    assert {image["digest"] for image in dry_run["images"]} == expected
    assert not any(image["expired"] for image in dry_run["images"])
    assert dry["gc"]["dry_run"] is True
    assert all(pullable(quiet_server, name, image) for image in [*releases, *untagged, latest])

    ran = json.loads(quiet_server.cli("lifecycle", "run", "--repository", name, "--output", "json").stdout)
    [applied] = ran["repositories"]
    assert {image["digest"] for image in applied["images"] if image["expired"]} == expected
    reasons = {image["digest"]: image["reason"] for image in applied["images"]}
    assert reasons[digests["release-0"]].startswith("rule 1: tagged with prefix release-, more than 2 images")
    survivors = [releases[2], releases[3], untagged[1], latest]
    assert all(pullable(quiet_server, name, image) for image in survivors)
    with quiet_server.client() as client:
        for digest in expected:
            assert client.get(f"/v2/{name}/manifests/{digest}").status_code == 404
        assert client.get(f"/v2/{name}/tags/list").json()["tags"] == ["latest", "release-2", "release-3"]

    assert ecr.get_lifecycle_policy(repositoryName=name)["lastEvaluatedAt"].timestamp() > time.time() - 600
    deletions = [e for e in audit_events(quiet_server) if e["principal"] == "strongroom:lifecycle"]
    assert {e["detail"]["digest"] for e in deletions} == expected
    assert all(e["action"] == "ecr:BatchDeleteImage" for e in deletions)
    assert all(e["resource"] == f"arn:aws:ecr:us-east-1:{account}:repository/{name}" for e in deletions)
    assert {e["detail"]["reason"] for e in deletions} == {reasons[d] for d in expected}

    # Run again: nothing left to expire.
    again = json.loads(quiet_server.cli("lifecycle", "run", "--repository", name, "--output", "json").stdout)
    assert again["repositories"][0]["images"] == []


# --- garbage collection ------------------------------------------------------------------------------


def gc(server: RunningServer, *args: str) -> dict[str, Any]:
    return dict(json.loads(server.cli("gc", "--output", "json", *args).stdout))


def test_gc_frees_the_bytes_of_deleted_images_and_spares_young_blobs(server: RunningServer) -> None:
    name = "gc/app"
    doomed, kept = small_image(400), small_image(401)
    push(server, name, doomed, "doomed")
    push(server, name, kept, "kept")
    with server.client() as client:
        assert client.delete(f"/v2/{name}/manifests/{doomed.manifest.digest}").status_code == 202
        pending = Blob(OCI_LAYER_GZIP, random.Random(402).randbytes(3000))
        push_blob(client, name, pending)  # uploaded for a manifest not pushed yet
    doomed_blobs = {blob.digest: blob.size for blob in (doomed.config, *doomed.layers)}
    time.sleep(1.2)  # older than the collector's minimum file age

    assert gc(server)["bytes_freed"] == 0  # everything is younger than the default grace

    dry = gc(server, "--dry-run", "--grace-seconds", "0")
    assert dry["dry_run"] is True
    assert dry["links_removed"] >= len(doomed_blobs) + 1
    assert dry["bytes_freed"] >= sum(doomed_blobs.values()) + pending.size
    assert set(doomed_blobs) <= blob_files(server)  # a dry run deletes nothing
    with server.client() as client:
        assert client.head(f"/v2/{name}/blobs/{doomed.config.digest}").status_code == 200

    # The pending blob is young: a grace period keeps it (and its manifest can be pushed).
    report = gc(server, "--grace-seconds", "60")
    assert report["links_removed"] == 0
    assert pending.digest in blob_files(server)
    uses_pending = image_of(403, pending)
    push(server, name, uses_pending, "pending")

    report = gc(server, "--grace-seconds", "0")
    assert report["dry_run"] is False
    assert report["links_removed"] == len(doomed_blobs)
    assert report["blobs_deleted"] == len(doomed_blobs)
    assert report["bytes_freed"] == sum(doomed_blobs.values())
    assert not set(doomed_blobs) & blob_files(server)
    assert pullable(server, name, kept)
    assert pullable(server, name, uses_pending)
    with server.client() as client:
        assert client.head(f"/v2/{name}/blobs/{doomed.config.digest}").status_code == 404
    assert gc(server, "--grace-seconds", "0")["bytes_freed"] == 0  # nothing left


def test_images_pushed_while_gc_runs_stay_pullable(quiet_server: RunningServer) -> None:
    """The blobs of deleted images are garbage; pushes of images with those very blobs
    (deduplicated onto the garbage files, or uploaded anew once collected) go on while
    collections run. Exact interleavings are tested in tests/unit/registry/test_gc.py."""
    images = [
        build_image(random.Random(500 + i), layers=3, files_per_layer=2, file_size=8192) for i in range(8)
    ]
    for i, image in enumerate(images):
        push(quiet_server, "gc/race-source", image, f"v{i}")
    with quiet_server.client() as client:
        for image in images:
            response = client.delete(f"/v2/gc/race-source/manifests/{image.manifest.digest}")
            assert response.status_code == 202
    time.sleep(2.5)  # their links and files are now older than the grace the collector gets

    failures: list[BaseException] = []

    def pusher() -> None:
        try:
            for round_ in range(2):
                for i, image in enumerate(images):
                    push(quiet_server, f"gc/race-{round_}", image, f"v{i}")
                    time.sleep(0.3)
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=pusher)
    thread.start()
    reports = []
    while thread.is_alive():
        reports.append(gc(quiet_server, "--grace-seconds", "2"))
    thread.join()
    assert not failures, failures
    assert len(reports) >= 2  # collections really overlapped the pushes
    assert sum(report["links_removed"] for report in reports) >= 8 * 4
    for round_ in range(2):
        for image in images:
            assert pullable(quiet_server, f"gc/race-{round_}", image), (round_, image.manifest.digest)
    # Once everything settles, a collection keeps every pushed image whole.
    time.sleep(1.2)
    gc(quiet_server, "--grace-seconds", "0")
    assert all(pullable(quiet_server, f"gc/race-{r}", image) for r in range(2) for image in images)


# --- the periodic job --------------------------------------------------------------------------------


def test_the_periodic_job_applies_policies_once_and_collects(tmp_path: Path) -> None:
    env = {"STRONGROOM_LIFECYCLE_INTERVAL_SECONDS": "2", "STRONGROOM_GC_GRACE_SECONDS": "1"}
    server = start_server(tmp_path / "data", env=env, args=["--workers", "3"])
    try:
        ecr = aws_client(server, "ecr")
        images = [small_image(600 + i) for i in range(3)]
        for i, image in enumerate(images):
            push(server, "job/app", image, f"release-{i}")
        keep_newest = rule(
            1, {"tagStatus": "tagged", "tagPatternList": ["release-*"], "countType": "imageCountMoreThan",
                "countNumber": 1},
        )  # fmt: skip
        ecr.put_lifecycle_policy(repositoryName="job/app", lifecyclePolicyText=policy(keep_newest))
        doomed = {blob.digest for image in images[:2] for blob in (image.config, *image.layers)}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and doomed & blob_files(server):
            time.sleep(0.5)
        assert not doomed & blob_files(server), "the job did not expire and collect in time"
        assert pullable(server, "job/app", images[2])
        assert "lastEvaluatedAt" in ecr.get_lifecycle_policy(repositoryName="job/app")
        time.sleep(3)  # another interval: the workers must not repeat the deletions
        deletions = [e for e in audit_events(server) if e["principal"] == "strongroom:lifecycle"]
        assert sorted(e["detail"]["digest"] for e in deletions) == sorted(
            i.manifest.digest for i in images[:2]
        )
    finally:
        server.stop()
