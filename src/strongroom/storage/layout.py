"""The one place that knows where blob bytes live on a filesystem or in a bucket.

::

    <root>/
      blobs/
        sha256/
          ab/
            abcdef0123…            committed blob, named by its digest; immutable
        sha512/…
      uploads/
        <upload id>                bytes of an upload in progress (32 hex digits)
      trash/
        sha256-abcdef….<t>.<r>     a blob garbage collection set aside at epoch second <t>
                                   (<r>: random), to purge or restore (registry/gc.py)

A committed blob is only ever created by renaming a complete, verified upload, so a
file under ``blobs/`` is always whole; one under ``trash/`` is a whole blob too.
"""

from __future__ import annotations

import re

from strongroom.errors import DigestInvalid
from strongroom.oci.digest import Digest

_UPLOAD_ID = re.compile(r"^[a-f0-9]{32}$")
_TRASH_NAME = re.compile(r"^(?P<algorithm>[a-z0-9]+)-(?P<encoded>[a-f0-9]+)\.(?P<at>[0-9]+)\.[a-f0-9]+$")


def blob_key(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.encoded[:2]}/{digest.encoded}"


def parse_blob_key(key: str) -> Digest | None:
    """The digest a key under ``blobs/`` names; None for anything else (a stray file)."""
    _, algorithm, _, encoded = ([*key.split("/"), "", "", ""])[:4]
    try:
        digest = Digest.parse(f"{algorithm}:{encoded}")
    except DigestInvalid:
        return None
    return digest if blob_key(digest) == key else None


def upload_key(upload_id: str) -> str:
    if _UPLOAD_ID.match(upload_id) is None:
        # Upload ids come from URLs: never let one name a path of its own choosing.
        raise ValueError(f"malformed upload id {upload_id[:64]!r}")
    return f"uploads/{upload_id}"


def is_upload_id(text: str) -> bool:
    return _UPLOAD_ID.match(text) is not None


def trash_key(digest: Digest, set_aside_at: int, token: str) -> str:
    return f"trash/{digest.algorithm}-{digest.encoded}.{set_aside_at}.{token}"


def parse_trash_name(name: str) -> tuple[Digest, int] | None:
    """The digest and epoch second of a name under ``trash/``; None for anything else."""
    match = _TRASH_NAME.match(name)
    if match is None:
        return None
    try:
        digest = Digest.parse(f"{match['algorithm']}:{match['encoded']}")
    except DigestInvalid:
        return None
    return digest, int(match["at"])
