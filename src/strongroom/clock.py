"""Time and identifiers, injected so that rules and tests control them."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class IdFactory(Protocol):
    def new_id(self) -> str: ...


class RandomIdFactory:
    """128 random bits, hex: unguessable, because upload ids appear in URLs."""

    def new_id(self) -> str:
        return secrets.token_hex(16)


def monotonic() -> float:
    return time.monotonic()


class SteppedClock:
    """Tests only (``clock_offset_file``): the system clock plus the seconds written in a
    file, so an end-to-end test steps a running server's time forward (an accepted risk
    expires) without waiting. The file is read again only when it changes."""

    def __init__(self, offset_file: Path) -> None:
        self._file = offset_file
        self._seen: int | None = None
        self._offset = timedelta()

    def now(self) -> datetime:
        try:
            changed = self._file.stat().st_mtime_ns
        except FileNotFoundError:
            changed = None
        if changed != self._seen:
            text = self._file.read_text().strip() if changed is not None else ""
            self._offset = timedelta(seconds=float(text or 0))
            self._seen = changed
        return datetime.now(UTC) + self._offset
