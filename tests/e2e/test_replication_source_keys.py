"""The source keys on every request of an honoured remote replication (ADR 0020,
decision 22): two real servers on loopback, a source (us-west-2) and a destination
(us-east-1) of the same account. At the destination, ``seed/replicated`` has the seed's
repository policy: the upload actions and ``ecr:PutImage`` are allowed to anyone, but only
with ``aws:SourceArn`` naming the source repository; no user's own policy allows them.

Attacker's tests first: the keys come only from an honoured header (a principal allowed
``ecr:ReplicateImage`` with that claim), never from the header alone, never for a source
the principal may not claim, never on a request without the header, and never through a
token asked for with the header. Then a replication from the source passes the policy."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from support.aws import aws_client
from support.images import OCI_MANIFEST, build_image
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

ACCOUNT = "111111111111"
SOURCE_REGION, EAST_REGION = "us-west-2", "us-east-1"
HEADER = "X-Strongroom-Replication-Source"
FAST_JOBS = {"STRONGROOM_JOB_POLL_SECONDS": "0.2", "STRONGROOM_JOB_RETRY_BASE_SECONDS": "0.5"}
UPLOADS = ["ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"]
READS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def source_arn(name: str) -> str:
    return f"arn:aws:ecr:{SOURCE_REGION}:{ACCOUNT}:repository/{name}"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def pushes_only_from(source: str) -> str:
    """The seed's ``seed/replicated`` policy: pushes only by a replication from ``source``."""
    condition = {"StringEquals": {"aws:SourceArn": source}}
    return policy({"Effect": "Allow", "Principal": "*", "Action": UPLOADS, "Condition": condition})


READ = {"Effect": "Allow", "Action": READS, "Resource": "*"}
REPLICATE_SEED = {
    "Effect": "Allow",
    "Action": "ecr:ReplicateImage",
    "Resource": "*",
    "Condition": {"ArnEquals": {"aws:SourceArn": source_arn("seed/replicated")}},
}


@dataclass
class Site:
    source: RunningServer
    east: RunningServer
    reader: tuple[str, str]
    """Reads only; no ``ecr:ReplicateImage``."""
    replicator: tuple[str, str]
    """Reads, and ``ecr:ReplicateImage`` only for the source ``seed/replicated``."""


def serve(directory: Any, region: str) -> RunningServer:
    env = {"STRONGROOM_REGION": region, "STRONGROOM_ACCOUNT_ID": ACCOUNT, **FAST_JOBS}
    return start_server(directory, env=env, args=["--workers", "1"])


def ecr(server: RunningServer) -> Any:
    return aws_client(server, "ecr", region_name=server.env["STRONGROOM_REGION"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("replication-source-keys")
    servers: list[RunningServer] = []
    try:
        east = serve(root / "east", EAST_REGION)
        servers.append(east)
        source = serve(root / "source", SOURCE_REGION)
        servers.append(source)
        reader = east.user_with_key("reader", policy(READ))
        replicator = east.user_with_key("replicator", policy(READ, REPLICATE_SEED))
        for name in ("seed/replicated", "seed/other"):
            ecr(east).create_repository(repositoryName=name)
            ecr(east).set_repository_policy(
                repositoryName=name, policyText=pushes_only_from(source_arn(name))
            )
        source.cli(
            "replication", "destination", "add", "--region", EAST_REGION, "--registry-id", ACCOUNT,
            "--url", east.url, "--kind", "strongroom", "--access-key-id", replicator[0], "--secret-stdin",
            stdin=replicator[1] + "\n",
        )  # fmt: skip
        ecr(source).put_replication_configuration(
            replicationConfiguration={
                "rules": [
                    {"destinations": [{"region": EAST_REGION, "registryId": ACCOUNT}],
                     "repositoryFilters": [{"filter": "seed/", "filterType": "PREFIX_MATCH"}]}
                ]
            }
        )  # fmt: skip
        yield Site(source, east, reader, replicator)
    finally:
        for server in servers:
            server.stop()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Artifact:
    manifest: bytes
    blobs: tuple[bytes, ...]


def small_image(seed: int) -> Artifact:
    image = build_image(random.Random(seed), layers=2)
    return Artifact(image.manifest.data, tuple(blob.data for blob in (image.config, *image.layers)))


def try_push(http: httpx.Client, repository: str, artifact: Artifact) -> list[int]:
    """Every status of a plain push: a chunked upload per blob (POST, PATCH, PUT), then the
    manifest; stops at the first refusal."""
    answers: list[int] = []
    for blob in artifact.blobs:
        started = http.post(f"/v2/{repository}/blobs/uploads/")
        answers.append(started.status_code)
        if started.status_code != 202:
            return answers
        location = started.headers["location"]
        patched = http.patch(location, content=blob, headers={"content-type": "application/octet-stream"})
        answers.append(patched.status_code)
        if patched.status_code != 202:
            return answers
        finished = http.put(patched.headers["location"], params={"digest": digest_of(blob)})
        answers.append(finished.status_code)
        if finished.status_code != 201:
            return answers
    put = http.put(
        f"/v2/{repository}/manifests/v1", content=artifact.manifest, headers={"content-type": OCI_MANIFEST}
    )
    answers.append(put.status_code)
    return answers


def refused(answers: list[int]) -> bool:
    return answers[-1] == 403


def basic(site: Site, login: tuple[str, str], header: str | None = None) -> httpx.Client:
    headers = {HEADER: header} if header is not None else {}
    return httpx.Client(base_url=site.east.url, auth=login, headers=headers, timeout=60)


def test_the_header_alone_injects_no_keys(site: Site) -> None:
    """(a) A principal without ``ecr:ReplicateImage`` names the very source the policy allows."""
    with basic(site, site.reader, source_arn("seed/replicated")) as http:
        answers = try_push(http, "seed/replicated", small_image(301))
    assert answers == [403], answers
    # Nor by a monolithic upload, or the manifest alone.
    with basic(site, site.reader, source_arn("seed/replicated")) as http:
        blob = b"monolithic"
        post = http.post(
            "/v2/seed/replicated/blobs/uploads/", params={"digest": digest_of(blob)}, content=blob
        )
        assert post.status_code == 403, post.text
        assert post.json()["errors"][0]["code"] == "DENIED"
        put = http.put("/v2/seed/replicated/manifests/v1", content=small_image(301).manifest,
                       headers={"content-type": OCI_MANIFEST})  # fmt: skip
        assert put.status_code == 403, put.text


def test_a_source_the_principal_may_not_claim_gets_no_keys(site: Site) -> None:
    """(b) The replicator may claim ``seed/replicated`` only; ``seed/other``'s policy
    allows the source ``seed/other``, which it claims."""
    with basic(site, site.replicator, source_arn("seed/other")) as http:
        assert refused(try_push(http, "seed/other", small_image(303)))
    # Claiming its own source for another repository passes ReplicateImage, but the
    # repository's condition names another source.
    with basic(site, site.replicator, source_arn("seed/replicated")) as http:
        assert refused(try_push(http, "seed/other", small_image(303)))


def test_a_request_without_the_header_never_has_the_keys(site: Site) -> None:
    """(c) The replicator's own push, Basic or with a token it asked for with the header."""
    with basic(site, site.replicator) as http:
        assert refused(try_push(http, "seed/replicated", small_image(305)))
    scope = f"repository:{ACCOUNT}/seed/replicated:pull,push"
    with basic(site, site.replicator, source_arn("seed/replicated")) as http:
        answer = http.get("/token", params={"scope": scope})
        assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    assert "push" not in answer.json()["scope"]  # a token carries no grant made with the keys
    bearer = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=site.east.url, headers=bearer, timeout=60) as http:
        assert refused(try_push(http, f"{ACCOUNT}/seed/replicated", small_image(305)))


def wait_complete(site: Site, name: str, tag: str, seconds: float = 30) -> float:
    started = time.monotonic()
    found: dict[str, str] = {}
    while time.monotonic() - started < seconds:
        answer = ecr(site.source).describe_image_replication_status(
            repositoryName=name, imageId={"imageTag": tag}
        )
        found = {s["region"]: s["status"] for s in answer["replicationStatuses"]}
        if found == {EAST_REGION: "COMPLETE"}:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{name}:{tag} never reached COMPLETE: {found}")


def test_a_replication_passes_a_policy_conditioned_on_the_source(site: Site) -> None:
    image = small_image(307)
    with site.source.client() as http:
        assert try_push(http, "seed/replicated", image)[-1] == 201
    took = wait_complete(site, "seed/replicated", "v1")
    print(f"honoured under a source-conditioned policy: push to COMPLETE {took:.2f}s")
    with site.east.client() as http:
        pulled = http.get("/v2/seed/replicated/manifests/v1", headers={"accept": OCI_MANIFEST})
        assert pulled.content == image.manifest
        for blob in image.blobs:
            assert http.get(f"/v2/seed/replicated/blobs/{digest_of(blob)}").content == blob
    # The same principal's header, honoured, over Basic on every route of a push.
    with basic(site, site.replicator, source_arn("seed/replicated")) as http:
        assert try_push(http, "seed/replicated", small_image(309))[-1] == 201


def test_a_backfill_at_the_destination_skips_what_a_remote_replication_stored(site: Site) -> None:
    """The honoured copy's manifests carry the stored mark (decision 23): the destination's
    own backfill enumerates only its own image."""
    image = small_image(311)
    with site.source.client() as http:
        assert try_push(http, "seed/replicated", image)[-1] == 201
    wait_complete(site, "seed/replicated", "v1")
    own = small_image(313)
    with site.east.client() as http:
        assert try_push(http, "mine/app", own)[-1] == 201
    onward = {"region": "eu-west-1", "registryId": "333333333333"}  # registered nowhere
    east = ecr(site.east)
    east.put_replication_configuration(replicationConfiguration={"rules": [{"destinations": [onward]}]})
    east.start_replication_backfill(destination=onward)
    [listed] = east.list_replication_backfills()["backfills"]
    assert listed["progress"]["totalReplicationCount"] == 1, listed
    # Which one: the job queued for it has its status; the replicated image has none.
    queued = east.describe_image_replication_status(repositoryName="mine/app", imageId={"imageTag": "v1"})
    assert [s["region"] for s in queued["replicationStatuses"]] == ["eu-west-1"]
    received = east.describe_image_replication_status(
        repositoryName="seed/replicated", imageId={"imageTag": "v1"}
    )
    assert received["replicationStatuses"] == []
