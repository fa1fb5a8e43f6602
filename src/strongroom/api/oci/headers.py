"""Parsing the HTTP headers and query parameters the OCI API uses."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from strongroom.errors import BlobUploadInvalid, PaginationInvalid
from strongroom.registry.blobs import ByteRange
from strongroom.registry.upload_bodies import ContentRange

_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?([0-9]{1,19})-([0-9]{1,19})(?:/(?:[0-9]{1,19}|\*))?$")
_RANGE = re.compile(r"^bytes=([0-9]{0,19})-([0-9]{0,19})$")
# ASCII digits only: str.isdigit() also accepts superscripts (int() refuses them: a 500)
# and other scripts' digits.
_PAGE_SIZE = re.compile(r"^[0-9]{1,9}$")
_DECIMAL = re.compile(r"^[0-9]{1,19}$")

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}


def upload_content_range(value: str | None, content_length: str | None = None) -> ContentRange | None:
    """``Content-Range: <start>-<end>`` of an upload chunk (inclusive).

    A declared ``Content-Length`` must equal the range's length: refusing a mismatch
    before reading the body keeps the upload untouched (distribution refuses it too)."""
    if value is None:
        return None
    match = _CONTENT_RANGE.match(value.strip())
    if match is None:
        raise BlobUploadInvalid(f"malformed Content-Range {value[:100]!r}; expected <start>-<end>")
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise BlobUploadInvalid(f"Content-Range end before start: {value[:100]!r}")
    content_range = ContentRange(start, end)
    declared = content_length.strip() if content_length is not None else ""
    if _DECIMAL.match(declared) and int(declared) != content_range.length:
        raise BlobUploadInvalid(
            f"Content-Length {declared[:20]!r} differs from the {content_range.length} bytes"
            f" of Content-Range {value[:100]!r}"
        )
    return content_range


class RangeNotSatisfiable(Exception):
    pass


def blob_range(value: str | None, total: int) -> ByteRange | None:
    """A single RFC 9110 byte range; None means "the whole blob" (also for forms we
    choose to ignore, such as several ranges). Raises RangeNotSatisfiable."""
    if value is None:
        return None
    match = _RANGE.match(value.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or total == 0:
            raise RangeNotSatisfiable()
        return ByteRange(max(0, total - length), total - 1, total)
    start = int(first)
    end = total - 1 if not last else min(int(last), total - 1)
    if start >= total or (last and int(last) < start):
        raise RangeNotSatisfiable()
    return ByteRange(start, end, total)


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (or is ``*``): the client holds the
    content, so GET and HEAD answer 304 (RFC 9110 §13.1.2, weak comparison)."""
    if if_none_match is None:
        return False
    for candidate in if_none_match.split(",")[:64]:
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def upload_range(size: int) -> str:
    """The ``Range`` of an upload: ``0-<last byte>``, no ``bytes=`` (spec §3); ``0-0`` when empty."""
    return f"0-{max(size - 1, 0)}"


def page_size(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if _PAGE_SIZE.match(value) is None:
        raise PaginationInvalid(f"n must be a non-negative integer, got {value[:20]!r}")
    return int(value)


def next_link(path: str, n: int | None, last: str) -> str:
    query = {"last": last} if n is None else {"n": str(n), "last": last}
    return f'<{quote(path)}?{urlencode(query)}>; rel="next"'
