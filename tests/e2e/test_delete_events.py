"""Deletions announce themselves: an OCI ``DELETE`` by tag and by digest, ECR's
``BatchDeleteImage`` and a lifecycle policy's expiry each write ``image.delete`` (and the
expiry ``lifecycle.expired``) with the deletion, with exactly the data fields the catalogue
declares, and a real receiver on loopback gets them as CloudEvents."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from strongroom.events.catalogue import CATALOGUE
from support.aws import aws_client
from support.images import push_random_image
from support.server import RunningServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ENV = {
    "STRONGROOM_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "STRONGROOM_JOB_POLL_SECONDS": "0.1",
    "STRONGROOM_LIFECYCLE_INTERVAL_SECONDS": "0",  # only the test applies the policy
}
EXPIRE_ALL_BUT_NEWEST = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 3,
                "description": "keep the newest image",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
                "action": {"type": "expire"},
            }
        ]
    },
    indent=2,
)


@pytest.fixture
def received() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/in", bodies
    finally:
        server.shutdown()
        server.server_close()


def digest_of(response: httpx.Response) -> str:
    return str(response.headers["docker-content-digest"])


def deletions(server: RunningServer, event_type: str) -> list[dict[str, Any]]:
    listed = server.cli_json("events", "list", "--type", event_type, "--since", "1h", "--output", "json")
    return [event["data"] for event in listed["events"]]


def test_every_deletion_path_writes_its_events_with_the_declared_fields(
    tmp_path: Any, received: tuple[str, list[dict[str, Any]]]
) -> None:
    url, bodies = received
    server = start_server(tmp_path / "data", env=ENV, args=["--workers", "1"])
    try:
        server.cli("webhook", "create", "--url", url, "--events", "image.delete,lifecycle.expired")
        v1 = digest_of(push_random_image(server, "ev/app", "v1", seed=1))
        v2 = digest_of(push_random_image(server, "ev/app", "v2", seed=2))
        v3 = digest_of(push_random_image(server, "ev/app", "v3", seed=3))
        with httpx.Client(base_url=server.url, auth=server.auth) as client:
            assert client.delete("/v2/ev/app/manifests/v1").status_code == 202  # the tag only
            assert client.delete(f"/v2/ev/app/manifests/{v2}").status_code == 202
            assert client.delete("/v2/ev/app/manifests/nope").status_code == 404  # nothing: no event
        ecr = aws_client(server, "ecr")
        ecr.batch_delete_image(repositoryName="ev/app", imageIds=[{"imageTag": "v3"}, {"imageTag": "gone"}])

        old = digest_of(push_random_image(server, "ev/lc", "old", seed=4))
        time.sleep(1.1)  # pushed at distinct seconds, so "newest" is not a tie
        push_random_image(server, "ev/lc", "new", seed=5)
        ecr.put_lifecycle_policy(repositoryName="ev/lc", lifecyclePolicyText=EXPIRE_ALL_BUT_NEWEST)
        ran = json.loads(server.cli("lifecycle", "run", "--repository", "ev/lc", "--output", "json").stdout)
        [run] = ran["repositories"]
        assert [image["digest"] for image in run["images"] if image["expired"]] == [old], ran

        def delete(repository: str, digest: str, tag: str | None, gone: bool) -> dict[str, Any]:
            tags = [tag] if tag else []
            return {
                "action-type": "DELETE", "result": "SUCCESS", "repository-name": repository,
                "image-digest": digest, "image-tag": tag, "image-tags": tags, "manifest-deleted": gone,
            }  # fmt: skip

        assert deletions(server, "image.delete") == [
            delete("ev/app", v1, "v1", False),  # OCI DELETE by tag: the image stays
            delete("ev/app", v2, "v2", True),  # OCI DELETE by digest: the image and its tag
            delete("ev/app", v3, "v3", True),  # BatchDeleteImage of the last tag: the image too
            delete("ev/lc", old, "old", True),  # the lifecycle policy's expiry
        ]
        [expired] = deletions(server, "lifecycle.expired")
        assert expired == {
            **{k: v for k, v in delete("ev/lc", old, "old", True).items() if k != "manifest-deleted"},
            "rule-priority": 3,
            "reason": expired["reason"],
        }
        assert expired["reason"]
        for name in ("image.delete", "lifecycle.expired", "image.push"):
            assert all(set(data) == set(CATALOGUE[name].fields) for data in deletions(server, name))
        assert v1 in {d["image-digest"] for d in deletions(server, "image.push")}

        deadline = time.monotonic() + 60
        while len(bodies) < 5:
            assert time.monotonic() < deadline, f"only {len(bodies)} deliveries"
            time.sleep(0.1)
        time.sleep(0.5)
        types = sorted(body["type"] for body in bodies)
        assert types == ["io.strongroom.image.delete"] * 4 + ["io.strongroom.lifecycle.expired"]
        assert {body["subject"] for body in bodies} == {"ev/app", "ev/lc"}
    finally:
        server.stop()


def test_deleting_a_repository_with_force_announces_each_of_its_images(tmp_path: Any) -> None:
    server = start_server(tmp_path / "data", env=ENV, args=["--workers", "1"])
    try:
        a = digest_of(push_random_image(server, "ev/doomed", "a", seed=11))
        b = digest_of(push_random_image(server, "ev/doomed", "b", seed=12))
        with httpx.Client(base_url=server.url, auth=server.auth) as client:
            manifest = client.get(f"/v2/ev/doomed/manifests/{b}", headers={"accept": "*/*"})
            moved = client.put(
                "/v2/ev/doomed/manifests/b2", content=manifest.content,
                headers={"content-type": manifest.headers["content-type"]},
            )  # fmt: skip
            assert moved.status_code == 201
            assert client.delete("/v2/ev/doomed/manifests/a").status_code == 202  # a: untagged now
        push_random_image(server, "ev/kept", "k", seed=13)
        ecr = aws_client(server, "ecr")
        ecr.delete_repository(repositoryName="ev/doomed", force=True)

        gone = [d for d in deletions(server, "image.delete") if d["manifest-deleted"]]
        assert sorted(gone, key=lambda d: d["image-digest"]) == sorted(
            [
                {
                    "action-type": "DELETE",
                    "result": "SUCCESS",
                    "repository-name": "ev/doomed",
                    "image-digest": digest,
                    "image-tag": tags[0] if tags else None,
                    "image-tags": tags,
                    "manifest-deleted": True,
                }
                for digest, tags in ((a, []), (b, ["b", "b2"]))
            ],
            key=lambda d: d["image-digest"],
        )
    finally:
        server.stop()
