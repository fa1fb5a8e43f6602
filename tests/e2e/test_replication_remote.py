"""Replication to another Strongroom instance marked as replication (ADR 0020, decisions
16 to 21): two real servers on loopback, a source (us-west-2) and a destination (us-east-1)
of the same account, the destination reached through a counting proxy
(``support/proxy.py``) so the test sees every byte it receives.

Attacker's tests first: the header that names the source repository is a claim, honoured
only for a principal the destination's policies allow ``ecr:ReplicateImage`` with that
claim as ``aws:SourceArn``; sent by anyone else, or with a source its policy does not
allow, it changes nothing. Then an honoured replication takes the destination's
``REPLICATION`` template and is not replicated onward; a blob the destination holds in
another repository is mounted, not sent; and a destination killed in the middle of a
multi-layer copy, then restarted, ends COMPLETE without receiving again any blob (or
chunk) that had fully arrived."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from support.aws import aws_client
from support.images import OCI_MANIFEST, build_image, encode_json
from support.proxy import CountingProxy, Hold, Seen
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

ACCOUNT = "111111111111"
SOURCE_REGION, EAST_REGION = "us-west-2", "us-east-1"
ONWARD = ("eu-west-1", "333333333333")
"""The destination's own rule names a registry nobody registered: its statuses stay
IN_PROGRESS, which is enough to see whether a push was queued for onward replication."""
HEADER = "X-Strongroom-Replication-Source"
SETTINGS = "X-Strongroom-Replication-Settings"
CLAIMED_SETTINGS = json.dumps(
    {"imageTagMutability": "IMMUTABLE", "imageTagMutabilityExclusionFilters": [], "scanOnPush": True,
     "encryptionType": "AES256"}
)  # fmt: skip
FAST_JOBS = {"STRONGROOM_JOB_POLL_SECONDS": "0.2", "STRONGROOM_JOB_RETRY_BASE_SECONDS": "0.5"}
CHUNK = 16 * 1024 * 1024
"""The size of the pieces replication sends (replication/copy.py)."""


def source_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:ecr:{SOURCE_REGION}:{account}:repository/{name}"


def serve(directory: Any, region: str, port: int | None = None) -> RunningServer:
    env = {"STRONGROOM_REGION": region, "STRONGROOM_ACCOUNT_ID": ACCOUNT, **FAST_JOBS}
    return start_server(directory, env=env, args=["--workers", "1"], port=port)


@dataclass
class Site:
    source: RunningServer
    east: RunningServer
    proxy: CountingProxy
    pusher: tuple[str, str]
    """A user of the destination allowed everything but ``ecr:ReplicateImage``."""
    replicator: tuple[str, str]
    """A user allowed ``ecr:ReplicateImage`` only for sources under ``team/`` and ``solo/``
    of the source region and account: the credentials the source replicates with."""


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


EVERYTHING_BUT_REPLICATE = {"Effect": "Allow", "NotAction": "ecr:ReplicateImage", "Resource": "*"}
REPLICATE_FROM_TEAM = {
    "Effect": "Allow",
    "Action": "ecr:ReplicateImage",
    "Resource": "*",
    "Condition": {"ArnLike": {"aws:SourceArn": [source_arn("team/*"), source_arn("solo/*")]}},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("remote-replication")
    servers: list[RunningServer] = []
    proxy = None
    try:
        east = serve(root / "east", EAST_REGION)
        servers.append(east)
        source = serve(root / "source", SOURCE_REGION)
        servers.append(source)
        proxy = CountingProxy(east.port)
        pusher = east.user_with_key("pusher", policy(EVERYTHING_BUT_REPLICATE))
        replicator = east.user_with_key("replicator", policy(EVERYTHING_BUT_REPLICATE, REPLICATE_FROM_TEAM))
        ecr(east).create_repository_creation_template(
            prefix="team", appliedFor=["REPLICATION"], imageTagMutability="IMMUTABLE",
            resourceTags=[{"Key": "origin", "Value": "replication"}],
        )  # fmt: skip
        ecr(east).put_replication_configuration(
            replicationConfiguration={
                "rules": [{"destinations": [{"region": ONWARD[0], "registryId": ONWARD[1]}]}]
            }
        )
        source.cli(
            "replication", "destination", "add", "--region", EAST_REGION, "--registry-id", ACCOUNT,
            "--url", proxy.url, "--kind", "strongroom", "--access-key-id", replicator[0], "--secret-stdin",
            stdin=replicator[1] + "\n",
        )  # fmt: skip
        ecr(source).put_replication_configuration(
            replicationConfiguration={
                "rules": [
                    {"destinations": [{"region": EAST_REGION, "registryId": ACCOUNT}],
                     "repositoryFilters": [{"filter": "team/", "filterType": "PREFIX_MATCH"},
                                           {"filter": "solo/", "filterType": "PREFIX_MATCH"}]}
                ]
            }
        )  # fmt: skip
        site = Site(source, east, proxy, pusher, replicator)
        yield site
        servers.append(site.east)  # restarted by a test
    finally:
        if proxy is not None:
            proxy.close()
        for server in servers:
            server.stop()


def ecr(server: RunningServer) -> Any:
    return aws_client(server, "ecr", region_name=server.env["STRONGROOM_REGION"])


@dataclass(frozen=True)
class Artifact:
    manifest: bytes
    blobs: tuple[bytes, ...]

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def small_image(seed: int) -> Artifact:
    image = build_image(random.Random(seed), layers=3)
    return Artifact(image.manifest.data, tuple(blob.data for blob in (image.config, *image.layers)))


def big_image(sizes: tuple[int, ...]) -> Artifact:
    layers = tuple(os.urandom(size) for size in sizes)
    config = encode_json({"e2e": "kill mid-blob"})
    part = "application/vnd.example.part"
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.bundle",
        "config": {
            "mediaType": "application/vnd.example.config+json",
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [{"mediaType": part, "digest": digest_of(layer), "size": len(layer)} for layer in layers],
    }
    return Artifact(encode_json(manifest), (config, *layers))


def push(
    url: str, login: tuple[str, str], repository: str, tag: str, artifact: Artifact,
    header: str | None = None, settings: str | None = None,
) -> None:  # fmt: skip
    """A plain push over HTTP (monolithic blob uploads), with the replication headers if given."""
    headers = {HEADER: header} if header is not None else {}
    if settings is not None:
        headers[SETTINGS] = settings
    with httpx.Client(base_url=url, auth=login, headers=headers, timeout=60) as http:
        for blob in artifact.blobs:
            answer = http.post(
                f"/v2/{repository}/blobs/uploads/", params={"digest": digest_of(blob)}, content=blob,
                headers={"content-type": "application/octet-stream"},
            )  # fmt: skip
            assert answer.status_code == 201, answer.text
        answer = http.put(
            f"/v2/{repository}/manifests/{tag}",
            content=artifact.manifest,
            headers={"content-type": OCI_MANIFEST},
        )
        assert answer.status_code == 201, answer.text


def repository(server: RunningServer, name: str) -> dict[str, Any]:
    found = ecr(server).describe_repositories(repositoryNames=[name])["repositories"][0]
    found["tags"] = ecr(server).list_tags_for_resource(resourceArn=found["repositoryArn"])["tags"]
    return dict(found)


def statuses(server: RunningServer, name: str, tag: str) -> dict[tuple[str, str], str]:
    answer = ecr(server).describe_image_replication_status(repositoryName=name, imageId={"imageTag": tag})
    return {(s["region"], s["registryId"]): s["status"] for s in answer["replicationStatuses"]}


def wait_complete(site: Site, name: str, tag: str, seconds: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        found = statuses(site.source, name, tag)
        if found == {(EAST_REGION, ACCOUNT): "COMPLETE"}:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{name}:{tag} never reached COMPLETE: {statuses(site.source, name, tag)}")


def test_the_header_from_a_principal_without_replicate_image_changes_nothing(site: Site) -> None:
    image = small_image(201)
    claim = source_arn("team/claimed")
    push(site.proxy.url, site.pusher, "team/claimed", "v1", image, header=claim, settings=CLAIMED_SETTINGS)
    push(site.proxy.url, site.pusher, "team/control", "v1", image)
    claimed, control = repository(site.east, "team/claimed"), repository(site.east, "team/control")
    # No REPLICATION template, no claimed settings: created as any push creates a repository.
    assert claimed["imageTagMutability"] == control["imageTagMutability"] == "MUTABLE"
    assert claimed["imageScanningConfiguration"] == control["imageScanningConfiguration"]
    assert claimed["imageScanningConfiguration"]["scanOnPush"] is False
    assert claimed["tags"] == control["tags"] == []
    # And the push is a push: the destination's own rules replicate it onward.
    assert statuses(site.east, "team/claimed", "v1") == {ONWARD: "IN_PROGRESS"}
    assert statuses(site.east, "team/control", "v1") == {ONWARD: "IN_PROGRESS"}


def test_a_forged_or_malformed_source_cannot_pass_a_condition_on_aws_source_arn(site: Site) -> None:
    image = small_image(203)
    forged = {
        "team/forged-repo": source_arn("other/app"),  # a source outside the allowed prefix
        "team/forged-account": source_arn("team/app", account="999999999999"),
        "team/malformed": "team/app",  # not an ARN: no claim at all
    }
    for name, claim in forged.items():
        push(site.proxy.url, site.replicator, name, "v1", image, header=claim)
        created = repository(site.east, name)
        assert created["imageTagMutability"] == "MUTABLE" and created["tags"] == [], name
        assert statuses(site.east, name, "v1") == {ONWARD: "IN_PROGRESS"}, name
    # The same principal with a source its policy allows: honoured.
    push(site.proxy.url, site.replicator, "team/honest", "v1", image, header=source_arn("team/honest"))
    honest = repository(site.east, "team/honest")
    assert honest["imageTagMutability"] == "IMMUTABLE"
    assert {"Key": "origin", "Value": "replication"} in honest["tags"]
    assert statuses(site.east, "team/honest", "v1") == {}  # replicated content is not replicated onward


def test_a_replicated_repository_takes_the_template_and_is_not_replicated_onward(site: Site) -> None:
    image = small_image(207)
    push(site.source.url, site.source.auth, "team/app", "v1", image)
    took = wait_complete(site, "team/app", "v1")
    print(f"remote, honoured: push to COMPLETE {took:.2f}s")
    created = repository(site.east, "team/app")
    assert created["imageTagMutability"] == "IMMUTABLE"
    assert {"Key": "origin", "Value": "replication"} in created["tags"]
    assert statuses(site.east, "team/app", "v1") == {}
    with site.east.client() as http:
        pulled = http.get("/v2/team/app/manifests/v1", headers={"accept": OCI_MANIFEST})
        assert pulled.content == image.manifest
        for blob in image.blobs:
            assert http.get(f"/v2/team/app/blobs/{digest_of(blob)}").content == blob


def test_without_a_template_there_the_replicated_repository_takes_the_source_s_settings(site: Site) -> None:
    ecr(site.source).create_repository(
        repositoryName="solo/app", imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filter": "latest", "filterType": "WILDCARD"}],
        imageScanningConfiguration={"scanOnPush": True},
    )  # fmt: skip
    push(site.source.url, site.source.auth, "solo/app", "v1", small_image(209))
    wait_complete(site, "solo/app", "v1")
    created = repository(site.east, "solo/app")
    assert created["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert created["imageTagMutabilityExclusionFilters"] == [{"filter": "latest", "filterType": "WILDCARD"}]
    assert created["imageScanningConfiguration"]["scanOnPush"] is True
    assert created["tags"] == []  # no template


def upload_requests(seen: list[Seen], name: str) -> list[Seen]:
    return [s for s in seen if s.target.startswith(f"/v2/{ACCOUNT}/{name}/blobs/uploads/")]


def test_blobs_the_destination_holds_elsewhere_are_mounted_not_sent(site: Site) -> None:
    image = small_image(211)
    push(site.source.url, site.source.auth, "team/first", "v1", image)
    wait_complete(site, "team/first", "v1")
    first = upload_requests(site.proxy.seen, "team/first")
    assert sum(s.body_bytes for s in first) == sum(len(blob) for blob in image.blobs)
    push(site.source.url, site.source.auth, "team/second", "v1", image)
    wait_complete(site, "team/second", "v1")
    second = upload_requests(site.proxy.seen, "team/second")
    assert second and sum(s.body_bytes for s in second) == 0, [(s.method, s.target, s.status) for s in second]
    mounted = [s for s in second if s.method == "POST" and "mount=" in s.target and s.status == 201]
    assert len(mounted) == len(image.blobs)
    with site.east.client() as http:
        for blob in image.blobs:
            assert http.get(f"/v2/team/second/blobs/{digest_of(blob)}").content == blob


def test_a_destination_killed_mid_blob_completes_without_receiving_an_arrived_blob_again(site: Site) -> None:
    sizes = (4 * 1024 * 1024, 2 * CHUNK + 8 * 1024 * 1024, 4 * 1024 * 1024)
    image = big_image(sizes)
    config, small, big, last = image.blobs
    # Hold the second chunk of the big layer half-sent: by then the config, the first
    # layer and the big layer's first chunk have fully arrived.
    hold = Hold(
        lambda seen: seen.method == "PATCH" and seen.headers.get("content-range", "").startswith(f"{CHUNK}-"),
        after=CHUNK // 2,
    )
    site.proxy.hold = hold
    push(site.source.url, site.source.auth, "team/big", "v1", image)
    assert hold.held.wait(timeout=60), "the big layer's second chunk never started"
    site.east.kill()
    killed = time.monotonic()
    site.east = serve(site.east.data_dir, EAST_REGION, port=site.east.port)
    hold.released.set()
    took = wait_complete(site, "team/big", "v1", seconds=120)
    print(f"kill mid-blob: COMPLETE {time.monotonic() - killed:.2f}s after the kill ({took:.2f}s of waiting)")
    uploads = upload_requests(site.proxy.seen, "team/big")
    by_upload: dict[str, list[Seen]] = {}
    for seen in uploads:
        path = seen.target.split("?", 1)[0]
        if path.rstrip("/").endswith("/uploads"):
            continue  # POST: starts an upload, carries no bytes here
        by_upload.setdefault(path, []).append(seen)
    received: dict[str, int] = {}
    for requests in by_upload.values():
        finished = [s for s in requests if s.method == "PUT" and "digest=" in s.target]
        digest = (
            unquote(finished[-1].target.split("digest=", 1)[1].split("&")[0]) if finished else "unfinished"
        )
        received[digest] = received.get(digest, 0) + sum(s.body_bytes for s in requests)
    print("bytes received by blob:", {d[:19]: n for d, n in received.items()})
    for blob in (config, small, last):
        assert received[digest_of(blob)] == len(blob)
    # The big layer: its first chunk arrived once; of the chunk cut by the kill, only what
    # the destination had not stored was sent again (the upload resumed where it stood).
    first_chunks = [
        s for s in uploads if s.method == "PATCH" and s.headers.get("content-range", "").startswith("0-")
    ]
    assert len(first_chunks) == 1, [(s.method, s.target, s.headers.get("content-range")) for s in uploads]
    (cut,) = [s for s in uploads if not s.complete]
    resent = received[digest_of(big)] - len(big)
    print(f"the kill cut a chunk after {cut.body_bytes} bytes; {resent} bytes of it were sent again")
    assert 0 <= resent <= cut.body_bytes
    assert "unfinished" not in received
    with site.east.client() as http:
        pulled = http.get(f"/v2/team/big/blobs/{digest_of(big)}")
        assert pulled.status_code == 200 and digest_of(pulled.content) == digest_of(big)
        assert (
            http.get("/v2/team/big/manifests/v1", headers={"accept": OCI_MANIFEST}).content == image.manifest
        )
