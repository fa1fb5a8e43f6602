"""An image's layers as lineage compares them: the diff ids its config names, read with a
size cap from blob storage (one small read per detected image), else its compressed
digests with the reason why (:mod:`strongroom.lineage.chains`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from strongroom.errors import BlobUnknown, DigestInvalid
from strongroom.lineage.chains import DIFF_IDS, DIGESTS, diff_ids, prefix_hashes
from strongroom.oci.digest import Digest
from strongroom.storage.base import BlobReader

IMAGE_CONFIGS = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
"""Container images (image-spec config.md; Docker's image config): artifacts carry others."""
MAX_CONFIG = 2 * 1024 * 1024
"""The largest image config read (real ones are kilobytes: a history entry per layer)."""


@dataclass(frozen=True, slots=True)
class ImageLayers:
    """What an image's chain hashes, and the keys that look up its candidate parents."""

    hashes: list[str]
    """The chain hash of each prefix of the layers compared (diff ids, else digests)."""
    layers_by: str
    """:data:`DIFF_IDS` or :data:`DIGESTS`."""
    by_digest: list[str]
    """The chain hashes of the compressed digests' prefixes (the same list when
    ``layers_by`` is :data:`DIGESTS`): what rows recorded by digest are found by."""
    why_digests: str | None = None

    def lookup(self) -> list[str]:
        """The proper prefixes' hashes of both kinds: the candidate parents' chain hashes."""
        return list(dict.fromkeys([*self.hashes[:-1], *self.by_digest[:-1]]))

    def own(self) -> list[str]:
        """The whole list's hashes of both kinds: what the images built on it start with."""
        return list(dict.fromkeys(h[-1] for h in (self.hashes, self.by_digest) if h))


def manifest_layers(content: bytes) -> tuple[list[str], dict[str, Any]] | None:
    """The layer digests and config descriptor of a container image manifest; None when it
    is not one."""
    try:
        manifest: Any = json.loads(content)
        config = manifest.get("config") or {}
        if config.get("mediaType") not in IMAGE_CONFIGS:
            return None
        layers = [str(layer["digest"]) for layer in manifest.get("layers") or []]
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    return layers, config


async def image_layers(blobs: BlobReader, content: bytes) -> ImageLayers | None:
    """The image's layer chains, by diff id when its config can be read; None when the
    manifest is not a container image's."""
    parsed = manifest_layers(content)
    if parsed is None:
        return None
    digests, config = parsed
    by_digest = prefix_hashes(digests)
    found = await _diff_ids(blobs, config, len(digests)) if digests else "the image has no layers"
    if isinstance(found, str):
        return ImageLayers(by_digest, DIGESTS, by_digest, found)
    return ImageLayers(prefix_hashes(found), DIFF_IDS, by_digest)


async def _diff_ids(blobs: BlobReader, config: dict[str, Any], layer_count: int) -> list[str] | str:
    size = config.get("size")
    if not isinstance(size, int) or size < 0:
        return "the config descriptor has no size"
    if size > MAX_CONFIG:
        return f"the config is larger than {MAX_CONFIG} bytes"
    data = bytearray()
    try:
        async for chunk in blobs.read(Digest.parse(str(config.get("digest", ""))), 0, size):
            data += chunk
            if len(data) > MAX_CONFIG:
                return f"the config is larger than {MAX_CONFIG} bytes"
    except BlobUnknown:
        return "the config blob is not stored"
    except DigestInvalid:
        return "the config descriptor's digest is invalid"
    return diff_ids(bytes(data), layer_count)
