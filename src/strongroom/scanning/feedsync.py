"""Fetching OSV archives (osv.dev's per-ecosystem ``all.zip``) for sites that may fetch.

Each URL has a file in the download directory, named by a hash of the URL, and a small
JSON sidecar with the validators the server gave (``ETag``, ``Last-Modified``):

- conditional: a second sync sends ``If-None-Match``/``If-Modified-Since``, and a 304
  costs one request and no import;
- resumable: bytes arrive in ``<name>.part``; an interrupted download continues with
  ``Range`` (and ``If-Range``, so a changed file restarts rather than splices);
- verified: the length the server announced, and every member's CRC in the zip, are
  checked before the file replaces the previous one; a failed check keeps the old file.
Only http and https URLs are fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_CHUNK = 1024 * 1024


class SyncError(Exception):
    """A download that could not be completed or verified, with the reason."""


@dataclass(frozen=True)
class SyncResult:
    url: str
    status: str
    """``downloaded``, ``resumed`` or ``not-modified``."""
    path: Path
    bytes: int


def sync(url: str, directory: Path, timeout: float = 60.0) -> SyncResult:
    if urlsplit(url).scheme not in ("http", "https"):
        raise SyncError(f"{url}: only http and https URLs are fetched")
    directory.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(url.encode()).hexdigest()[:24]
    final, part, sidecar = (directory / f"{name}.zip", directory / f"{name}.part", directory / f"{name}.json")
    known = _read_json(sidecar)
    headers = _request_headers(final, part, known)
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked above
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as error:
        if error.code == 304 and final.exists():
            return SyncResult(url, "not-modified", final, 0)
        if error.code == 416:  # our partial file no longer fits the resource: start over
            part.unlink(missing_ok=True)
            return sync(url, directory, timeout)
        raise SyncError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise SyncError(f"{url}: {getattr(error, 'reason', error)}") from None
    with response:
        resumed = response.status == 206 and part.exists()
        received = _receive(response, part, append=resumed)
        validators = {
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
        }
    _verify(url, part)
    os.replace(part, final)
    sidecar.write_text(json.dumps({"url": url, **validators}))
    return SyncResult(url, "resumed" if resumed else "downloaded", final, received)


def _request_headers(final: Path, part: Path, known: dict[str, Any]) -> dict[str, str]:
    headers = {"User-Agent": "strongroom-vulndb-sync"}
    if part.exists() and part.stat().st_size > 0:
        headers["Range"] = f"bytes={part.stat().st_size}-"
        if known.get("partial_etag"):
            headers["If-Range"] = known["partial_etag"]
    elif final.exists():
        if known.get("etag"):
            headers["If-None-Match"] = known["etag"]
        if known.get("last_modified"):
            headers["If-Modified-Since"] = known["last_modified"]
    return headers


def _receive(response: Any, part: Path, append: bool) -> int:
    """Stream the body into the part file; the announced length must arrive whole."""
    expected = response.headers.get("Content-Length")
    received = 0
    sidecar = part.with_suffix(".json")
    etag = response.headers.get("ETag")
    if etag:  # remembered so a resumed download asks If-Range against the same version
        known = _read_json(sidecar)
        sidecar.write_text(json.dumps({**known, "partial_etag": etag}))
    with part.open("ab" if append else "wb") as out:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            received += len(chunk)
    if expected is not None and expected.isdigit() and received != int(expected):
        raise SyncError(f"connection ended after {received} of {expected} bytes; sync again to resume")
    return received


def _verify(url: str, part: Path) -> None:
    try:
        with zipfile.ZipFile(part) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
        part.unlink(missing_ok=True)
        raise SyncError(
            f"{url}: the download is not a readable zip ({error}); the previous copy is kept"
        ) from None
    if broken is not None:
        part.unlink(missing_ok=True)
        raise SyncError(f"{url}: member {broken} fails its CRC check; the previous copy is kept")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}
