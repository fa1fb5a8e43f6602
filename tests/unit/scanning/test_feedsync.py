"""Downloading OSV archives: conditional, resumable, verified."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from strongroom.scanning.feedsync import SyncError, sync
from support import osv
from support.feedserver import Feed, serving


def test_a_second_sync_of_an_unchanged_archive_is_one_conditional_request(tmp_path: Path) -> None:
    feed = Feed(osv.all_zip())
    with serving(feed) as url:
        first = sync(url, tmp_path)
        second = sync(url, tmp_path)
    assert (first.status, first.bytes, first.path.read_bytes() == feed.body) == (
        "downloaded",
        len(feed.body),
        True,
    )
    assert second.status == "not-modified"
    assert feed.requests[1]["If-None-Match"] == feed.etag


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path: Path) -> None:
    feed = Feed(osv.all_zip(), cut_after=2000)
    with serving(feed) as url:
        with pytest.raises(SyncError, match="after 2000 of"):
            sync(url, tmp_path)
        resumed = sync(url, tmp_path)
    assert resumed.status == "resumed"
    assert resumed.bytes == len(feed.body) - 2000
    assert feed.requests[1]["Range"] == "bytes=2000-"
    assert resumed.path.read_bytes() == feed.body


def test_a_changed_archive_is_fetched_again(tmp_path: Path) -> None:
    feed = Feed(osv.all_zip())
    with serving(feed) as url:
        sync(url, tmp_path)
        feed.body = feed.body + b""  # same bytes: not modified
        assert sync(url, tmp_path).status == "not-modified"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("GHSA-new.json", b"{}")
        feed.body = buffer.getvalue()
        again = sync(url, tmp_path)
    assert again.status == "downloaded"
    assert again.path.read_bytes() == feed.body


def test_a_corrupt_archive_is_refused_and_the_previous_copy_kept(tmp_path: Path) -> None:
    good = osv.all_zip()
    feed = Feed(good)
    with serving(feed) as url:
        kept = sync(url, tmp_path).path
        damaged = bytearray(good)
        damaged[100] ^= 0xFF  # inside the first member's compressed data: its CRC fails
        feed.body = bytes(damaged)
        with pytest.raises(SyncError, match="previous copy is kept"):
            sync(url, tmp_path)
    assert kept.read_bytes() == good


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.invalid/all.zip"])
def test_only_http_and_https_are_fetched(tmp_path: Path, url: str) -> None:
    with pytest.raises(SyncError, match="only http and https"):
        sync(url, tmp_path)
