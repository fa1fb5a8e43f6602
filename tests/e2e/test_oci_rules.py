"""OCI push and delete rules against a real server, with the real clients: what skopeo and
podman print for an immutable tag, mounts without ``from`` that never reach a repository
the caller may not read, and one rule for deleting a manifest an index lists on both APIs."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from e2e.test_access import policy, user_with_key
from e2e.test_podman import import_image, rootfs_files
from e2e.test_skopeo import creds, push, source_layout
from support.aws import aws_client
from support.images import build_image, build_index, push_random_image
from support.server import RunningServer

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e


def immutable_words(tag: str, repository: str) -> str:
    return (
        f"The image tag '{tag}' already exists in the '{repository}' repository and cannot be "
        "overwritten because the repository is immutable."
    )


def test_skopeo_and_podman_show_ecrs_words_for_an_immutable_tag(
    shared_server: RunningServer, skopeo: Cli, podman: Cli, tmp_path: Path
) -> None:
    ecr = aws_client(shared_server, "ecr")
    ecr.create_repository(repositoryName="rules/locked", imageTagMutability="IMMUTABLE")
    push_random_image(shared_server, "rules/locked", "v1")

    layout = source_layout(tmp_path, v1=build_image(random.Random(31), layers=1))
    refused = skopeo.fails(
        "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", creds(shared_server),
        f"oci:{layout.path}:v1", f"docker://{shared_server.registry}/rules/locked:v1",
    )  # fmt: skip
    assert "tag invalid" in refused.stderr
    assert immutable_words("v1", "rules/locked") in refused.stderr

    local = import_image(podman, tmp_path, rootfs_files(random.Random(32), large_size=4096), "localhost/r:v1")
    rejected = podman.fails(
        "push", "--quiet", "--tls-verify=false", "--creds", creds(shared_server),
        local, f"docker://{shared_server.registry}/rules/locked:v1",
        timeout=120,
    )  # fmt: skip
    assert immutable_words("v1", "rules/locked") in rejected.stderr
    # The tag still names the first image; a new tag is fine.
    push(skopeo, shared_server, layout, "v1", "rules/elsewhere")
    assert push_random_image(shared_server, "rules/locked", "v2").status_code == 201


def test_a_mount_without_from_never_reaches_a_repository_the_caller_may_not_read(
    shared_server: RunningServer,
) -> None:
    secret = hashlib.sha256(b"the secret layer").hexdigest()
    with shared_server.client() as admin:
        pushed = admin.post(
            "/v2/rules/secret/blobs/uploads/",
            params={"digest": f"sha256:{secret}"},
            content=b"the secret layer",
        )
        assert pushed.status_code == 201
        shared = admin.post(
            "/v2/rules/shared/blobs/uploads/",
            params={"digest": "sha256:" + hashlib.sha256(b"a shared layer").hexdigest()},
            content=b"a shared layer",
        )
        assert shared.status_code == 201
    key_id, key_secret = user_with_key(shared_server, "mallory")
    own = {"Effect": "Allow", "Action": "ecr:*", "Resource": "arn:aws:ecr:*:*:repository/mallory/*"}
    pull_shared = {
        "Effect": "Allow",
        "Action": ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
        "Resource": "arn:aws:ecr:*:*:repository/rules/shared",
    }
    shared_server.cli(
        "iam", "put-user-policy", "--user-name", "mallory", "--policy-name", "own",
        "--policy-document", policy(own, pull_shared),
    )  # fmt: skip
    with httpx.Client(base_url=shared_server.url, auth=(key_id, key_secret), timeout=60) as mallory:
        # The attack: name only the digest and hope the registry finds it anywhere.
        stolen = mallory.post("/v2/mallory/loot/blobs/uploads/", params={"mount": f"sha256:{secret}"})
        assert stolen.status_code == 202, stolen.text
        assert stolen.headers["Location"].startswith("/v2/mallory/loot/blobs/uploads/")
        with_from = mallory.post(
            "/v2/mallory/loot/blobs/uploads/", params={"mount": f"sha256:{secret}", "from": "rules/secret"}
        )
        assert with_from.status_code == 202
        assert mallory.get(f"/v2/mallory/loot/blobs/sha256:{secret}").status_code == 404
        # What mallory may read does mount.
        digest = "sha256:" + hashlib.sha256(b"a shared layer").hexdigest()
        mounted = mallory.post("/v2/mallory/loot/blobs/uploads/", params={"mount": digest})
        assert mounted.status_code == 201, mounted.text
        assert mallory.get(f"/v2/mallory/loot/blobs/{digest}").content == b"a shared layer"


def test_deleting_a_manifest_an_index_lists_is_one_rule_on_both_apis(
    shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    index = build_index(random.Random(33))
    layout = source_layout(tmp_path, multi=index)
    skopeo.run(
        "copy", "--all", "--quiet", "--dest-tls-verify=false", "--dest-creds", creds(shared_server),
        f"oci:{layout.path}:multi", f"docker://{shared_server.registry}/rules/multi:multi",
    )  # fmt: skip
    child = index.images[0].manifest.digest
    reason = f"Requested image referenced by manifest list: [{index.index.digest}]"
    with shared_server.client() as client:
        refused = client.delete(f"/v2/rules/multi/manifests/{child}")
        assert refused.status_code == 405
        assert refused.json()["errors"] == [
            {
                "code": "UNSUPPORTED",
                "message": reason,
                "detail": {"digest": child, "index": index.index.digest},
            }
        ]
    ecr: Any = aws_client(shared_server, "ecr")
    answer = ecr.batch_delete_image(repositoryName="rules/multi", imageIds=[{"imageDigest": child}])
    assert answer["imageIds"] == []
    assert answer["failures"] == [
        {
            "imageId": {"imageDigest": child},
            "failureCode": "ImageReferencedByManifestList",
            "failureReason": reason,
        }
    ]
    # skopeo delete of the child is refused too, and says why.
    failed = skopeo.fails(
        "delete", "--tls-verify=false", "--creds", creds(shared_server),
        f"docker://{shared_server.registry}/rules/multi@{child}",
    )  # fmt: skip
    assert reason in failed.stderr
    with shared_server.client() as client:
        assert client.get(f"/v2/rules/multi/manifests/{child}").status_code == 200
        assert client.delete(f"/v2/rules/multi/manifests/{index.index.digest}").status_code == 202
        assert client.delete(f"/v2/rules/multi/manifests/{child}").status_code == 202
