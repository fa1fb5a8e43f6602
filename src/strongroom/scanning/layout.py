"""Reading an OCI image layout on disk (what ``skopeo copy … oci:DIR:TAG`` writes).

Blobs are read by digest from ``blobs/<algorithm>/<hex>`` and verified as they stream:
a blob whose bytes do not match its digest fails the scan at its end.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from strongroom.scanning.engine import MAX_MANIFEST_BYTES, ScanError

_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$")
_REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class LayoutTarget:
    digest: str
    manifest: bytes
    reference: str


def split_reference(argument: str) -> tuple[Path, str | None]:
    """``PATH[:TAG]``: a colon followed by no slash separates a tag (paths may hold colons)."""
    head, sep, tag = argument.rpartition(":")
    if sep and tag and "/" not in tag and head:
        return Path(head), tag
    return Path(argument), None


class OciLayout:
    def __init__(self, root: Path) -> None:
        if not (root / "oci-layout").is_file() or not (root / "index.json").is_file():
            raise ScanError(f"{root} is not an OCI image layout (no oci-layout and index.json)")
        self.root = root

    def resolve(self, tag: str | None) -> LayoutTarget:
        index = _json(self.root / "index.json")
        manifests = [d for d in index.get("manifests") or [] if isinstance(d, dict)]
        if tag is not None:
            manifests = [d for d in manifests if (d.get("annotations") or {}).get(_REF_NAME) == tag]
            if not manifests:
                raise ScanError(f"no manifest tagged {tag!r} in {self.root}")
        if len(manifests) != 1:
            raise ScanError(f"{self.root} holds {len(manifests)} manifests: name one as PATH:TAG")
        digest = str(manifests[0].get("digest", ""))
        with self.open_blob(digest) as opened:
            data = opened.read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            raise ScanError(f"manifest {digest} exceeds {MAX_MANIFEST_BYTES} bytes")
        return LayoutTarget(digest, data, tag or digest)

    def open_blob(self, digest: str) -> _Verified:
        match = _DIGEST.match(digest)
        if not match:
            raise ScanError(f"not a digest: {digest!r}")
        path = self.root / "blobs" / match[1] / match[2]
        try:
            return _Verified(path.open("rb"), match[1], match[2])
        except OSError as error:
            raise ScanError(f"blob {digest} is missing from the layout: {error.strerror}") from None


def _json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise ScanError(f"{path} is unreadable: {error}") from None
    if not isinstance(document, dict):
        raise ScanError(f"{path} is not a JSON object")
    return document


class _Verified:
    """A blob file whose digest is checked when it has been read to its end."""

    def __init__(self, file: IO[bytes], algorithm: str, expected: str) -> None:
        self.file = file
        self.hash = hashlib.new(algorithm)
        self.expected = expected

    def read(self, size: int = -1, /) -> bytes:
        data = self.file.read(size)
        self.hash.update(data)
        if not data and size != 0 and self.hash.hexdigest() != self.expected:
            raise ScanError(f"blob {self.expected[:12]}… does not match its digest")
        return data

    def readable(self) -> bool:
        return True

    def __enter__(self) -> _Verified:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.file.close()
