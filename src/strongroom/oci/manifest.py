"""Parsing and validating manifests (image-spec manifest.md and image-index.md,
Docker manifest v2 schema 2), without I/O.

The registry stores the exact bytes it was given; this module only reads them to
learn what the manifest refers to and how it appears in the referrers API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strongroom.errors import DigestInvalid, ManifestInvalid
from strongroom.oci import mediatypes
from strongroom.oci.digest import Digest
from strongroom.untrusted import InputRefused, read_json

MAX_SIZE = 2**63 - 1
"""Descriptor sizes are int64 (image-spec descriptor.md)."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    has_urls: bool = False

    @property
    def is_distributable(self) -> bool:
        """Foreign and non-distributable layers are never pushed to a registry."""
        return not self.has_urls and self.media_type not in mediatypes.NONDISTRIBUTABLE_LAYERS


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    digest: Digest
    size: int
    blobs: tuple[Descriptor, ...]
    """Config and layers the repository must hold."""
    children: tuple[Descriptor, ...]
    """Manifests an index lists, which the repository must hold."""
    subject: Digest | None
    artifact_type: str | None
    """The artifactType a referrers listing shows (spec §8.2)."""
    annotations: dict[str, str] | None


def parse_manifest(body: bytes, content_type: str | None, digest: Digest) -> ParsedManifest:
    """Validate ``body`` as a manifest of an accepted type and describe it.

    The media type comes from the body's ``mediaType`` when present, and then the
    request's ``Content-Type`` must agree with it; otherwise from ``Content-Type``.
    """
    document = _load_json(body)
    declared = content_type.split(";", 1)[0].strip() if content_type else None
    media_type = document.get("mediaType")
    if media_type is not None:
        if not isinstance(media_type, str):
            raise ManifestInvalid("mediaType must be a string")
        if declared and declared != media_type:
            raise ManifestInvalid(
                f"Content-Type {declared!r} does not match the manifest mediaType {media_type!r}"
            )
    else:
        media_type = declared
    if media_type is None:
        raise ManifestInvalid("manifest has no mediaType and the request no Content-Type")
    if media_type not in mediatypes.ACCEPTED_MANIFESTS:
        raise ManifestInvalid(f"manifest media type not accepted: {media_type[:200]!r}")
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")

    subject = _optional_descriptor(document, "subject")
    artifact_type = _optional_string(document, "artifactType")
    annotations = _annotations(document)
    if media_type in mediatypes.INDEXES:
        children = tuple(
            _descriptor(d, f"manifests[{i}]") for i, d in enumerate(_list(document, "manifests"))
        )
        return ParsedManifest(
            media_type,
            digest,
            len(body),
            (),
            children,
            subject.digest if subject else None,
            artifact_type,
            annotations,
        )
    config = _descriptor(document.get("config"), "config")
    layers = tuple(_descriptor(d, f"layers[{i}]") for i, d in enumerate(_list(document, "layers")))
    if (
        config.media_type == mediatypes.OCI_EMPTY
        and artifact_type is None
        and media_type == mediatypes.OCI_MANIFEST
    ):
        raise ManifestInvalid("artifactType is required when config is the empty descriptor")
    blobs = (config, *(layer for layer in layers if layer.is_distributable))
    return ParsedManifest(
        media_type,
        digest,
        len(body),
        blobs,
        (),
        subject.digest if subject else None,
        artifact_type or config.media_type,
        annotations,
    )


def _load_json(body: bytes) -> dict[str, Any]:
    try:
        document = read_json(body)
    except InputRefused as error:
        raise ManifestInvalid(f"manifest is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    return document


def _list(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    if not isinstance(value, list):
        raise ManifestInvalid(f"{key} must be a list")
    return value


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType must be a non-empty string")
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where}.digest must be a string")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise ManifestInvalid(f"{where}.size must be an integer from 0 to 2^63-1")
    try:
        parsed = Digest.parse(digest)
    except DigestInvalid as error:
        raise ManifestInvalid(f"{where}.digest: {error.message}") from None
    return Descriptor(media_type, parsed, size, bool(value.get("urls")))


def _optional_descriptor(document: dict[str, Any], key: str) -> Descriptor | None:
    value = document.get(key)
    return None if value is None else _descriptor(value, key)


def _optional_string(document: dict[str, Any], key: str) -> str | None:
    value = document.get(key)
    if value is not None and not isinstance(value, str):
        raise ManifestInvalid(f"{key} must be a string")
    return value or None


def _annotations(document: dict[str, Any]) -> dict[str, str] | None:
    value = document.get("annotations")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestInvalid("annotations must map strings to strings")
    return value
