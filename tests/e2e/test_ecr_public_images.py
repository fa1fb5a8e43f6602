"""ECR Public ``DescribeImages`` and ``DescribeImageTags`` against a real server, through
boto3's ``ecr-public`` client and the AWS CLI: botocore's shapes and paginators, public
repositories only, authorized as ``ecr-public:`` actions."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import botocore.session
import httpx
import pytest

from support.aws import REGION, aws_client, error_of
from support.images import Image, build_image
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer

pytestmark = pytest.mark.e2e

REPOSITORY = "gallery/app"
PRIVATE = "gallery/private"
OTHER_ACCOUNT = "999988887777"
_MODEL = botocore.session.get_session().get_service_model("ecr-public")
IMAGE_DETAIL = set(_MODEL.shape_for("ImageDetail").members)
TAG_DETAIL = set(_MODEL.shape_for("ImageTagDetail").members)
REFERENCED = set(_MODEL.shape_for("ReferencedImageDetail").members)


def push(server: RunningServer, repository: str, image: Image, *tags: str) -> None:
    """Push over /v2/: by each tag, or by digest alone when none is given."""
    with server.client() as oci:
        for blob in (image.config, *image.layers):
            uploaded = oci.post(
                f"/v2/{repository}/blobs/uploads/", params={"digest": blob.digest}, content=blob.data
            )
            assert uploaded.status_code == 201, uploaded.text
        for reference in tags or (image.manifest.digest,):
            pushed = oci.put(
                f"/v2/{repository}/manifests/{reference}",
                content=image.manifest.data,
                headers={"Content-Type": image.manifest.media_type},
            )
            assert pushed.status_code == 201, pushed.text


@pytest.fixture(scope="module")
def public(shared_server: RunningServer) -> Any:
    return aws_client(shared_server, "ecr-public")


@pytest.fixture(scope="module")
def images(shared_server: RunningServer, public: Any) -> dict[str, Image]:
    """gallery/app (public): ``one`` tagged v1 and v2, ``two`` tagged latest, ``three``
    untagged; gallery/private (private): one image tagged v1."""
    rng = random.Random(7)
    built = {
        name: build_image(rng, layers=1, files_per_layer=1, file_size=256) for name in ("one", "two", "three")
    }
    public.create_repository(repositoryName=REPOSITORY)
    push(shared_server, REPOSITORY, built["one"], "v1", "v2")
    push(shared_server, REPOSITORY, built["two"], "latest")
    push(shared_server, REPOSITORY, built["three"])
    aws_client(shared_server, "ecr").create_repository(repositoryName=PRIVATE)
    push(shared_server, PRIVATE, built["one"], "v1")
    return built


def test_describe_images_shows_every_image_in_ecr_public_shape(
    public: Any, images: dict[str, Image], shared_server: RunningServer
) -> None:
    details = public.describe_images(repositoryName=REPOSITORY)["imageDetails"]
    by_digest = {detail["imageDigest"]: detail for detail in details}
    assert set(by_digest) == {image.manifest.digest for image in images.values()}
    assert by_digest[images["one"].manifest.digest]["imageTags"] == ["v1", "v2"]
    assert by_digest[images["two"].manifest.digest]["imageTags"] == ["latest"]
    assert "imageTags" not in by_digest[images["three"].manifest.digest]
    private = aws_client(shared_server, "ecr").describe_images(repositoryName=REPOSITORY)["imageDetails"]
    for detail in details:
        assert set(detail) <= IMAGE_DETAIL
        assert detail["registryId"] == private[0]["registryId"]
        assert detail["repositoryName"] == REPOSITORY
        assert detail["imageManifestMediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert detail["artifactMediaType"] == "application/vnd.oci.image.config.v1+json"
        same = next(p for p in private if p["imageDigest"] == detail["imageDigest"])
        assert (detail["imageSizeInBytes"], detail["imagePushedAt"]) == (
            same["imageSizeInBytes"],
            same["imagePushedAt"],
        )


def test_describe_images_pages_and_picks_by_id(public: Any, images: dict[str, Image]) -> None:
    pages = list(
        public.get_paginator("describe_images").paginate(
            repositoryName=REPOSITORY, PaginationConfig={"PageSize": 1}
        )
    )
    assert len(pages) == 3
    assert all(len(page["imageDetails"]) == 1 for page in pages)
    digests = [page["imageDetails"][0]["imageDigest"] for page in pages]
    assert digests == sorted(image.manifest.digest for image in images.values())
    picked = public.describe_images(repositoryName=REPOSITORY, imageIds=[{"imageTag": "latest"}])
    assert [d["imageDigest"] for d in picked["imageDetails"]] == [images["two"].manifest.digest]
    code, message, _ = error_of(
        public.describe_images, repositoryName=REPOSITORY, imageIds=[{"imageTag": "nope"}]
    )
    assert code == "ImageNotFoundException"
    assert "nope" in message
    code, _, _ = error_of(
        public.describe_images, repositoryName=REPOSITORY, imageIds=[{"imageTag": "v1"}], maxResults=5
    )
    assert code == "InvalidParameterException"
    code, _, _ = error_of(public.describe_images, repositoryName=REPOSITORY, nextToken="!!not-a-token")
    assert code == "InvalidParameterException"


def test_describe_image_tags_lists_tags_in_order_with_their_image(
    public: Any, images: dict[str, Image]
) -> None:
    details = public.describe_image_tags(repositoryName=REPOSITORY)["imageTagDetails"]
    assert [d["imageTag"] for d in details] == ["latest", "v1", "v2"]
    expected = {"latest": "two", "v1": "one", "v2": "one"}
    for detail in details:
        assert set(detail) <= TAG_DETAIL
        assert set(detail["imageDetail"]) <= REFERENCED
        image = images[expected[detail["imageTag"]]]
        assert detail["imageDetail"]["imageDigest"] == image.manifest.digest
        assert (
            detail["imageDetail"]["imageSizeInBytes"]
            == sum(layer.size for layer in image.layers) + image.config.size
        )
        assert detail["createdAt"] >= detail["imageDetail"]["imagePushedAt"]
    pages = list(
        public.get_paginator("describe_image_tags").paginate(
            repositoryName=REPOSITORY, PaginationConfig={"PageSize": 2}
        )
    )
    assert [[d["imageTag"] for d in page["imageTagDetails"]] for page in pages] == [["latest", "v1"], ["v2"]]


def test_private_repositories_do_not_exist_for_these_operations(
    public: Any, images: dict[str, Image]
) -> None:
    for call in (public.describe_images, public.describe_image_tags):
        code, message, status = error_of(call, repositoryName=PRIVATE)
        assert (code, status) == ("RepositoryNotFoundException", 400)
        assert PRIVATE in message
        code, _, _ = error_of(call, repositoryName="gallery/nowhere")
        assert code == "RepositoryNotFoundException"


# authorization: what a hostile caller would try


def user_with_policy(server: RunningServer, name: str, statement: dict[str, Any], *account: str) -> Any:
    server.cli("iam", "create-user", "--user-name", name, *account)
    key = server.cli_json("iam", "create-access-key", "--user-name", name, *account)["AccessKey"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    server.cli(
        "iam",
        "put-user-policy",
        "--user-name",
        name,
        "--policy-name",
        "p",
        "--policy-document",
        policy,
        *account,
    )
    return aws_client(server, "ecr-public", key["AccessKeyId"], key["SecretAccessKey"])


def denied(call: Any, **kwargs: Any) -> str:
    code, message, status = error_of(call, **kwargs)
    assert (code, status) == ("AccessDeniedException", 400), message
    return message


def test_private_ecr_permissions_do_not_grant_ecr_public_reads(
    shared_server: RunningServer, images: dict[str, Image]
) -> None:
    client = user_with_policy(
        shared_server, "private-reader", {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}
    )
    assert "ecr-public:DescribeImages" in denied(client.describe_images, repositoryName=REPOSITORY)
    assert "ecr-public:DescribeImageTags" in denied(client.describe_image_tags, repositoryName=REPOSITORY)


def test_a_grant_on_another_repository_does_not_reach_this_one(
    shared_server: RunningServer, public: Any, images: dict[str, Image]
) -> None:
    account = public.describe_registries()["registries"][0]["registryId"]
    statement = {
        "Effect": "Allow",
        "Action": ["ecr-public:DescribeImages", "ecr-public:DescribeImageTags"],
        "Resource": f"arn:aws:ecr-public::{account}:repository/gallery/other",
    }
    client = user_with_policy(shared_server, "other-reader", statement)
    denied(client.describe_images, repositoryName=REPOSITORY)
    denied(client.describe_image_tags, repositoryName=REPOSITORY)
    statement["Resource"] = f"arn:aws:ecr-public::{account}:repository/{REPOSITORY}"
    allowed = user_with_policy(shared_server, "app-reader", statement)
    assert len(allowed.describe_images(repositoryName=REPOSITORY)["imageDetails"]) == 3
    assert len(allowed.describe_image_tags(repositoryName=REPOSITORY)["imageTagDetails"]) == 3


def test_another_account_cannot_describe_without_a_repository_policy(
    shared_server: RunningServer, public: Any, images: dict[str, Image]
) -> None:
    account = public.describe_registries()["registries"][0]["registryId"]
    shared_server.cli("account", "create", "--id", OTHER_ACCOUNT)
    outsider = user_with_policy(
        shared_server,
        "outsider",
        {"Effect": "Allow", "Action": "ecr-public:*", "Resource": "*"},
        "--account-id",
        OTHER_ACCOUNT,
    )
    denied(outsider.describe_images, registryId=account, repositoryName=REPOSITORY)
    denied(outsider.describe_image_tags, registryId=account, repositoryName=REPOSITORY)


def test_an_unsigned_request_is_refused(shared_server: RunningServer, images: dict[str, Image]) -> None:
    for operation in ("DescribeImages", "DescribeImageTags"):
        answer = httpx.post(
            f"{shared_server.url}/",
            headers={
                "X-Amz-Target": f"SpencerFrontendService.{operation}",
                "Content-Type": "application/x-amz-json-1.1",
            },
            content=json.dumps({"repositoryName": REPOSITORY}),
        )
        assert answer.status_code in (400, 403), answer.text
        assert "__type" in answer.json()
        assert "imageDetails" not in answer.text and "imageTagDetails" not in answer.text


# the AWS CLI


def test_the_aws_cli_describes_public_images_and_tags(
    shared_server: RunningServer, images: dict[str, Image], tmp_path: Path
) -> None:
    executable = shutil.which("aws")
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but the AWS CLI is not installed")
        pytest.skip("the AWS CLI (aws) is not installed")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ADMIN_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=ADMIN_SECRET_ACCESS_KEY,
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )

    def aws(*args: str) -> Any:
        command = [
            executable,
            "ecr-public",
            *args,
            "--endpoint-url",
            shared_server.url,
            "--region",
            REGION,
            "--output",
            "json",
        ]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    described = aws("describe-images", "--repository-name", REPOSITORY)["imageDetails"]
    assert sorted(d["imageDigest"] for d in described) == sorted(i.manifest.digest for i in images.values())
    # The CLI pages by itself: one image a request, every image in the end.
    paged = aws("describe-images", "--repository-name", REPOSITORY, "--page-size", "1")["imageDetails"]
    assert [d["imageDigest"] for d in paged] == [d["imageDigest"] for d in described]
    tags = aws("describe-image-tags", "--repository-name", REPOSITORY, "--page-size", "1")["imageTagDetails"]
    assert [(t["imageTag"], t["imageDetail"]["imageDigest"]) for t in tags] == [
        ("latest", images["two"].manifest.digest),
        ("v1", images["one"].manifest.digest),
        ("v2", images["one"].manifest.digest),
    ]
