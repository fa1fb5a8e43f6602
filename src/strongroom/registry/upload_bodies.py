"""The bytes of an upload request as they arrive: a chunk's declared range, a limit on
what a chunk may carry, and a body read whole when it is small enough."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from strongroom.errors import SizeInvalid


@dataclass(frozen=True, slots=True)
class ContentRange:
    """An inclusive byte range ``start-end`` as sent in ``Content-Range`` on uploads."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


async def at_most(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[bytes]:
    """Pass through at most ``limit`` bytes; more is an error, after the allowed bytes."""
    remaining = limit
    async for chunk in chunks:
        if len(chunk) > remaining:
            if remaining:
                yield chunk[:remaining]
            raise SizeInvalid(f"chunk is longer than its Content-Range ({limit} bytes)")
        remaining -= len(chunk)
        yield chunk


async def whole_body(
    chunks: AsyncIterable[bytes], limit: int
) -> tuple[list[bytes] | None, AsyncIterable[bytes]]:
    """The whole body, as the chunks received, when it is at most ``limit`` bytes, else
    None; and the chunks to read it all from (those already read, then the rest)."""
    iterator = aiter(chunks)
    read: list[bytes] = []
    size = 0
    while size <= limit:
        try:
            chunk = await anext(iterator)
        except StopAsyncIteration:
            return read, replay(read, None)
        if chunk:
            read.append(chunk)
            size += len(chunk)
    return None, replay(read, iterator)


async def replay(read: list[bytes], rest: AsyncIterator[bytes] | None) -> AsyncIterator[bytes]:
    """``read``, then ``rest``; each chunk of ``read`` is let go of as it is passed on, so
    a long body does not keep its first MiB for as long as it lasts."""
    read.reverse()
    while read:
        yield read.pop()
    if rest is not None:
        async for chunk in rest:
            yield chunk
