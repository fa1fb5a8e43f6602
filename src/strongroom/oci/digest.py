"""Content digests (image-spec descriptor.md, "Digests")."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from strongroom.errors import DigestInvalid

_DIGEST = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")

# Registered algorithms with the exact form of their encoded part.
_ENCODED = {
    "sha256": re.compile(r"^[a-f0-9]{64}$"),
    "sha512": re.compile(r"^[a-f0-9]{128}$"),
}
SUPPORTED_ALGORITHMS = frozenset(_ENCODED)


class Hasher(Protocol):
    """The part of ``hashlib``'s interface an upload needs."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...

    def copy(self) -> Hasher: ...


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    encoded: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse and validate ``algorithm:encoded``; unknown algorithms are refused,
        because content addressed by them could never be verified."""
        match = _DIGEST.match(text)
        if match is None:
            raise DigestInvalid(f"invalid digest: {text[:200]!r}")
        algorithm, encoded = match.groups()
        pattern = _ENCODED.get(algorithm)
        if pattern is None:
            raise DigestInvalid(f"unsupported digest algorithm: {algorithm[:50]!r}")
        if not pattern.match(encoded):
            raise DigestInvalid(f"invalid {algorithm} digest: {text[:200]!r}")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        hasher = new_hasher(algorithm)
        hasher.update(data)
        return cls(algorithm, hasher.hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    def verify(self, actual: Digest) -> None:
        """DIGEST_INVALID unless the content, which hashed to ``actual``, has this digest."""
        if actual != self:
            raise DigestInvalid(f"content digest {actual} does not match the digest given, {self}")


def new_hasher(algorithm: str) -> Hasher:
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise DigestInvalid(f"unsupported digest algorithm: {algorithm[:50]!r}")
    return hashlib.new(algorithm)


def looks_like_digest(reference: str) -> bool:
    """A manifest reference containing ``:`` is a digest attempt (spec §1); tags cannot."""
    return ":" in reference
