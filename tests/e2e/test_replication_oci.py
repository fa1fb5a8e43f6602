"""Replication to any OCI registry (``--kind oci``), proved against Debian's
``docker-registry`` (distribution 2.8): a source Strongroom (us-west-2) replicates
``dist/`` to it; skopeo pulls back what was pushed, byte-identical. Distribution 2.8 has
no referrers API (``/referrers`` answers 404), so a referrer is also listed under the
OCI distribution spec v1.1 referrers tag schema: the tag ``sha256-<hex>`` of its
subject holds an index of the subject's referrers, which this test reads back."""

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
from support.distribution import Distribution, running_distribution
from support.images import OCI_MANIFEST, OciLayout, build_image, build_index, sha256_digest
from support.proxy import CountingProxy
from support.server import RunningServer, start_server

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

TARGET = ("eu-central-1", "333333333333")
SIGNATURE = "application/vnd.example.signature"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
FAST_JOBS = {"STRONGROOM_JOB_POLL_SECONDS": "0.2", "STRONGROOM_JOB_RETRY_BASE_SECONDS": "0.5"}


@dataclass
class Pair:
    source: RunningServer
    distribution: Distribution


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("replication-oci")
    with running_distribution(root / "distribution") as distribution:
        env = {"STRONGROOM_REGION": "us-west-2", "STRONGROOM_ACCOUNT_ID": "111111111111", **FAST_JOBS}
        source = start_server(root / "source", env=env, args=["--workers", "1"])
        try:
            source.cli(
                "replication", "destination", "add", "--region", TARGET[0], "--registry-id", TARGET[1],
                "--url", distribution.url, "--kind", "oci", "--access-key-id", "unused", "--secret-stdin",
                stdin="no-authentication-there\n",
            )  # fmt: skip
            ecr(source).put_replication_configuration(
                replicationConfiguration={
                    "rules": [
                        {"destinations": [{"region": TARGET[0], "registryId": TARGET[1]}],
                         "repositoryFilters": [{"filter": "dist/", "filterType": "PREFIX_MATCH"}]}
                    ]
                }
            )  # fmt: skip
            yield Pair(source, distribution)
        finally:
            source.stop()


def ecr(server: RunningServer) -> Any:
    return aws_client(server, "ecr", region_name="us-west-2")


def wait_complete(
    source: RunningServer, repository: str, image_id: dict[str, str], seconds: float = 60
) -> None:
    started = time.monotonic()
    while True:
        found = ecr(source).describe_image_replication_status(repositoryName=repository, imageId=image_id)
        statuses = [s["status"] for s in found["replicationStatuses"]]
        if statuses == ["COMPLETE"]:
            return
        assert statuses != ["FAILED"], found
        assert time.monotonic() - started < seconds, found
        time.sleep(0.1)


def upload(http: Any, repository: str, data: bytes) -> dict[str, Any]:
    digest = sha256_digest(data)
    location = http.post(f"/v2/{repository}/blobs/uploads/").headers["location"]
    assert http.put(location, params={"digest": digest}, content=data).status_code == 201
    return {"digest": digest, "size": len(data)}


def push_referrer(source: RunningServer, repository: str, subject: dict[str, Any], note: bytes) -> bytes:
    with source.client() as http:
        config = {"mediaType": "application/vnd.oci.empty.v1+json", **upload(http, repository, b"{}")}
        layer = {"mediaType": SIGNATURE, **upload(http, repository, note)}
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIGNATURE,
                           "config": config, "layers": [layer], "subject": subject}).encode()  # fmt: skip
        answer = http.put(f"/v2/{repository}/manifests/{sha256_digest(body)}", content=body,
                          headers={"content-type": OCI_MANIFEST})  # fmt: skip
        assert answer.status_code == 201, answer.text
    return body


def test_images_reach_docker_registry_byte_identical(pair: Pair, skopeo: Cli, tmp_path: Path) -> None:
    rng = random.Random(211)
    layout = OciLayout.create(tmp_path / "source")
    layout.add("v1", build_image(rng, layers=3))
    layout.add("multi", build_index(rng))
    for tag in ("v1", "multi"):
        skopeo.run(
            "copy", "--all", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
            "--dest-creds", f"{pair.source.user}:{pair.source.password}",
            f"oci:{layout.path}:{tag}", f"docker://{pair.source.registry}/dist/app:{tag}",
        )  # fmt: skip
        wait_complete(pair.source, "dist/app", {"imageTag": tag})
    target = tmp_path / "pulled"
    for tag in ("v1", "multi"):
        skopeo.run(
            "copy", "--all", "--quiet", "--preserve-digests", "--src-tls-verify=false",
            f"docker://{pair.distribution.registry}/dist/app:{tag}", f"oci:{target}:{tag}",
        )  # fmt: skip
    pulled = OciLayout(target)
    for tag in ("v1", "multi"):
        assert pulled.descriptor(tag)["digest"] == layout.descriptor(tag)["digest"]
    assert pulled.blob_digests() == layout.blob_digests()
    for digest in layout.blob_digests():
        data = pulled.read_blob(digest)
        assert sha256_digest(data) == digest and data == layout.read_blob(digest)


def test_referrers_are_listed_under_the_referrers_tag_schema(pair: Pair, skopeo: Cli, tmp_path: Path) -> None:
    layout = OciLayout.create(tmp_path / "source")
    image = build_image(random.Random(223))
    layout.add("signed", image)
    skopeo.run(
        "copy", "--all", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
        "--dest-creds", f"{pair.source.user}:{pair.source.password}",
        f"oci:{layout.path}:signed", f"docker://{pair.source.registry}/dist/signed:signed",
    )  # fmt: skip
    wait_complete(pair.source, "dist/signed", {"imageTag": "signed"})
    subject = {"mediaType": image.manifest.media_type, "digest": image.manifest.digest,
               "size": image.manifest.size}  # fmt: skip
    bodies = [push_referrer(pair.source, "dist/signed", subject, note) for note in (b"sig-1", b"sig-2")]
    for body in bodies:
        wait_complete(pair.source, "dist/signed", {"imageDigest": sha256_digest(body)})
    tag = image.manifest.digest.replace(":", "-")
    with pair.distribution.client() as http:
        assert http.get(f"/v2/dist/signed/referrers/{image.manifest.digest}").status_code == 404
        answer = http.get(f"/v2/dist/signed/manifests/{tag}", headers={"accept": OCI_INDEX})
        assert answer.status_code == 200, answer.text
        index = answer.json()
        assert index["mediaType"] == OCI_INDEX
        listed = {entry["digest"]: entry for entry in index["manifests"]}
        assert set(listed) == {sha256_digest(body) for body in bodies}
        for body in bodies:
            entry = listed[sha256_digest(body)]
            assert entry["artifactType"] == SIGNATURE and entry["size"] == len(body)
            assert entry["mediaType"] == OCI_MANIFEST
            stored = http.get(
                f"/v2/dist/signed/manifests/{sha256_digest(body)}", headers={"accept": OCI_MANIFEST}
            )
            assert stored.content == body


def test_a_deletion_replicates_to_docker_registry_when_enabled(
    pair: Pair, skopeo: Cli, tmp_path: Path
) -> None:
    ecr(pair.source).put_account_setting(name="REPLICATION_DELETES", value="ENABLED")
    layout = OciLayout.create(tmp_path / "source")
    image = build_image(random.Random(227))
    layout.add("v1", image)
    skopeo.run(
        "copy", "--all", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
        "--dest-creds", f"{pair.source.user}:{pair.source.password}",
        f"oci:{layout.path}:v1", f"docker://{pair.source.registry}/dist/gone:v1",
    )  # fmt: skip
    wait_complete(pair.source, "dist/gone", {"imageTag": "v1"})
    path = f"/v2/dist/gone/manifests/{image.manifest.digest}"
    with pair.distribution.client() as http:
        assert http.get(path, headers={"accept": OCI_MANIFEST}).status_code == 200
        ecr(pair.source).batch_delete_image(
            repositoryName="dist/gone", imageIds=[{"imageDigest": image.manifest.digest}]
        )
        started = time.monotonic()
        while http.get(path, headers={"accept": OCI_MANIFEST}).status_code != 404:
            assert time.monotonic() - started < 30, "the deletion never reached docker-registry"
            time.sleep(0.1)
    events = pair.source.cli_json("events", "list", "--type", "replication.complete", "--output", "json")[
        "events"
    ]
    assert any(
        e["data"]["action-type"] == "DELETE" and e["data"]["image-digest"] == image.manifest.digest
        for e in events
    )


def test_destination_test_says_docker_registry_asks_for_no_credentials(pair: Pair) -> None:
    name = f"{TARGET[0]}/{TARGET[1]}"
    report = pair.source.cli_json("replication", "destination", "test", name, "--output", "json")
    assert report["reachable"] is True and report["authentication"] == "none", report
    assert report["mayReplicate"] is True and report["repository"] == "replication-test"


def test_a_blob_docker_registry_holds_in_another_replicated_repository_is_mounted(pair: Pair) -> None:
    """Distribution needs the mount's ``from``: the source names another of its repositories
    that holds the blob (ADR 0020, decision 19). Seen through a counting proxy: the second
    repository's copy sends no blob bytes, every blob mounted."""
    mounting = ("ap-south-1", "444444444444")
    proxy = CountingProxy(pair.distribution.port)
    try:
        pair.source.cli(
            "replication", "destination", "add", "--region", mounting[0], "--registry-id", mounting[1],
            "--url", proxy.url, "--kind", "oci", "--access-key-id", "unused", "--secret-stdin",
            stdin="no-authentication-there\n",
        )  # fmt: skip
        rules = ecr(pair.source).describe_registry()["replicationConfiguration"]["rules"]
        mnt = {"destinations": [{"region": mounting[0], "registryId": mounting[1]}],
               "repositoryFilters": [{"filter": "mnt/", "filterType": "PREFIX_MATCH"}]}  # fmt: skip
        ecr(pair.source).put_replication_configuration(replicationConfiguration={"rules": [*rules, mnt]})
        image = build_image(random.Random(229), layers=3)
        blobs = (image.config, *image.layers)
        for name in ("mnt/one", "mnt/two"):
            with pair.source.client() as http:
                for blob in blobs:
                    upload(http, name, blob.data)
                answer = http.put(f"/v2/{name}/manifests/v1", content=image.manifest.data,
                                  headers={"content-type": OCI_MANIFEST})  # fmt: skip
                assert answer.status_code == 201, answer.text
            wait_complete(pair.source, name, {"imageTag": "v1"})
        one = [s for s in proxy.seen if s.target.startswith("/v2/mnt/one/blobs/uploads/")]
        two = [s for s in proxy.seen if s.target.startswith("/v2/mnt/two/blobs/uploads/")]
        assert sum(s.body_bytes for s in one) == sum(blob.size for blob in blobs)
        assert sum(s.body_bytes for s in two) == 0, [(s.method, s.target, s.status) for s in two]
        mounted = [s for s in two if "from=mnt%2Fone" in s.target or "from=mnt/one" in s.target]
        assert len(mounted) == len(blobs) and {s.status for s in mounted} == {201}
        with pair.distribution.client() as http:
            for blob in blobs:
                assert http.get(f"/v2/mnt/two/blobs/{blob.digest}").content == blob.data
    finally:
        proxy.close()
