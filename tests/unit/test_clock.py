"""The stepped clock end-to-end tests use: the system clock plus a file's seconds."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from strongroom.clock import SteppedClock


def test_the_stepped_clock_follows_its_file(tmp_path: Path) -> None:
    offset = tmp_path / "offset"
    clock = SteppedClock(offset)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)  # no file: no offset
    offset.write_text(str(31 * 86_400))
    assert clock.now() - datetime.now(UTC) > timedelta(days=30, hours=23)
    offset.write_text("0")
    os.utime(offset, ns=(1, 1))  # a change the same nanosecond would hide: a new mtime
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
