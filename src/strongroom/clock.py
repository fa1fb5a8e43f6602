"""Time and identifiers, injected so that rules and tests control them."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
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
