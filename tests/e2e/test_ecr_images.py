"""ECR image operations against a real server with boto3: ListImages, DescribeImages,
BatchGetImage, PutImage, BatchDeleteImage and ListImageReferrers, with ECR's documented
errors; tag immutability seen from both APIs; an image pushed with skopeo read back."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from support.aws import aws_client, error_of
from support.images import (
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    Blob,
    Image,
    ImageIndex,
    OciLayout,
    build_image,
    build_index,
    encode_json,
)
from support.server import RunningServer

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

MISSING = "sha256:" + "0" * 64


def upload_blobs(server: RunningServer, name: str, *blobs: Blob) -> None:
    """Blobs pushed over the OCI API (monolithic uploads)."""
    with server.client() as http:
        for blob in blobs:
            done = http.post(f"/v2/{name}/blobs/uploads/", params={"digest": blob.digest}, content=blob.data)
            assert done.status_code == 201, done.text


def put_image(ecr: Any, name: str, manifest: Blob, tag: str | None = None, **extra: Any) -> dict[str, Any]:
    kwargs = {"imageTag": tag} if tag else {}
    image: dict[str, Any] = ecr.put_image(
        repositoryName=name, imageManifest=manifest.data.decode(), **kwargs, **extra
    )["image"]
    return image


def push(ecr: Any, server: RunningServer, name: str, image: Image | ImageIndex, tag: str | None) -> None:
    """An image (or index and its images) put through the ECR API, blobs over OCI."""
    children = image.images if isinstance(image, ImageIndex) else (image,)
    for child in children:
        upload_blobs(server, name, child.config, *child.layers)
        if isinstance(image, ImageIndex):
            put_image(ecr, name, child.manifest)
    put_image(ecr, name, image.manifest, tag)


def referrer(subject: Blob, artifact_type: str, seed: int) -> tuple[Blob, Blob]:
    """An OCI artifact (one layer) whose subject is ``subject``."""
    layer = Blob("text/plain", f"artifact {seed}".encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": Blob(OCI_EMPTY, b"{}").digest, "size": 2},
        "layers": [layer.descriptor()],
        "subject": subject.descriptor(),
        "annotations": {"seed": str(seed)},
    }
    return Blob(OCI_MANIFEST, encode_json(manifest)), layer


def ids(response: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    return sorted((i.get("imageDigest"), i.get("imageTag")) for i in response["imageIds"])


def test_put_image_then_list_describe_and_get(ecr: Any, shared_server: RunningServer, account: str) -> None:
    name = "img/basic"
    ecr.create_repository(repositoryName=name)
    image = build_image(random.Random(10))
    upload_blobs(shared_server, name, image.config, *image.layers)
    put = put_image(ecr, name, image.manifest, "v1")
    assert put == {
        "registryId": account,
        "repositoryName": name,
        "imageId": {"imageDigest": image.manifest.digest, "imageTag": "v1"},
        "imageManifest": image.manifest.data.decode(),
        "imageManifestMediaType": OCI_MANIFEST,
    }
    put_image(ecr, name, image.manifest, "latest")  # re-tagging is another PutImage

    assert ids(ecr.list_images(repositoryName=name)) == [
        (image.manifest.digest, "latest"),
        (image.manifest.digest, "v1"),
    ]
    [detail] = ecr.describe_images(repositoryName=name)["imageDetails"]
    assert isinstance(detail.pop("imagePushedAt"), datetime)
    assert detail == {
        "registryId": account,
        "repositoryName": name,
        "imageDigest": image.manifest.digest,
        "imageTags": ["latest", "v1"],
        "imageSizeInBytes": image.config.size + sum(layer.size for layer in image.layers),
        "imageManifestMediaType": OCI_MANIFEST,
        "artifactMediaType": OCI_CONFIG,
        "imageStatus": "ACTIVE",
    }
    got = ecr.batch_get_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])
    assert got["failures"] == []
    assert got["images"] == [put]
    # The manifest is served byte for byte over OCI too.
    with shared_server.client() as http:
        served = http.get(f"/v2/{name}/manifests/latest", headers={"Accept": OCI_MANIFEST})
    assert served.content == image.manifest.data


def test_list_images_filters_and_pages(ecr: Any, shared_server: RunningServer) -> None:
    name = "img/listing"
    ecr.create_repository(repositoryName=name)
    rng = random.Random(11)
    tagged = build_image(rng, layers=1)
    untagged = build_image(rng, layers=1)
    push(ecr, shared_server, name, tagged, "a")
    put_image(ecr, name, tagged.manifest, "b")
    put_image(ecr, name, tagged.manifest, "c")
    push(ecr, shared_server, name, untagged, None)
    everything = sorted(
        [(tagged.manifest.digest, t) for t in "abc"] + [(untagged.manifest.digest, None)],
        key=lambda pair: (pair[0], pair[1] or ""),
    )
    assert ids(ecr.list_images(repositoryName=name)) == everything
    assert ids(ecr.list_images(repositoryName=name, filter={"tagStatus": "UNTAGGED"})) == [
        (untagged.manifest.digest, None)
    ]
    assert len(ecr.list_images(repositoryName=name, filter={"tagStatus": "TAGGED"})["imageIds"]) == 3
    assert ecr.list_images(repositoryName=name, filter={"imageStatus": "ARCHIVED"})["imageIds"] == []

    pages = list(
        ecr.get_paginator("list_images").paginate(repositoryName=name, PaginationConfig={"PageSize": 1})
    )
    assert [len(page["imageIds"]) for page in pages] == [1, 1, 1, 1]
    assert [(i.get("imageDigest"), i.get("imageTag")) for p in pages for i in p["imageIds"]] == everything
    assert (
        error_of(ecr.list_images, repositoryName=name, nextToken="bm9wZQ==")[0] == "InvalidParameterException"
    )
    code, message, status = error_of(ecr.list_images, repositoryName="img/none")
    assert (code, status) == ("RepositoryNotFoundException", 400)
    assert "img/none" in message


def test_describe_images_sizes_filters_ids_and_pages(
    ecr: Any, shared_server: RunningServer, account: str
) -> None:
    name = "img/describe"
    ecr.create_repository(repositoryName=name)
    rng = random.Random(12)
    index = build_index(rng)
    push(ecr, shared_server, name, index, "multi")
    details = {d["imageDigest"]: d for d in ecr.describe_images(repositoryName=name)["imageDetails"]}
    sizes = [i.config.size + sum(layer.size for layer in i.layers) for i in index.images]
    multi = details[index.index.digest]
    assert (multi["imageTags"], multi["imageSizeInBytes"]) == (["multi"], max(sizes))
    assert multi["imageManifestMediaType"] == OCI_INDEX and "artifactMediaType" not in multi
    for child, size in zip(index.images, sizes, strict=True):
        assert "imageTags" not in details[child.manifest.digest]
        assert details[child.manifest.digest]["imageSizeInBytes"] == size

    chosen = ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": "multi"}])["imageDetails"]
    assert [d["imageDigest"] for d in chosen] == [index.index.digest]
    untagged = ecr.describe_images(repositoryName=name, filter={"tagStatus": "UNTAGGED"})["imageDetails"]
    assert {d["imageDigest"] for d in untagged} == {i.manifest.digest for i in index.images}
    pages = list(
        ecr.get_paginator("describe_images").paginate(repositoryName=name, PaginationConfig={"PageSize": 2})
    )
    assert [len(page["imageDetails"]) for page in pages] == [2, 1]

    code, message, _ = error_of(ecr.describe_images, repositoryName=name, imageIds=[{"imageTag": "nope"}])
    assert code == "ImageNotFoundException"
    assert message == (
        "The image with imageId {imageDigest:'null', imageTag:'nope'} does not exist within the repository "
        f"with name '{name}' in the registry with id '{account}'"
    )
    code, message, _ = error_of(ecr.describe_images, repositoryName=name, imageIds=[{"imageDigest": MISSING}])
    assert code == "ImageNotFoundException" and f"imageDigest:'{MISSING}'" in message
    assert (
        error_of(ecr.describe_images, repositoryName=name, imageIds=[{"imageTag": "multi"}], maxResults=5)[0]
        == "InvalidParameterException"
    )
    assert error_of(ecr.describe_images, repositoryName=name, imageIds=[{"imageDigest": "sha256:x"}])[0] == (
        "InvalidParameterException"
    )
    assert error_of(ecr.describe_images, repositoryName="img/none")[0] == "RepositoryNotFoundException"


def test_batch_get_image_reports_failures_per_id(ecr: Any, shared_server: RunningServer) -> None:
    name = "img/get"
    ecr.create_repository(repositoryName=name)
    rng = random.Random(13)
    first, second = build_image(rng, layers=1), build_image(rng, layers=1)
    push(ecr, shared_server, name, first, "one")
    push(ecr, shared_server, name, second, "two")
    got = ecr.batch_get_image(
        repositoryName=name,
        imageIds=[
            {"imageDigest": first.manifest.digest},
            {"imageTag": "two", "imageDigest": second.manifest.digest},
            {"imageTag": "nope"},
            {"imageDigest": MISSING},
            {"imageDigest": "sha256:not-hex"},
            {"imageTag": "bad tag!"},
            {},
            {"imageTag": "one", "imageDigest": second.manifest.digest},
        ],
    )
    assert [(i["imageId"].get("imageDigest"), i["imageId"].get("imageTag")) for i in got["images"]] == [
        (first.manifest.digest, None),
        (second.manifest.digest, "two"),
    ]
    assert [i["imageManifest"].encode() for i in got["images"]] == [first.manifest.data, second.manifest.data]
    assert [f["failureCode"] for f in got["failures"]] == [
        "ImageNotFound",
        "ImageNotFound",
        "InvalidImageDigest",
        "InvalidImageTag",
        "MissingDigestAndTag",
        "ImageTagDoesNotMatchDigest",
    ]
    assert got["failures"][0] == {
        "imageId": {"imageTag": "nope"},
        "failureCode": "ImageNotFound",
        "failureReason": "Requested image not found",
    }
    # Strongroom never converts: an image of a type not accepted is a failure.
    refused = ecr.batch_get_image(
        repositoryName=name,
        imageIds=[{"imageTag": "one"}],
        acceptedMediaTypes=["application/vnd.docker.distribution.manifest.v2+json"],
    )
    assert refused["images"] == [] and refused["failures"][0]["failureCode"] == "ImageNotFound"
    accepted = ecr.batch_get_image(
        repositoryName=name, imageIds=[{"imageTag": "one"}], acceptedMediaTypes=[OCI_MANIFEST]
    )
    assert len(accepted["images"]) == 1
    assert error_of(ecr.batch_get_image, repositoryName="img/none", imageIds=[{"imageTag": "x"}])[0] == (
        "RepositoryNotFoundException"
    )


def test_put_image_errors(ecr: Any, shared_server: RunningServer) -> None:
    name = "img/put"
    ecr.create_repository(repositoryName=name)
    rng = random.Random(14)
    image = build_image(rng, layers=2)
    upload_blobs(shared_server, name, image.config, image.layers[0])
    code, message, _ = error_of(put_image, ecr, name, image.manifest, "v1")
    assert code == "LayersNotFoundException" and image.layers[1].digest in message
    upload_blobs(shared_server, name, image.layers[1])

    assert error_of(put_image, ecr, name, image.manifest, "v1", imageDigest=MISSING)[0] == (
        "ImageDigestDoesNotMatchException"
    )
    put_image(ecr, name, image.manifest, "v1", imageDigest=image.manifest.digest)
    assert error_of(put_image, ecr, name, image.manifest, "v1")[0] == "ImageAlreadyExistsException"
    assert error_of(put_image, ecr, name, image.manifest)[0] == "ImageAlreadyExistsException"
    put_image(ecr, name, image.manifest, "v2")  # the same manifest under a new tag is a change

    index = build_index(rng)
    code, _, _ = error_of(put_image, ecr, name, index.index, "multi")
    assert code == "ReferencedImagesNotFoundException"

    # Without a mediaType member, imageManifestMediaType says what the manifest is.
    document = json.loads(image.manifest.data)
    del document["mediaType"]
    bare = Blob(OCI_MANIFEST, encode_json(document))
    assert error_of(put_image, ecr, name, bare, "bare")[0] == "InvalidParameterException"
    typed = put_image(ecr, name, bare, "bare", imageManifestMediaType=OCI_MANIFEST)
    assert typed["imageManifestMediaType"] == OCI_MANIFEST
    assert typed["imageId"]["imageDigest"] == bare.digest
    assert error_of(put_image, ecr, name, image.manifest, "bad tag!")[0] == "InvalidParameterException"
    assert error_of(put_image, ecr, "img/none", image.manifest, "v1")[0] == "RepositoryNotFoundException"


def test_batch_delete_image(ecr: Any, shared_server: RunningServer) -> None:
    name = "img/delete"
    ecr.create_repository(repositoryName=name)
    rng = random.Random(15)
    image, index = build_image(rng, layers=1), build_index(rng)
    push(ecr, shared_server, name, image, "a")
    put_image(ecr, name, image.manifest, "b")
    push(ecr, shared_server, name, index, "multi")
    digest = image.manifest.digest

    removed = ecr.batch_delete_image(repositoryName=name, imageIds=[{"imageTag": "a"}, {"imageTag": "nope"}])
    assert removed["imageIds"] == [{"imageDigest": digest, "imageTag": "a"}]
    assert removed["failures"] == [
        {
            "imageId": {"imageTag": "nope"},
            "failureCode": "ImageNotFound",
            "failureReason": "Requested image not found",
        }
    ]
    assert ids(ecr.list_images(repositoryName=name, filter={"tagStatus": "TAGGED"})) == sorted(
        [(digest, "b"), (index.index.digest, "multi")]
    )
    child = index.images[0].manifest.digest
    refused = ecr.batch_delete_image(repositoryName=name, imageIds=[{"imageDigest": child}])
    assert refused["imageIds"] == []
    assert refused["failures"][0]["failureCode"] == "ImageReferencedByManifestList"
    assert index.index.digest in refused["failures"][0]["failureReason"]

    put_image(ecr, name, image.manifest, "c")
    by_digest = ecr.batch_delete_image(repositoryName=name, imageIds=[{"imageDigest": digest}])
    assert sorted(by_digest["imageIds"], key=str) == [
        {"imageDigest": digest, "imageTag": "b"},
        {"imageDigest": digest, "imageTag": "c"},
    ]
    # Removing an image's last tag removes the image; the index's children stay while it does.
    last = ecr.batch_delete_image(repositoryName=name, imageIds=[{"imageTag": "multi"}])
    assert last["imageIds"] == [{"imageDigest": index.index.digest, "imageTag": "multi"}]
    remaining = {d["imageDigest"] for d in ecr.describe_images(repositoryName=name)["imageDetails"]}
    assert remaining == {i.manifest.digest for i in index.images}
    gone = ecr.batch_delete_image(
        repositoryName=name, imageIds=[{"imageDigest": child}, {"imageDigest": "x:y"}]
    )
    assert gone["imageIds"] == [{"imageDigest": child}]
    assert gone["failures"][0]["failureCode"] == "InvalidImageDigest"
    with shared_server.client() as http:
        assert http.get(f"/v2/{name}/manifests/{digest}").status_code == 404
    missing = error_of(ecr.batch_delete_image, repositoryName="img/none", imageIds=[{"imageTag": "a"}])
    assert missing[0] == "RepositoryNotFoundException"


def test_list_image_referrers(ecr: Any, shared_server: RunningServer) -> None:
    name = "img/referrers"
    ecr.create_repository(repositoryName=name)
    rng = random.Random(16)
    image = build_image(rng, layers=1)
    push(ecr, shared_server, name, image, "v1")
    upload_blobs(shared_server, name, Blob(OCI_EMPTY, b"{}"))
    artifacts = []
    for seed, artifact_type in enumerate(("application/vnd.example.sbom", "application/vnd.example.sig")):
        manifest, layer = referrer(image.manifest, artifact_type, seed)
        upload_blobs(shared_server, name, layer)
        put_image(ecr, name, manifest)
        artifacts.append((manifest, artifact_type))

    found = ecr.list_image_referrers(repositoryName=name, subjectId={"imageDigest": image.manifest.digest})
    expected = sorted(
        (
            {
                "digest": manifest.digest,
                "mediaType": OCI_MANIFEST,
                "artifactType": artifact_type,
                "size": manifest.size,
                "annotations": {"seed": str(seed)},
                "artifactStatus": "ACTIVE",
            }
            for seed, (manifest, artifact_type) in enumerate(artifacts)
        ),
        key=lambda referrer: referrer["digest"],
    )
    assert found["referrers"] == expected and "nextToken" not in found
    sboms = ecr.list_image_referrers(
        repositoryName=name,
        subjectId={"imageDigest": image.manifest.digest},
        filter={"artifactTypes": ["application/vnd.example.sbom"]},
    )
    assert [r["digest"] for r in sboms["referrers"]] == [artifacts[0][0].digest]
    first = ecr.list_image_referrers(
        repositoryName=name, subjectId={"imageDigest": image.manifest.digest}, maxResults=1
    )
    rest = ecr.list_image_referrers(
        repositoryName=name, subjectId={"imageDigest": image.manifest.digest}, nextToken=first["nextToken"]
    )
    assert first["referrers"] + rest["referrers"] == expected
    described = {d["imageDigest"]: d for d in ecr.describe_images(repositoryName=name)["imageDetails"]}
    assert described[artifacts[0][0].digest]["subjectManifestDigest"] == image.manifest.digest
    assert described[artifacts[0][0].digest]["artifactMediaType"] == OCI_EMPTY
    bad_subject = error_of(
        ecr.list_image_referrers, repositoryName=name, subjectId={"imageDigest": "sha256:x"}
    )
    assert bad_subject[0] == "InvalidParameterException"
    assert error_of(
        ecr.list_image_referrers, repositoryName="img/none", subjectId={"imageDigest": image.manifest.digest}
    )[0] == ("RepositoryNotFoundException")


def test_tag_immutability_holds_on_both_apis(ecr: Any, shared_server: RunningServer) -> None:
    name = "img/immutable"
    ecr.create_repository(repositoryName=name)
    rng = random.Random(17)
    first, second = build_image(rng, layers=1), build_image(rng, layers=1)
    push(ecr, shared_server, name, first, "v1")
    push(ecr, shared_server, name, second, None)
    put_image(ecr, name, first.manifest, "dev-1")
    ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")

    assert error_of(put_image, ecr, name, second.manifest, "v1")[0] == "ImageTagAlreadyExistsException"
    with shared_server.client() as http:
        moved = http.put(
            f"/v2/{name}/manifests/v1", content=second.manifest.data, headers={"Content-Type": OCI_MANIFEST}
        )
    assert moved.status_code == 400
    assert moved.json()["errors"][0]["code"] == "TAG_INVALID"
    put_image(ecr, name, second.manifest, "v2")  # new tags are fine

    ecr.put_image_tag_mutability(
        repositoryName=name,
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "dev-*"}],
    )
    put_image(ecr, name, second.manifest, "dev-1")
    assert error_of(put_image, ecr, name, second.manifest, "v1")[0] == "ImageTagAlreadyExistsException"
    [moved_tag] = ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": "dev-1"}])["imageDetails"]
    assert moved_tag["imageDigest"] == second.manifest.digest


def test_image_pushed_with_skopeo_reads_back(
    ecr: Any, shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    name = "img/skopeo"
    rng = random.Random(18)
    image = build_image(rng)
    layout = OciLayout.create(tmp_path / "source")
    layout.add("v1", image)
    skopeo.run(
        "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
        "--dest-creds", f"{shared_server.user}:{shared_server.password}",
        f"oci:{layout.path}:v1", f"docker://{shared_server.registry}/{name}:v1",
    )  # fmt: skip
    [detail] = ecr.describe_images(repositoryName=name)["imageDetails"]
    assert detail["imageDigest"] == image.manifest.digest
    assert detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] == image.config.size + sum(layer.size for layer in image.layers)
    [got] = ecr.batch_get_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])["images"]
    assert got["imageManifest"].encode() == image.manifest.data
    assert got["imageId"] == {"imageDigest": image.manifest.digest, "imageTag": "v1"}
    layers = ecr.batch_check_layer_availability(
        repositoryName=name, layerDigests=[layer.digest for layer in image.layers]
    )["layers"]
    assert [(layer["layerSize"], layer["mediaType"]) for layer in layers] == [
        (layer.size, layer.media_type) for layer in image.layers
    ]


def test_image_mutations_are_audited(server: RunningServer) -> None:
    ecr = aws_client(server, "ecr")
    ecr.create_repository(repositoryName="img/audited")
    image = build_image(random.Random(19), layers=1)
    push(ecr, server, "img/audited", image, "v1")
    ecr.batch_delete_image(repositoryName="img/audited", imageIds=[{"imageTag": "v1"}])
    exported = server.cli("audit", "export").stdout.splitlines()
    actions = [json.loads(line)["event"]["action"] for line in exported]
    assert "ecr:PutImage" in actions and "ecr:BatchDeleteImage" in actions
