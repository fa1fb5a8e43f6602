"""Which image an image is built on.

1. Its manifest's annotations ``org.opencontainers.image.base.name`` and
   ``org.opencontainers.image.base.digest`` (OCI image-spec, pre-defined annotation keys)
   when present: the builder said so.
2. Otherwise the stored image with the longest layer list that is a proper prefix of this
   image's (found by :mod:`.chains`' hashes); among equally long ones, a repository whose
   role is ``base`` first (:data:`.roles.PARENT_PREFERENCE`), then a tagged image, then the
   first pushed (the original rather than a later copy), then by name, so the choice is
   the same on every run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from strongroom.lineage.roles import PARENT_PREFERENCE

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
MAX_NAME = 512


@dataclass(frozen=True, slots=True)
class AnnotatedBase:
    """The base an image's annotations name."""

    name: str
    """As annotated (``registry.example/base/python:3.11``)."""
    host: str | None
    account_id: str | None
    """A 12-digit first path component (this registry's addressing of another account)."""
    repository: str
    tag: str | None
    digest: str | None


def annotated_base(annotations: Mapping[str, str] | None) -> AnnotatedBase | None:
    """The base named by ``annotations``, or None when they name none or name it badly."""
    if not annotations:
        return None
    name = annotations.get(BASE_NAME)
    digest = annotations.get(BASE_DIGEST)
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        return None
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        digest = None
    rest, at, pinned = name.partition("@")
    if at and digest is None and _DIGEST.match(pinned):
        digest = pinned
    host = None
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, rest = first, remainder
    path, tag = rest, None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = rest[: len(rest) - len(last)] + last.split(":", 1)[0], last.split(":", 1)[1] or None
    account = None
    first, slash, remainder = path.partition("/")
    if slash and _ACCOUNT.match(first):
        account, path = first, remainder
    if not path:
        return None
    return AnnotatedBase(name, host, account, path, tag, digest)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored image whose whole layer list this image's starts with."""

    repository_id: int
    account_id: str
    repository: str
    digest: str
    layer_count: int
    role: str | None
    tagged: bool
    pushed_at: datetime
    pushed_tag: str | None = None
    """The tag it was pushed with (what was built from it, when no tag names it now)."""


def choose_parent(
    candidates: Sequence[Candidate], layer_count: int, itself: tuple[int, str]
) -> Candidate | None:
    """The parent among ``candidates`` of an image of ``layer_count`` layers (``itself``:
    its repository id and digest, never its own parent): the longest proper prefix, then
    by role, tag, age and name."""
    eligible = [
        c for c in candidates if 0 < c.layer_count < layer_count and (c.repository_id, c.digest) != itself
    ]
    if not eligible:
        return None
    return min(
        eligible,
        key=lambda c: (
            -c.layer_count,
            PARENT_PREFERENCE.get(c.role or "", len(PARENT_PREFERENCE)),
            not c.tagged,
            c.pushed_at,
            c.account_id,
            c.repository,
            c.digest,
        ),
    )
