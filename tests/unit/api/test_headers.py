from __future__ import annotations

import pytest

from strongroom.api.oci.headers import (
    RangeNotSatisfiable,
    blob_range,
    next_link,
    not_modified,
    page_size,
    upload_content_range,
    upload_range,
)
from strongroom.errors import BlobUploadInvalid, PaginationInvalid
from strongroom.registry.blobs import ByteRange
from strongroom.registry.upload_bodies import ContentRange


def test_upload_content_range() -> None:
    assert upload_content_range(None) is None
    assert upload_content_range("0-21") == ContentRange(0, 21)
    assert upload_content_range("bytes 22-41/*") == ContentRange(22, 41)
    for bad in ("", "a-b", "5-4", "-3", "0-", "1-2-3", "9" * 30 + "-1"):
        with pytest.raises(BlobUploadInvalid):
            upload_content_range(bad)


def test_upload_range_has_no_bytes_prefix() -> None:
    assert upload_range(0) == "0-0"
    assert upload_range(22) == "0-21"


def test_blob_ranges() -> None:
    assert blob_range(None, 100) is None
    assert blob_range("bytes=0-9", 100) == ByteRange(0, 9, 100)
    assert blob_range("bytes=90-", 100) == ByteRange(90, 99, 100)
    assert blob_range("bytes=90-500", 100) == ByteRange(90, 99, 100)
    assert blob_range("bytes=-10", 100) == ByteRange(90, 99, 100)
    assert blob_range("bytes=0-1,5-6", 100) is None  # several ranges: serve it all
    assert blob_range("items=0-1", 100) is None
    for bad in ("bytes=100-", "bytes=5-4", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            blob_range(bad, 100)


def test_page_size_and_links() -> None:
    assert page_size(None) is None
    assert page_size("0") == 0
    for bad in ("-1", "x", "1" * 12):
        with pytest.raises(PaginationInvalid):
            page_size(bad)
    assert next_link("/v2/a/b/tags/list", 2, "v1") == '</v2/a/b/tags/list?n=2&last=v1>; rel="next"'
    assert next_link("/v2/_catalog", None, "a/b") == '</v2/_catalog?last=a%2Fb>; rel="next"'


ETAG = '"sha256:' + "a" * 64 + '"'


@pytest.mark.parametrize(
    ("if_none_match", "expected"),
    [
        (None, False),
        ("", False),
        (ETAG, True),
        ("*", True),
        (f"W/{ETAG}", True),  # weak comparison (RFC 9110 §13.1.2)
        (f'"sha256:{"b" * 64}", {ETAG}', True),
        (f'"sha256:{"b" * 64}"', False),
        (ETAG[1:-1], False),  # an entity tag is quoted
        (", ".join(['"x"'] * 64 + [ETAG]), False),  # only the first 64 candidates are read
    ],
)
def test_not_modified(if_none_match: str | None, expected: bool) -> None:
    assert not_modified(if_none_match, ETAG) is expected
