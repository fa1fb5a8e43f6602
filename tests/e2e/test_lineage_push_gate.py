"""Refusing pushes that break an enforced patch policy, against a real server, through the
one pull gate (docs/adr/0021): an application image built on an unapproved base is refused
at its manifest PUT with OCI ``DENIED`` naming the rule, whether its base annotations name
the base or only its layers show it (over HTTP, with skopeo, and as AccessDeniedException
through ECR PutImage); nothing is stored and the refusal is audited. An image on an
approved base, and any push while the policy is not enforced, go through. The report pages
by the images it examines (``maxResults``/``nextToken`` on /admin/v1)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from e2e.conftest import Cli
from support import hierarchy as h
from support.aws import aws_client
from support.scans import put_blob
from support.server import RunningServer, start_server

pytestmark = [pytest.mark.e2e]

PUBLIC, BASE = h.layer("debian"), h.layer("hardening")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path / "data", env={"STRONGROOM_JOB_POLL_SECONDS": "0.1"}, args=["--workers", "1"]
    )
    try:
        yield running
    finally:
        running.stop()


def _put(server: RunningServer, repository: str, tag: str, image: h.Built) -> tuple[int, dict[str, object]]:
    """Upload the image's blobs, then PUT its manifest: the status and the JSON answer."""
    with server.client() as client:
        for blob in image.blobs:
            put_blob(client, repository, blob)
        answer = client.put(
            f"/v2/{repository}/manifests/{tag}", content=image.body,
            headers={"Content-Type": image.manifest["mediaType"]},
        )  # fmt: skip
        return answer.status_code, (answer.json() if answer.content else {})


def _stored(server: RunningServer, repository: str, digest: str) -> bool:
    with server.client() as client:
        return client.head(f"/v2/{repository}/manifests/{digest}").status_code == 200


def test_a_push_on_an_unapproved_base_is_refused_when_the_policy_is_enforced(
    server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    h.push(server, "public/debian", "12", h.build([PUBLIC]))
    h.push(server, "base/python", "3.11", h.build([PUBLIC, BASE]))
    h.wait_for(lambda: h.lineage_jobs_done(server), what="lineage jobs")

    # Not enforced: the policy reports, and pushes go through.
    h.remote(server, "lineage", "set-policy", "apps/", "--prefix", "--allowed-base", "base/*")
    status, _ = _put(server, "apps/early", "1", h.build([PUBLIC, h.layer("early")]))
    assert status == 201

    h.remote(server, "lineage", "set-policy", "apps/", "--prefix", "--allowed-base", "base/*", "--enforce")
    # Built on public/debian (by its layers, no annotations): refused, nothing stored.
    on_public = h.build([PUBLIC, h.layer("web")])
    status, body = _put(server, "apps/web", "1", on_public)
    assert status == 403, body
    (error,) = body["errors"]  # type: ignore[misc]
    assert error["code"] == "DENIED"
    assert "lineage-allowed-bases" in error["message"] and "public/debian:12" in error["message"]
    assert not _stored(server, "apps/web", on_public.digest)

    # Named by its base annotations (pushed with skopeo): refused too.
    annotated = h.build(
        [PUBLIC, h.layer("api")],
        {"org.opencontainers.image.base.name": f"{server.registry}/public/debian:12"},
    )
    h.write_layout(tmp_path / "api", annotated, "1")
    refused = skopeo.fails(
        "copy", "--dest-tls-verify=false", "--dest-creds", f"{server.user}:{server.password}",
        f"oci:{tmp_path / 'api'}:1", f"docker://{server.registry}/apps/api:1",
    )  # fmt: skip
    assert "lineage-allowed-bases" in refused.stderr
    assert not _stored(server, "apps/api", annotated.digest)

    # Through the ECR API (PutImage) the same gate answers AccessDeniedException.
    with server.client() as client:
        for blob in on_public.blobs:
            put_blob(client, "apps/ecr", blob)
    with pytest.raises(ClientError) as denied:
        aws_client(server, "ecr").put_image(
            repositoryName="apps/ecr", imageManifest=on_public.body.decode(), imageTag="1"
        )
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "lineage-allowed-bases" in denied.value.response["Error"]["Message"]

    # On an approved base: stored.
    on_base = h.build([PUBLIC, BASE, h.layer("ok")])
    status, body = _put(server, "apps/ok", "1", on_base)
    assert status == 201, body

    # The report pages by the images it examines; the CLI follows the pages.
    h.wait_for(lambda: h.lineage_jobs_done(server), what="lineage jobs")
    listed, token, pages = [], None, 0
    with server.client() as client:
        while True:
            query = {"maxResults": "1", **({"nextToken": token} if token else {})}
            page = client.get("/admin/v1/lineage/report", params=query).json()
            pages, listed, token = pages + 1, listed + page["images"], page.get("nextToken")
            if token is None:
                break
        bad = client.get("/admin/v1/lineage/report", params={"nextToken": "nonsense"})
        assert bad.status_code == 400, bad.text
    assert pages >= 4  # public/debian, base/python, apps/early, apps/ok (examined one by one)
    assert [image["repositoryName"] for image in listed] == ["apps/early"]
    assert [i["repositoryName"] for i in h.remote(server, "lineage", "report")["images"]] == ["apps/early"]

    lines = server.cli("audit", "export").stdout.splitlines()
    events = [json.loads(line)["event"] for line in lines if line.strip()]
    denials = [e for e in events if "lineage-allowed-bases" in json.dumps(e)]
    assert len(denials) >= 2
    assert hashlib.sha256(on_public.body).hexdigest() in json.dumps(denials)
