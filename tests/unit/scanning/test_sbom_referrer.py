"""The SBOM referrer's manifest and document (pure), and that SBOMs are not scanned on push."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from strongroom.analysis.inventory import ANALYSER_VERSION, Inventory, Located
from strongroom.analysis.packages.model import Kind, OsRelease, Package
from strongroom.clock import RandomIdFactory
from strongroom.events.outbox import ImageDeletionOutbox
from strongroom.metadata.outbox import ImageDeletion, ManifestChange
from strongroom.oci import mediatypes
from strongroom.oci.digest import Digest
from strongroom.oci.manifest import parse_manifest
from strongroom.scanning.engine import ImageScan
from strongroom.scanning.on_push import scan_on_push
from strongroom.scanning.sbom_referrer import (
    ANALYSER_VERSION_ANNOTATION,
    PRUNE,
    Subject,
    is_current,
    is_registry_sbom,
    sbom_manifest,
    sboms_of,
)

NOW = datetime(2026, 12, 5, 8, 30, 15, 123456, tzinfo=UTC)
IMAGE = "sha256:" + "a" * 64
LAYER = "sha256:" + "b" * 64
SUBJECT = Subject(mediatypes.OCI_MANIFEST, IMAGE, 1234)


def scanned(digest: str = IMAGE, *, layers: bool = True) -> ImageScan:
    inventory = Inventory(
        OsRelease("debian", "12"),
        [
            Located(LAYER, Package(Kind.DEB, "libc6", "2.36-9+deb12u4", "var/lib/dpkg/status", arch="amd64")),
            Located(LAYER, Package(Kind.NPM, "lodash", "4.17.20", "app/node_modules/lodash/package.json")),
        ],
    )
    return ImageScan(digest, "", inventory, [LAYER] if layers else [])


def test_the_manifest_is_an_oci_1_1_artifact_whose_subject_is_the_image() -> None:
    document = b'{"bomFormat": "CycloneDX"}'
    body = sbom_manifest(SUBJECT, document, NOW)
    parsed = parse_manifest(body, mediatypes.OCI_MANIFEST, Digest.of(body))
    assert parsed.artifact_type == mediatypes.CYCLONEDX_JSON
    assert parsed.subject == Digest.parse(IMAGE)
    manifest = json.loads(body)
    assert manifest["config"] == {
        "mediaType": mediatypes.OCI_EMPTY,
        "digest": str(Digest.of(b"{}")),
        "size": 2,
    }
    assert manifest["layers"] == [
        {
            "mediaType": mediatypes.CYCLONEDX_JSON,
            "digest": str(Digest.of(document)),
            "size": len(document),
            "annotations": {"org.opencontainers.image.title": "sbom.cyclonedx.json"},
        }
    ]
    assert manifest["subject"] == {"mediaType": mediatypes.OCI_MANIFEST, "digest": IMAGE, "size": 1234}
    assert manifest["annotations"]["org.opencontainers.image.created"] == "2026-12-05T08:30:15Z"
    assert manifest["annotations"][ANALYSER_VERSION_ANNOTATION] == ANALYSER_VERSION
    assert is_registry_sbom(manifest["annotations"])
    assert is_current(manifest["annotations"], document, str(Digest.of(document)))
    assert not is_current(manifest["annotations"], document + b" ", str(Digest.of(document)))
    assert not is_current({**manifest["annotations"], ANALYSER_VERSION_ANNOTATION: "0"}, document, None)
    assert not is_registry_sbom({"org.opencontainers.image.created": "2026-01-01T00:00:00Z"})


def test_the_document_is_cyclonedx_with_purls_and_the_same_bytes_for_the_same_inventory() -> None:
    [first] = sboms_of("team/app", [scanned()])
    [again] = sboms_of("team/app", [scanned()])
    assert first.document == again.document
    assert first.subject_digest == IMAGE
    bom = json.loads(first.document)
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["specVersion"] == "1.6"
    assert "timestamp" not in bom["metadata"]
    assert bom["metadata"]["component"]["name"] == f"team/app@{IMAGE}"
    assert {c["purl"] for c in bom["components"]} == {
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12",
        "pkg:npm/lodash@4.17.20",
    }
    [other] = sboms_of("team/app", [scanned("sha256:" + "c" * 64)])
    assert json.loads(other.document)["serialNumber"] != bom["serialNumber"]


def test_only_images_with_an_inventoried_layer_get_an_sbom() -> None:
    platforms = [scanned("sha256:" + "1" * 64), scanned("sha256:" + "2" * 64), scanned(layers=False)]
    assert [sbom.subject_digest for sbom in sboms_of("team/app", platforms)] == [
        "sha256:" + "1" * 64,
        "sha256:" + "2" * 64,
    ]


def test_only_the_registrys_own_sbom_skips_the_scan_on_push() -> None:
    """What a client's manifest claims to be spares it nothing: a pickle labelled CycloneDX
    must not pass the pull policies unscanned (tests/e2e/test_pull_gate_referrers.py)."""

    def change(artifact_type: str | None, made_by_registry: bool = False) -> ManifestChange:
        return ManifestChange(
            "123456789012", "team/app", "sha256:" + "d" * 64, mediatypes.OCI_MANIFEST,
            None, True, artifact_type, IMAGE, NOW, scan_on_push=True, made_by_registry=made_by_registry,
        )  # fmt: skip

    assert scan_on_push(change(mediatypes.CYCLONEDX_JSON, made_by_registry=True)) is None
    for artifact_type in (mediatypes.CYCLONEDX_JSON, "application/vnd.example.signature", None):
        assert scan_on_push(change(artifact_type)) is not None, artifact_type


def test_deleting_a_manifest_queues_the_prune_of_its_sboms_and_removing_a_tag_does_not() -> None:
    outbox = ImageDeletionOutbox(RandomIdFactory(), 4, prune_kind=PRUNE)

    def deletion(manifest_deleted: bool) -> ImageDeletion:
        return ImageDeletion("123456789012", "team/app", IMAGE, ("v1",), manifest_deleted, NOW)

    [job] = outbox(deletion(True)).jobs
    assert (job.kind, dict(job.payload)) == (
        "sbom.prune",
        {"account_id": "123456789012", "repository": "team/app", "digest": IMAGE},
    )
    assert outbox(deletion(False)).jobs == []
