"""Identity and access against a real server: access keys, IAM policies, repository
policies across accounts, conditions, public repositories. Identities are managed
with the `strongroom iam|repo|account` commands on the server's own store."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from support.images import random_files, write_rootfs_tarball
from support.server import RunningServer, start_server

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OTHER_ACCOUNT = "222222222222"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


def strongroom(server: RunningServer, *args: str) -> Any:
    return server.cli_json(*args)


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user_with_key(server: RunningServer, name: str, *extra: str) -> tuple[str, str]:
    strongroom(server, "iam", "create-user", "--user-name", name, *extra)
    key = strongroom(server, "iam", "create-access-key", "--user-name", name, *extra)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def account_id(server: RunningServer) -> str:
    return str(strongroom(server, "migrate")["account_id"])


def push_image(client: httpx.Client, name: str, tag: str = "v1") -> int:
    """Push a one-layer image; the status of the first refused step, or 201."""
    for data in (b"{}", os.urandom(64)):
        digest = _d(data)
        response = client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
        if response.status_code != 201:
            return response.status_code
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _d(b"{}"),
                "size": 2,
            },
            "layers": [],
        }
    )
    response = client.put(
        f"/v2/{name}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    return response.status_code


def _d(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_ci_user_may_push_only_where_its_policy_allows(server: RunningServer) -> None:
    key_id, secret = user_with_key(server, "ci")
    allow_team_a = policy(
        {"Effect": "Allow", "Action": ["ecr:*"], "Resource": "arn:aws:ecr:*:*:repository/team-a/*"}
    )
    strongroom(server, "iam", "put-user-policy", "--user-name", "ci", "--policy-name", "push-team-a",
               "--policy-document", allow_team_a)  # fmt: skip
    with httpx.Client(base_url=server.url, auth=(key_id, secret)) as ci:
        assert ci.get("/v2/").status_code == 200
        assert push_image(ci, "team-a/app") == 201
        denied = ci.post("/v2/team-b/app/blobs/uploads/")
        assert denied.status_code == 403
        assert denied.json()["errors"][0]["code"] == "DENIED"
        assert ci.get("/v2/team-a/app/manifests/v1").status_code == 200
        assert ci.get("/v2/_catalog").status_code == 403  # no ecr:DescribeRepositories on *
    with httpx.Client(base_url=server.url, auth=(key_id, "wrong-secret")) as wrong:
        assert wrong.get("/v2/").status_code == 401
    strongroom(server, "iam", "update-access-key", "--user-name", "ci", "--access-key-id", key_id,
               "--status", "Inactive")  # fmt: skip
    # A fresh process has no cached credential; an inactive key must not authenticate.
    server.stop()
    restarted = start_server(server.data_dir)
    try:
        assert httpx.get(f"{restarted.url}/v2/", auth=(key_id, secret)).status_code == 401
    finally:
        restarted.stop()


def test_podman_pushes_with_an_access_key_and_is_refused_elsewhere(
    server: RunningServer, podman: Cli, tmp_path: Path
) -> None:
    key_id, secret = user_with_key(server, "builder")
    strongroom(server, "iam", "put-user-policy", "--user-name", "builder", "--policy-name", "team-a",
               "--policy-document", policy({"Effect": "Allow", "Action": "ecr:*",
                                            "Resource": "arn:aws:ecr:*:*:repository/team-a/*"}))  # fmt: skip
    tarball = write_rootfs_tarball(tmp_path / "rootfs.tar", random_files(random.Random(3), "app", 3, 2000))
    podman.run("import", "--quiet", str(tarball), "localhost/app:v1")
    creds = f"{key_id}:{secret}"
    podman.run(
        "push", "--tls-verify=false", "--creds", creds, "localhost/app:v1", f"{server.registry}/team-a/app:v1"
    )
    refused = podman.fails(
        "push", "--tls-verify=false", "--creds", creds, "localhost/app:v1", f"{server.registry}/team-b/app:v1"
    )
    assert "denied" in refused.stderr.lower() or "403" in refused.stderr


def test_cross_account_pull_needs_the_repository_policy(server: RunningServer) -> None:
    home = account_id(server)
    strongroom(server, "account", "create", "--id", OTHER_ACCOUNT)
    key_id, secret = user_with_key(server, "reader", "--account-id", OTHER_ACCOUNT)
    strongroom(server, "iam", "put-user-policy", "--user-name", "reader", "--account-id", OTHER_ACCOUNT,
               "--policy-name", "pull-shared", "--policy-document",
               policy({"Effect": "Allow", "Action": PULL,
                       "Resource": f"arn:aws:ecr:*:{home}:repository/shared/*"}))  # fmt: skip
    with httpx.Client(base_url=server.url, auth=server.auth) as admin:
        assert push_image(admin, "shared/model") == 201
    path = f"/v2/{home}/shared/model/manifests/v1"
    with httpx.Client(base_url=server.url, auth=(key_id, secret)) as reader:
        assert reader.get(path).status_code == 403  # identity allows, resource does not
        other_root = f"arn:aws:iam::{OTHER_ACCOUNT}:root"
        repository_policy = policy(
            {"Sid": "PullFromB", "Effect": "Allow", "Principal": {"AWS": other_root}, "Action": PULL}
        )
        strongroom(server, "repo", "set-policy", "--repository-name", "shared/model",
                   "--policy-text", repository_policy)  # fmt: skip
        assert reader.get(path).status_code == 200
        assert reader.post(f"/v2/{home}/shared/model/blobs/uploads/").status_code == 403  # pull only
        # Both sides must allow: without the identity policy the resource policy is not enough.
        strongroom(server, "iam", "delete-user-policy", "--user-name", "reader", "--account-id",
                   OTHER_ACCOUNT, "--policy-name", "pull-shared")  # fmt: skip
        assert reader.get(path).status_code == 403


def test_source_ip_condition(server: RunningServer) -> None:
    key_id, secret = user_with_key(server, "office")
    rule = {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}
    far = {**rule, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    strongroom(server, "iam", "put-user-policy", "--user-name", "office", "--policy-name", "net",
               "--policy-document", policy(far))  # fmt: skip
    with httpx.Client(base_url=server.url, auth=(key_id, secret)) as office:
        assert office.post("/v2/office/app/blobs/uploads/").status_code == 403
        near = {**rule, "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "127.0.0.0/8"]}}}
        strongroom(server, "iam", "put-user-policy", "--user-name", "office", "--policy-name", "net",
                   "--policy-document", policy(near))  # fmt: skip
        assert office.post("/v2/office/app/blobs/uploads/").status_code == 202


def test_public_repositories_allow_anonymous_pull_only(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, auth=server.auth) as admin:
        assert push_image(admin, "open/model") == 201
        assert push_image(admin, "closed/model") == 201
    strongroom(server, "repo", "set-visibility", "--repository-name", "open/model", "public")
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/v2/open/model/manifests/v1").status_code == 200
        assert anonymous.get("/v2/open/model/tags/list").json()["tags"] == ["v1"]
        assert anonymous.get(f"/v2/open/model/blobs/{_d(b'{}')}").content == b"{}"
        assert anonymous.get("/v2/closed/model/manifests/v1").status_code == 401
        assert anonymous.post("/v2/open/model/blobs/uploads/").status_code == 401
        assert anonymous.delete("/v2/open/model/manifests/v1").status_code == 401
        assert anonymous.get("/v2/_catalog").status_code == 401
    strongroom(server, "repo", "set-visibility", "--repository-name", "open/model", "private")
    assert httpx.get(f"{server.url}/v2/open/model/manifests/v1").status_code == 401


def test_malformed_policies_are_refused_with_a_precise_message(server: RunningServer) -> None:
    strongroom(server, "iam", "create-user", "--user-name", "x")
    statement = {
        "Sid": "A",
        "Effect": "Allow",
        "Action": "ecr:*",
        "NotAction": "ecr:PutImage",
        "Resource": "*",
    }
    bad = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    result = server.cli(
        "iam",
        "put-user-policy",
        "--user-name",
        "x",
        "--policy-name",
        "p",
        "--policy-document",
        bad,
        check=False,
    )
    assert result.returncode != 0
    assert "Statement 0 (Sid 'A')" in result.stderr
    assert "Traceback" not in result.stderr
