"""Replication across three real servers on loopback: a source (us-west-2, account
111111111111), another Strongroom instance of the same account (us-east-1, a ``strongroom``
destination) and one of another account reached as a plain OCI registry (eu-west-1,
``--kind oci``). skopeo pushes to the source and pulls from both destinations; bytes are
compared. The status API is checked at each step, a filter that does not match copies
nothing, and a destination that was down catches up once it is back."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from support.aws import aws_client
from support.images import OCI_MANIFEST, OciLayout, build_image, build_index, sha256_digest
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer, start_server

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

ACCOUNT, OTHER = "111111111111", "222222222222"
EAST, EU = ("us-east-1", ACCOUNT), ("eu-west-1", OTHER)
SIGNATURE = "application/vnd.example.signature"
FAST_JOBS = {"STRONGROOM_JOB_POLL_SECONDS": "0.2", "STRONGROOM_JOB_RETRY_BASE_SECONDS": "0.5"}


@dataclass
class Site:
    source: RunningServer
    east: RunningServer
    eu: RunningServer


def serve(directory: Path, region: str, account: str, port: int | None = None) -> RunningServer:
    env = {"STRONGROOM_REGION": region, "STRONGROOM_ACCOUNT_ID": account, **FAST_JOBS}
    return start_server(directory, env=env, args=["--workers", "1"], port=port)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("replication")
    servers: list[RunningServer] = []
    try:
        east = serve(root / "east", *EAST)
        servers.append(east)
        eu = serve(root / "eu", *EU)
        servers.append(eu)
        source = serve(root / "source", "us-west-2", ACCOUNT)
        servers.append(source)
        for (region, registry), server, kind in ((EAST, east, "strongroom"), (EU, eu, "oci")):
            source.cli(
                "replication", "destination", "add", "--region", region, "--registry-id", registry,
                "--url", server.url, "--kind", kind, "--access-key-id", ADMIN_ACCESS_KEY_ID, "--secret-stdin",
                stdin=ADMIN_SECRET_ACCESS_KEY + "\n",
            )  # fmt: skip
        ecr(source).put_replication_configuration(
            replicationConfiguration={
                "rules": [
                    {"destinations": [{"region": r, "registryId": a} for r, a in (EAST, EU)],
                     "repositoryFilters": [{"filter": "team/", "filterType": "PREFIX_MATCH"}]}
                ]
            }
        )  # fmt: skip
        site = Site(source, east, eu)
        yield site
        servers.append(site.eu)  # restarted by a test
    finally:
        for server in servers:
            server.stop()


def ecr(server: RunningServer) -> Any:
    return aws_client(server, "ecr", region_name="us-west-2")


def push(skopeo: Cli, server: RunningServer, layout: OciLayout, tag: str, repository: str) -> None:
    skopeo.run(
        "copy", "--all", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
        "--dest-creds", f"{server.user}:{server.password}",
        f"oci:{layout.path}:{tag}", f"docker://{server.registry}/{repository}:{tag}",
    )  # fmt: skip


def pull(skopeo: Cli, server: RunningServer, repository: str, tag: str, target: Path) -> OciLayout:
    skopeo.run(
        "copy", "--all", "--quiet", "--preserve-digests", "--src-tls-verify=false",
        "--src-creds", f"{server.user}:{server.password}",
        f"docker://{server.registry}/{repository}:{tag}", f"oci:{target}:{tag}",
    )  # fmt: skip
    return OciLayout(target)


def statuses(site: Site, repository: str, tag: str) -> dict[tuple[str, str], str]:
    answer = ecr(site.source).describe_image_replication_status(
        repositoryName=repository, imageId={"imageTag": tag}
    )
    return {(s["region"], s["registryId"]): s["status"] for s in answer["replicationStatuses"]}


def wait_for(
    site: Site, repository: str, tag: str, wanted: dict[tuple[str, str], str], seconds: float = 60
) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if statuses(site, repository, tag) == wanted:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{repository}:{tag} never reached {wanted}: {statuses(site, repository, tag)}")


def assert_identical(pulled: OciLayout, source: OciLayout, *tags: str) -> None:
    for tag in tags:
        assert pulled.descriptor(tag)["digest"] == source.descriptor(tag)["digest"]
    assert pulled.blob_digests() == source.blob_digests()
    for digest in source.blob_digests():
        data = pulled.read_blob(digest)
        assert sha256_digest(data) == digest and data == source.read_blob(digest)


def test_a_pushed_index_and_image_reach_both_destinations_byte_identical(
    site: Site, skopeo: Cli, tmp_path: Path
) -> None:
    rng = random.Random(19)
    layout = OciLayout.create(tmp_path / "source")
    layout.add("multi", build_index(rng))
    layout.add("v1", build_image(rng, layers=3))
    started = time.monotonic()
    push(skopeo, site.source, layout, "v1", "team/app")
    pushed = time.monotonic()
    # Right after the push the status is there: queued in the push's transaction.
    assert set(statuses(site, "team/app", "v1")) == {EAST, EU}
    assert set(statuses(site, "team/app", "v1").values()) <= {"IN_PROGRESS", "COMPLETE"}
    took = wait_for(site, "team/app", "v1", {EAST: "COMPLETE", EU: "COMPLETE"})
    print(f"push {pushed - started:.2f}s, push to COMPLETE at both destinations {took:.2f}s")
    push(skopeo, site.source, layout, "multi", "team/app")
    wait_for(site, "team/app", "multi", {EAST: "COMPLETE", EU: "COMPLETE"})
    # east holds it in account 111111111111 (its default), eu in 222222222222 (its default).
    for server, name in ((site.east, "east"), (site.eu, "eu")):
        for tag in ("v1", "multi"):
            pulled = pull(skopeo, server, "team/app", tag, tmp_path / name)
        assert_identical(pulled, layout, "v1", "multi")
    events = site.source.cli_json("events", "list", "--type", "replication.complete", "--output", "json")[
        "events"
    ]
    done = {(e["data"]["image-tag"], e["data"]["destination-region"]) for e in events}
    assert {("v1", "us-east-1"), ("v1", "eu-west-1"), ("multi", "us-east-1"), ("multi", "eu-west-1")} <= done
    shown = site.source.cli_json("replication", "status", "team/app:v1", "--output", "json")
    assert {s["status"] for s in shown["replicationStatuses"]} == {"COMPLETE"}


def test_a_repository_no_filter_matches_replicates_nothing(site: Site, skopeo: Cli, tmp_path: Path) -> None:
    layout = OciLayout.create(tmp_path / "source")
    layout.add("v1", build_image(random.Random(23)))
    push(skopeo, site.source, layout, "v1", "other/app")
    assert statuses(site, "other/app", "v1") == {}
    time.sleep(2)  # several polls of the job runner
    for server in (site.east, site.eu):
        with server.client() as http:
            assert http.get("/v2/other/app/tags/list").status_code == 404


def test_a_destination_that_was_down_catches_up_when_it_is_back(
    site: Site, skopeo: Cli, tmp_path: Path
) -> None:
    site.eu.stop()
    layout = OciLayout.create(tmp_path / "source")
    layout.add("v2", build_image(random.Random(29), layers=4))
    push(skopeo, site.source, layout, "v2", "team/app")
    wait_for(site, "team/app", "v2", {EAST: "COMPLETE", EU: "IN_PROGRESS"})
    time.sleep(2)  # a few failed attempts while it is down
    assert statuses(site, "team/app", "v2")[EU] == "IN_PROGRESS"
    site.eu = serve(site.eu.data_dir, *EU, port=site.eu.port)
    took = wait_for(site, "team/app", "v2", {EAST: "COMPLETE", EU: "COMPLETE"}, seconds=120)
    print(f"caught up {took:.2f}s after the destination came back")
    assert_identical(pull(skopeo, site.eu, "team/app", "v2", tmp_path / "eu"), layout, "v2")


def test_a_tag_move_replicates_and_bad_requests_get_ecr_errors(
    site: Site, skopeo: Cli, tmp_path: Path
) -> None:
    layout = OciLayout.create(tmp_path / "source")
    first, second = build_image(random.Random(31)), build_image(random.Random(37))
    layout.add("prod", first)
    push(skopeo, site.source, layout, "prod", "team/moving")
    wait_for(site, "team/moving", "prod", {EAST: "COMPLETE", EU: "COMPLETE"})
    layout = OciLayout.create(tmp_path / "source2")
    layout.add("prod", second)
    push(skopeo, site.source, layout, "prod", "team/moving")
    wait_for(site, "team/moving", "prod", {EAST: "COMPLETE", EU: "COMPLETE"})
    for server in (site.east, site.eu):
        with server.client() as http:
            answer = http.head(
                "/v2/team/moving/manifests/prod", headers={"accept": first.manifest.media_type}
            )
        assert answer.headers["docker-content-digest"] == second.manifest.digest
    client = ecr(site.source)
    with pytest.raises(client.exceptions.ImageNotFoundException):
        client.describe_image_replication_status(repositoryName="team/moving", imageId={"imageTag": "nope"})
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.describe_image_replication_status(repositoryName="team/none", imageId={"imageTag": "v1"})


def upload(http: Any, repository: str, data: bytes) -> dict[str, Any]:
    digest = sha256_digest(data)
    location = http.post(f"/v2/{repository}/blobs/uploads/").headers["location"]
    assert http.put(location, params={"digest": digest}, content=data).status_code == 201
    return {"digest": digest, "size": len(data)}


def test_a_referrer_pushed_alone_reaches_the_destinations_after_its_subject(
    site: Site, skopeo: Cli, tmp_path: Path
) -> None:
    layout = OciLayout.create(tmp_path / "source")
    image = build_image(random.Random(41))
    layout.add("signed", image)
    push(skopeo, site.source, layout, "signed", "team/signed")
    wait_for(site, "team/signed", "signed", {EAST: "COMPLETE", EU: "COMPLETE"})
    with site.source.client() as http:
        config = {"mediaType": "application/vnd.oci.empty.v1+json", **upload(http, "team/signed", b"{}")}
        layer = {"mediaType": SIGNATURE, **upload(http, "team/signed", b"sig-41")}
        subject = {"mediaType": image.manifest.media_type, "digest": image.manifest.digest,
                   "size": image.manifest.size}  # fmt: skip
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIGNATURE,
                           "config": config, "layers": [layer], "subject": subject}).encode()  # fmt: skip
        referrer = sha256_digest(body)
        answer = http.put(f"/v2/team/signed/manifests/{referrer}", content=body,
                          headers={"content-type": OCI_MANIFEST})  # fmt: skip
        assert answer.status_code == 201, answer.text
    started = time.monotonic()
    while True:
        found = ecr(site.source).describe_image_replication_status(
            repositoryName="team/signed", imageId={"imageDigest": referrer}
        )["replicationStatuses"]
        if {s["status"] for s in found} == {"COMPLETE"} and len(found) == 2:
            break
        assert time.monotonic() - started < 60, found
        time.sleep(0.05)
    for server in (site.east, site.eu):
        with server.client() as http:
            listed = http.get(f"/v2/team/signed/referrers/{image.manifest.digest}").json()["manifests"]
            assert [m["digest"] for m in listed] == [referrer]
            assert (
                http.get(f"/v2/team/signed/manifests/{referrer}", headers={"accept": OCI_MANIFEST}).content
                == body
            )


def test_an_immutable_tag_at_a_destination_is_a_named_failure_at_once(
    site: Site, skopeo: Cli, tmp_path: Path
) -> None:
    aws_client(site.east, "ecr", region_name="us-east-1").create_repository(
        repositoryName="team/frozen", imageTagMutability="IMMUTABLE"
    )
    first, second = build_image(random.Random(43)), build_image(random.Random(47))
    layout = OciLayout.create(tmp_path / "one")
    layout.add("prod", first)
    push(skopeo, site.source, layout, "prod", "team/frozen")
    wait_for(site, "team/frozen", "prod", {EAST: "COMPLETE", EU: "COMPLETE"})
    layout = OciLayout.create(tmp_path / "two")
    layout.add("prod", second)
    started = time.monotonic()
    push(skopeo, site.source, layout, "prod", "team/frozen")
    wait_for(site, "team/frozen", "prod", {EAST: "FAILED", EU: "COMPLETE"}, seconds=20)
    assert time.monotonic() - started < 10  # permanent: no ten attempts with backoff
    answer = ecr(site.source).describe_image_replication_status(
        repositoryName="team/frozen", imageId={"imageTag": "prod"}
    )
    east = next(s for s in answer["replicationStatuses"] if s["region"] == EAST[0])
    assert east["failureCode"].startswith("TAG_IMMUTABLE: "), east
    assert "immutable" in east["failureCode"]
    with site.east.client() as http:
        found = http.head("/v2/team/frozen/manifests/prod", headers={"accept": first.manifest.media_type})
    assert found.headers["docker-content-digest"] == first.manifest.digest
