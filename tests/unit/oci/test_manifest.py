from __future__ import annotations

import json

import pytest

from strongroom.errors import ManifestInvalid
from strongroom.oci import mediatypes
from strongroom.oci.digest import Digest
from strongroom.oci.manifest import parse_manifest

CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "c" * 64, "size": 2}
LAYER = {
    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
    "digest": "sha256:" + "1" * 64,
    "size": 9,
}


def parse(document: object, content_type: str | None = mediatypes.OCI_MANIFEST):  # type: ignore[no-untyped-def]
    body = json.dumps(document).encode()
    return parse_manifest(body, content_type, Digest.of(body))


def image(**extra: object) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": CONFIG,
        "layers": [LAYER],
        **extra,
    }


def test_image_manifest_lists_its_blobs() -> None:
    parsed = parse(image())
    assert parsed.media_type == mediatypes.OCI_MANIFEST
    assert [str(d.digest) for d in parsed.blobs] == [CONFIG["digest"], LAYER["digest"]]
    assert parsed.children == ()
    assert parsed.artifact_type == CONFIG["mediaType"]  # referrers: config type when no artifactType


def test_subject_artifact_type_and_annotations() -> None:
    subject = {"mediaType": mediatypes.OCI_MANIFEST, "digest": "sha256:" + "5" * 64, "size": 10}
    parsed = parse(image(subject=subject, artifactType="application/x.sig", annotations={"k": "v"}))
    assert str(parsed.subject) == subject["digest"]
    assert parsed.artifact_type == "application/x.sig"
    assert parsed.annotations == {"k": "v"}


def test_index_lists_children_and_no_blobs() -> None:
    child = {"mediaType": mediatypes.OCI_MANIFEST, "digest": "sha256:" + "9" * 64, "size": 100}
    parsed = parse(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [child]}, mediatypes.OCI_INDEX
    )
    assert [str(d.digest) for d in parsed.children] == [child["digest"]]
    assert parsed.blobs == ()
    assert parsed.artifact_type is None


def test_media_type_comes_from_content_type_when_the_body_has_none() -> None:
    document = image()
    del document["mediaType"]
    assert parse(document, mediatypes.OCI_MANIFEST + "; charset=utf-8").media_type == mediatypes.OCI_MANIFEST


def test_foreign_and_nondistributable_layers_need_not_be_pushed() -> None:
    foreign = {
        **LAYER,
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "urls": ["x"],
    }
    docker = image(mediaType=mediatypes.DOCKER_MANIFEST, layers=[LAYER, foreign])
    parsed = parse(docker, mediatypes.DOCKER_MANIFEST)
    assert [str(d.digest) for d in parsed.blobs] == [CONFIG["digest"], LAYER["digest"]]


@pytest.mark.parametrize(
    ("document", "content_type", "message"),
    [
        (image(), mediatypes.DOCKER_MANIFEST, "does not match"),
        ({**image(), "mediaType": mediatypes.DOCKER_SCHEMA1}, mediatypes.DOCKER_SCHEMA1, "not accepted"),
        ({**image(), "schemaVersion": 1}, mediatypes.OCI_MANIFEST, "schemaVersion"),
        ({**image(), "layers": "nope"}, mediatypes.OCI_MANIFEST, "layers must be a list"),
        ({**image(), "config": {**CONFIG, "size": -1}}, mediatypes.OCI_MANIFEST, "size"),
        ({**image(), "config": {**CONFIG, "size": True}}, mediatypes.OCI_MANIFEST, "size"),
        ({**image(), "config": {**CONFIG, "digest": "sha256:zz"}}, mediatypes.OCI_MANIFEST, "config.digest"),
        ({**image(), "annotations": {"a": 1}}, mediatypes.OCI_MANIFEST, "annotations"),
        (
            {**image(), "config": {**CONFIG, "mediaType": mediatypes.OCI_EMPTY}},
            mediatypes.OCI_MANIFEST,
            "artifactType is required",
        ),
        ([], mediatypes.OCI_MANIFEST, "JSON object"),
        ({"schemaVersion": 2}, None, "no mediaType"),
    ],
)
def test_invalid_manifests(document: object, content_type: str | None, message: str) -> None:
    with pytest.raises(ManifestInvalid, match=message):
        parse(document, content_type)


def test_bytes_that_are_not_json() -> None:
    for body in (b"\xff\xfe", b"{", b"[" * 100_000):
        with pytest.raises(ManifestInvalid):
            parse_manifest(body, mediatypes.OCI_MANIFEST, Digest.of(body))
