"""The blobs of rpm's own "ndb" package database (``usr/lib/sysimage/rpm/Packages.db``,
SUSE 15 and openSUSE), read from its bytes.

The layout (rpm's ``lib/backend/ndb/rpmpkg.c``), all little-endian::

    0        header (32 bytes): "RpmP", version 0, generation, slot pages (u32)
    32       slots of 16 bytes up to ``slot pages`` x 4096: "Slot", package index,
             block offset (0 = a free slot) and block count, in 16-byte blocks
    blocks   "BlbS", package index, generation, blob length; the blob (one rpm
             header); zero padding; then the Adler-32 of all before it, the length
             again and "BlbE", ending on a block boundary

Slots and blobs are bounded by the file, and checked as rpm checks them before use: an
offset past the end, a slot area larger than the file, a block count that is not the
blob's, a blob whose package index disagrees with its slot or whose checksum fails is
an error.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

_MAGIC, _SLOT, _BLOB_START, _BLOB_END = b"RpmP", b"Slot", b"BlbS", b"BlbE"
_PAGE, _BLOCK, _HEADER, _SLOT_SIZE = 4096, 16, 32, 16
_BLOB_HEAD, _BLOB_TAIL = 16, 12


class NdbError(ValueError):
    pass


def is_ndb(data: bytes) -> bool:
    return data[:4] == _MAGIC


def blobs(data: bytes, max_blob: int) -> Iterator[bytes]:
    """Every package's header blob, in slot order; raises ``NdbError``."""
    if len(data) < _HEADER or not is_ndb(data):
        raise NdbError("not an rpm ndb database")
    version, _generation, slot_pages = struct.unpack_from("<III", data, 4)
    if version != 0:
        raise NdbError(f"ndb version {version} is not known")
    if slot_pages == 0 or slot_pages * _PAGE > len(data):
        raise NdbError(f"{slot_pages} slot pages do not fit in {len(data)} bytes")
    produced = 0
    for position in range(_HEADER, slot_pages * _PAGE, _SLOT_SIZE):
        magic, index, offset, count = struct.unpack_from("<4sIII", data, position)
        if magic != _SLOT:
            raise NdbError(f"slot at {position} has no slot magic")
        if offset:
            if offset * _BLOCK < slot_pages * _PAGE:
                raise NdbError(f"package {index} points into the slot area")
            blob = _blob(data, index, offset * _BLOCK, count * _BLOCK, max_blob)
            produced += len(blob)
            if produced > len(data):  # slots sharing blocks would multiply the work
                raise NdbError("the blobs add up to more than the file: slots share blocks")
            yield blob


def _blob(data: bytes, index: int, start: int, size: int, max_blob: int) -> bytes:
    if start + _BLOB_HEAD > len(data) or start + size > len(data):
        raise NdbError(f"package {index} lies past the end of the file")
    magic, owner, _generation, length = struct.unpack_from("<4sIII", data, start)
    if magic != _BLOB_START or owner != index:
        raise NdbError(f"package {index} does not start a blob where its slot points")
    if length > max_blob or size != -(-(_BLOB_HEAD + length + _BLOB_TAIL) // _BLOCK) * _BLOCK:
        raise NdbError(f"package {index} claims {length} bytes, not what its blocks hold")
    tail = start + size - _BLOB_TAIL
    checksum, repeated, end = struct.unpack_from("<II4s", data, tail)
    if end != _BLOB_END or repeated != length:
        raise NdbError(f"package {index} has no blob end marker")
    if zlib.adler32(memoryview(data)[start:tail]) != checksum:
        raise NdbError(f"package {index} fails its checksum")
    return data[start + _BLOB_HEAD : start + _BLOB_HEAD + length]
