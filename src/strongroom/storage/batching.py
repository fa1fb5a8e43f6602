"""Group a byte stream into batches, so each hand-off to a worker thread moves
about 1 MiB rather than one network read (a few KiB)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

BATCH_BYTES = 1024 * 1024


async def batches(chunks: AsyncIterable[bytes], limit: int = BATCH_BYTES) -> AsyncIterator[list[bytes]]:
    """Yield lists of chunks of about ``limit`` bytes.

    If the source fails (a client disconnect), the bytes received before the failure
    are yielded first and the error is raised after, so no received byte is lost.
    """
    pending: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            pending.append(chunk)
            size += len(chunk)
            if size >= limit:
                yield pending
                pending, size = [], 0
    except Exception:
        if pending:
            yield pending
        raise
    if pending:
        yield pending
