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

A committed blob is only ever created by renaming a complete, verified upload, so a
file under ``blobs/`` is always whole.
"""

from __future__ import annotations

import re

from strongroom.oci.digest import Digest

_UPLOAD_ID = re.compile(r"^[a-f0-9]{32}$")


def blob_key(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.encoded[:2]}/{digest.encoded}"


def upload_key(upload_id: str) -> str:
    if _UPLOAD_ID.match(upload_id) is None:
        # Upload ids come from URLs: never let one name a path of its own choosing.
        raise ValueError(f"malformed upload id {upload_id[:64]!r}")
    return f"uploads/{upload_id}"


def is_upload_id(text: str) -> bool:
    return _UPLOAD_ID.match(text) is not None
