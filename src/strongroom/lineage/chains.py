"""Layer chains: the identity of a layer list's every prefix, so that finding the images
an image is built on is one indexed lookup of at most :data:`MAX_LAYERS` keys, whatever
the number of images stored.

``chain(L1..Lk) = sha256(chain(L1..Lk-1) + "\\n" + Lk)``, with ``chain()`` empty: a rolling
hash, so an image's prefixes cost one hash each. Layers are named by their (compressed)
digests: the registry stores no diff ids, and a builder that reuses a base pushes the
base's layer blobs unchanged, so the digests are shared exactly where the layers are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

MAX_LAYERS = 256
"""The most layers of an image considered (more than any real image has: Docker caps at 127)."""


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
