"""The reader role every analyser takes, and a way to put back bytes read to sniff."""

from __future__ import annotations

from typing import Protocol


class Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Prefixed:
    """``head`` (already read) followed by the rest of ``stream``."""

    def __init__(self, head: bytes, stream: Reader) -> None:
        self.head = head
        self.stream = stream

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            data, self.head = self.head + self.stream.read(), b""
            return data
        first, self.head = self.head[:size], self.head[size:]
        return first + (self.stream.read(size - len(first)) if size > len(first) else b"")


def read_bounded(stream: Reader, limit: int) -> bytes | None:
    """All of ``stream``, or None when it holds more than ``limit`` bytes."""
    data = stream.read(limit + 1)
    return None if len(data) > limit else data
