"""The SBOM a scan stores as an OCI referrer of the image it scanned (ADR 0016).

Pure: which scanned images get one, the CycloneDX document, and the OCI 1.1 image
manifest that carries it (``artifactType`` CycloneDX, the empty config, one layer, the
image as ``subject``). Storing it is the registry's own push
(:class:`strongroom.registry.sbom_referrers.SbomReferrers`) behind :class:`SbomPublisher`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from strongroom.analysis.inventory import ANALYSER_VERSION
from strongroom.oci import mediatypes
from strongroom.oci.digest import Digest
from strongroom.scanning.engine import ImageScan

ANALYSER_VERSION_ANNOTATION = "dev.strongroom.scan.analyser-version"
"""The analyser version whose inventory the SBOM lists (the layer cache's key)."""
CREATED_BY_ANNOTATION = "dev.strongroom.sbom.created-by"
CREATED_BY = "strongroom-scan"
"""Marks the SBOMs the registry made, which a re-scan replaces; an SBOM a client pushed
under the same artifactType is never touched."""
SBOM_FILE = "sbom.cyclonedx.json"
"""The layer's title: the file ``oras pull`` writes it to."""
PRUNE = "sbom.prune"
"""The job that deletes the registry's SBOMs of a deleted image."""


@dataclass(frozen=True, slots=True)
class Subject:
    """The descriptor of the scanned manifest (image-spec descriptor.md)."""

    media_type: str
    digest: str
    size: int

    def as_json(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True, slots=True)
class Sbom:
    """One platform manifest's SBOM: the document, and the manifest it is published under."""

    subject_digest: str
    document: bytes


class SbomPublisher(Protocol):
    """Stores SBOMs as referrers of their images, replacing the registry's older ones."""

    async def publish(self, account_id: str, repository: str, sboms: list[Sbom]) -> list[str]:
        """The digests of the SBOM manifests now current, one per SBOM."""
        ...


def sboms_of(repository: str, images: list[ImageScan]) -> list[Sbom]:
    """One SBOM per image manifest with at least one layer inventoried (an index gives one
    per platform, each about its platform manifest). A manifest without tar layers (a
    model pushed as files, an SBOM itself) lists no packages and gets none: scanning an
    SBOM never makes another.

    cyclonedx-python-lib (with its serialisers, about 3 MB a process) is imported here,
    when a scan has something to write, not by every server worker (ADR 0017)."""
    from strongroom.analysis.sbom import cyclonedx_json

    return [
        Sbom(
            image.digest,
            cyclonedx_json(image.inventory, f"{repository}@{image.digest}", reproducible=True).encode(),
        )
        for image in images
        if image.layers
    ]


def sbom_manifest(subject: Subject, document: bytes, created: datetime) -> bytes:
    """The referrer's manifest (image-spec manifest.md, "Guidelines for Artifact Usage")."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": mediatypes.CYCLONEDX_JSON,
        "config": {
            "mediaType": mediatypes.OCI_EMPTY,
            "digest": mediatypes.EMPTY_JSON_DIGEST,
            "size": len(mediatypes.EMPTY_JSON),
        },
        "layers": [
            {
                "mediaType": mediatypes.CYCLONEDX_JSON,
                "digest": str(Digest.of(document)),
                "size": len(document),
                "annotations": {mediatypes.ANNOTATION_TITLE: SBOM_FILE},
            }
        ],
        "subject": subject.as_json(),
        "annotations": {
            mediatypes.ANNOTATION_CREATED: created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            ANALYSER_VERSION_ANNOTATION: str(ANALYSER_VERSION),
            CREATED_BY_ANNOTATION: CREATED_BY,
        },
    }
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def is_registry_sbom(annotations: Mapping[str, str]) -> bool:
    """A referrer the registry made (as opposed to one a client pushed)."""
    return annotations.get(CREATED_BY_ANNOTATION) == CREATED_BY


def is_current(annotations: Mapping[str, str], document: bytes, layer_digest: str | None) -> bool:
    """A registry SBOM that already holds exactly ``document``, from this analyser version."""
    return (
        is_registry_sbom(annotations)
        and annotations.get(ANALYSER_VERSION_ANNOTATION) == str(ANALYSER_VERSION)
        and layer_digest == str(Digest.of(document))
    )
