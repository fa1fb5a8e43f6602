"""The values of a Berkeley DB hash database, read from its bytes without libdb.

rpm before 4.16 (RHEL/CentOS 7 and 8, Amazon Linux 2) keeps one header blob per package
as a value in ``var/lib/rpm/Packages``, a hash database keyed by package number. The
layout (libdb's ``dbinc/db_page.h``)::

    page 0   metadata: magic 0x061561 at 12 (its byte order is the database's),
             page size at 20, page type 8 at 25, last page number at 32
    page n   26-byte header: page number at 8, next page at 16, entries (u16) at 20,
             bytes used (u16) at 22, type at 25; then ``entries`` u16 offsets of items
    hash page (type 13, or 2 before libdb 4.6): items alternate key, value; an item's
             first byte says what it is: 1 the bytes follow inline, 3 "off page":
             3 unused bytes, first overflow page (u32), total length (u32)
    overflow page (type 7): data from byte 26, ``bytes used`` of it, chained by ``next``

Every page and every chain is bounded by the file: a page number past its end, a chain
that visits a page twice, a length that disagrees with the chain, or values adding up to
more than the file (chains shared between items) is an error, never a hang.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

HASH_MAGIC = 0x061561
_PAGE_SIZES = frozenset(1 << shift for shift in range(9, 17))
_HEADER = 26
_HASH_METADATA, _HASH, _HASH_UNSORTED, _OVERFLOW = 8, 13, 2, 7
_KEYDATA, _OFFPAGE = 1, 3


class BerkeleyDbError(ValueError):
    pass


def is_hash_database(data: bytes) -> bool:
    return len(data) >= 512 and _byte_order(data) is not None


def hash_values(data: bytes, max_value: int) -> Iterator[bytes]:
    """Every value in the database, in page order; raises ``BerkeleyDbError``."""
    order = _byte_order(data)
    if order is None:
        raise BerkeleyDbError("not a Berkeley DB hash database")
    page_size, page_type = struct.unpack_from(order + "I", data, 20)[0], data[25]
    if page_size not in _PAGE_SIZES or page_type != _HASH_METADATA:
        raise BerkeleyDbError(f"page size {page_size} or metadata type {page_type} is not a hash database's")
    if data[24]:
        raise BerkeleyDbError("the database is encrypted")
    pages, produced = len(data) // page_size, 0
    for number in range(1, pages):
        page = memoryview(data)[number * page_size : (number + 1) * page_size]
        if page[25] in (_HASH, _HASH_UNSORTED):
            for value in _page_values(data, page, order, page_size, max_value):
                # Every page belongs to one value, so the values never add up to more than
                # the file: items sharing one long chain would otherwise multiply the work.
                produced += len(value)
                if produced > len(data):
                    raise BerkeleyDbError("the values add up to more than the file: pages are shared")
                yield value


def _byte_order(data: bytes) -> str | None:
    if len(data) < 512:
        return None
    for order in ("<", ">"):
        if struct.unpack_from(order + "I", data, 12)[0] == HASH_MAGIC:
            return order
    return None


def _page_values(
    data: bytes, page: memoryview, order: str, page_size: int, max_value: int
) -> Iterator[bytes]:
    entries = struct.unpack_from(order + "H", page, 20)[0]
    if _HEADER + 2 * entries > page_size:
        raise BerkeleyDbError("a hash page holds more entries than fit")
    offsets = struct.unpack_from(f"{order}{entries}H", page, _HEADER)
    for index in range(1, entries, 2):  # keys at even indexes, values at odd ones
        start = offsets[index]
        # Items are packed from the end of the page down: one ends where the one before begins.
        end = offsets[index - 1]
        if not _HEADER + 2 * entries <= start < end <= page_size:
            raise BerkeleyDbError("a hash item lies outside its page")
        kind = page[start]
        if kind == _KEYDATA:
            yield bytes(page[start + 1 : end])
        elif kind == _OFFPAGE:
            if end - start < 12:
                raise BerkeleyDbError("an off-page item is truncated")
            first, length = struct.unpack_from(order + "II", page, start + 4)
            yield _overflow(data, first, length, order, page_size, max_value)


def _overflow(data: bytes, first: int, length: int, order: str, page_size: int, max_value: int) -> bytes:
    if length > max_value:
        raise BerkeleyDbError(f"a value claims {length} bytes, more than {max_value}")
    pages = len(data) // page_size
    chunks: list[bytes] = []
    collected, number, visited = 0, first, set()
    while number != 0:
        if not 0 < number < pages or number in visited:
            raise BerkeleyDbError(f"an overflow chain reaches page {number} twice or past the end")
        visited.add(number)
        base = number * page_size
        if data[base + 25] != _OVERFLOW:
            raise BerkeleyDbError(f"page {number} in an overflow chain is not an overflow page")
        following, used = (
            struct.unpack_from(order + "I", data, base + 16)[0],
            struct.unpack_from(order + "H", data, base + 22)[0],
        )
        if used > page_size - _HEADER or collected + used > length:
            raise BerkeleyDbError("an overflow chain holds more bytes than its value")
        chunks.append(data[base + _HEADER : base + _HEADER + used])
        collected += used
        number = following
    if collected != length:
        raise BerkeleyDbError(f"an overflow chain holds {collected} bytes, not {length}")
    return b"".join(chunks)
