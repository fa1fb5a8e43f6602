"""Layer chains: the identity of a layer list's every prefix, so that finding the images
an image is built on is one indexed lookup of at most twice :data:`MAX_LAYERS` keys, whatever
the number of images stored.

``chain(L1..Lk) = sha256(chain(L1..Lk-1) + "\\n" + Lk)``, with ``chain()`` empty: a rolling
hash, so an image's prefixes cost one hash each. Layers are named by their **diff ids**
(the digests of the uncompressed tars, the config's ``rootfs.diff_ids``, image-spec
config.md), so a base recompressed by another tool or at another level is still the same
chain; when the config cannot be read (absent, too large, malformed, a count that does not
match the manifest's layers) by their compressed digests instead, and the row says so.
A lookup asks for both chains of the image's prefixes: rows recorded either way, and rows
recorded before diff ids were compared, are found.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

MAX_LAYERS = 256
"""The most layers of an image considered (more than any real image has: Docker caps at 127)."""
DIFF_IDS, DIGESTS = "diff_ids", "digests"
"""What a row's chain hashes: the layers' diff ids, or their compressed digests."""
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")


def prefix_hashes(layers: Sequence[str]) -> list[str]:
    """The chain hash of each prefix of ``layers``: element ``k-1`` identifies the first
    ``k`` layers. At most :data:`MAX_LAYERS` of them."""
    found: list[str] = []
    current = ""
    for digest in layers[:MAX_LAYERS]:
        current = hashlib.sha256(f"{current}\n{digest}".encode()).hexdigest()
        found.append(current)
    return found


def chain_hash(layers: Sequence[str]) -> str | None:
    """The chain hash of the whole list (None for an image without layers)."""
    hashes = prefix_hashes(layers)
    return hashes[-1] if hashes else None


def diff_ids(config: bytes, layer_count: int) -> list[str] | str:
    """The ``rootfs.diff_ids`` of an image config, one per layer of its manifest (at most
    :data:`MAX_LAYERS`); otherwise why they cannot be used (a short phrase)."""
    try:
        document: Any = json.loads(config)
    except ValueError:
        return "the config is not JSON"
    rootfs = document.get("rootfs") if isinstance(document, dict) else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list):
        return "the config has no rootfs.diff_ids"
    if len(ids) != layer_count:
        return f"the config names {len(ids)} diff ids for {layer_count} layers"
    if not all(isinstance(i, str) and _DIGEST.match(i) for i in ids):
        return "the config's rootfs.diff_ids are not digests"
    return [str(i) for i in ids[:MAX_LAYERS]]
