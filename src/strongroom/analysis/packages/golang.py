"""Go binaries: the build information the linker embeds, read without running the binary,
as Go's own ``debug/buildinfo`` reads it.

``\xff Go buildinf:`` (16-byte aligned) starts a 32-byte header whose byte 14 is the
pointer size and byte 15 the flags:

- since Go 1.18 (flag 0x2) two varint-prefixed strings follow the header: the Go
  version and the module information;
- before (flags 0, or 1 for big-endian), two pointers follow at byte 16: the virtual
  addresses of the Go string headers (data pointer, length) of ``runtime.buildVersion``
  and ``runtime.modinfo``. Addresses map to file offsets through the ELF program
  headers (or a Windows executable's sections); the strings themselves sit in read-only
  data, before the header in the file.

The module information sits between two 16-byte sentinels; its lines are ``path``,
``mod``, ``dep`` and ``=>`` (a replacement of the line before).

The binary is read once, forward, in chunks; the last ``LOOK_BACK`` bytes stay in memory
so that the pointers of an old binary can be followed back into its read-only data.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from strongroom.analysis.packages.model import Kind, Package
from strongroom.analysis.streams import Reader

MAGIC = b"\xff Go buildinf:"
LOOK_BACK = 64 * 1024 * 1024
_CHUNK = 4 * 1024 * 1024
_MAX_STRING = 1024 * 1024
_HEADERS = 64 * 1024
_MAX_CANDIDATES = 64


def read_build_info(path: str, stream: Reader) -> list[Package]:
    """The Go toolchain and modules of an executable, or nothing if it is not Go's."""
    source = _Source(stream)
    head = source.upto(0, _HEADERS)
    segments = _elf_segments(head) or _pe_sections(head)
    position = 0
    for _ in range(_MAX_CANDIDATES):  # the magic can also appear as data (debug/buildinfo's own)
        found = source.find(MAGIC, position)
        if found is None:
            return []
        position = found + 1
        header = source.upto(found, 32)
        if found % 16 or len(header) < 32:
            continue
        if header[15] & 0x2:
            strings = _inline_strings(source, found)
        else:
            strings = _pointed_strings(source, segments, header)
        if strings is not None and strings[0]:
            return _packages(path, *strings)
    return []


def _packages(path: str, version: bytes, modinfo: bytes) -> list[Package]:
    packages = []
    go_version = version.decode("utf-8", "replace")
    if go_version.startswith("go"):
        packages.append(Package(Kind.GOLANG, "stdlib", go_version[2:].split(" ")[0], path))
    # The sentinels are not UTF-8, so they come off before decoding (as debug/buildinfo does).
    framed = len(modinfo) >= 33 and modinfo[-17:-16] == b"\n"
    packages.extend(_modules(path, modinfo[16:-16].decode("utf-8", "replace") if framed else ""))
    return packages


def _modules(path: str, modinfo: str) -> list[Package]:
    modules: list[Package] = []
    for line in modinfo.splitlines():
        fields = line.split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 3 and fields[2] != "(devel)":
            modules.append(Package(Kind.GOLANG, fields[1], fields[2].removeprefix("v"), path))
        elif fields[0] == "=>" and len(fields) >= 3 and modules:
            modules[-1] = Package(Kind.GOLANG, fields[1], fields[2].removeprefix("v"), path)
    return modules


def _inline_strings(source: _Source, found: int) -> tuple[bytes, bytes] | None:
    blob = source.upto(found + 32, 2 * (_MAX_STRING + 10))
    version, position = _varint_string(blob, 0)
    if version is None:
        return None
    modinfo, _ = _varint_string(blob, position)
    return version, modinfo or b""


def _varint_string(blob: bytes, position: int) -> tuple[bytes | None, int]:
    length, shift = 0, 0
    while position < len(blob) and shift < 64:
        byte = blob[position]
        position += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if length > _MAX_STRING or position + length > len(blob):
        return None, position
    return blob[position : position + length], position + length


# Before Go 1.18: pointers, followed through the ELF program headers.


@dataclass(frozen=True)
class _Segment:
    address: int
    offset: int
    size: int


def _pointed_strings(source: _Source, segments: list[_Segment], header: bytes) -> tuple[bytes, bytes] | None:
    size = header[14]
    if size not in (4, 8) or header[15] > 1:
        return None
    order, word = (">" if header[15] else "<"), ("I" if size == 4 else "Q")
    pointer = order + word
    version_at, modinfo_at = struct.unpack_from(order + word * 2, header, 16)
    version = _go_string(source, segments, pointer, version_at)
    if version is None:
        return None
    return version, _go_string(source, segments, pointer, modinfo_at) or b""


def _go_string(source: _Source, segments: list[_Segment], pointer: str, address: int) -> bytes | None:
    """The bytes of the Go string whose header (data pointer, length) is at ``address``."""
    size = struct.calcsize(pointer)
    header = _read_virtual(source, segments, address, 2 * size)
    if header is None or len(header) < 2 * size:
        return None
    data_at, length = struct.unpack_from(pointer, header, 0)[0], struct.unpack_from(pointer, header, size)[0]
    if length > _MAX_STRING:
        return None
    data = _read_virtual(source, segments, data_at, length)
    return data if data is not None and len(data) == length else None


def _read_virtual(source: _Source, segments: list[_Segment], address: int, size: int) -> bytes | None:
    for segment in segments:  # every program header, the first that holds the address (as Go)
        if segment.address <= address < segment.address + segment.size:
            wanted = min(size, segment.address + segment.size - address)
            return source.at(segment.offset + address - segment.address, wanted)
    return None


def _elf_segments(head: bytes) -> list[_Segment]:
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return []
    wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
    if len(head) < (64 if wide else 52):
        return []
    if wide:  # e_phoff at 32, e_phentsize and e_phnum at 54; p_offset, p_vaddr, p_filesz
        (offset,), (entry_size, count) = (
            struct.unpack_from(order + "Q", head, 32),
            struct.unpack_from(order + "HH", head, 54),
        )
        layout, fields = order + "IIQQQQQQ", (2, 3, 5)
    else:  # e_phoff at 28, e_phentsize and e_phnum at 42
        (offset,), (entry_size, count) = (
            struct.unpack_from(order + "I", head, 28),
            struct.unpack_from(order + "HH", head, 42),
        )
        layout, fields = order + "IIIIIIII", (1, 2, 4)
    if entry_size < struct.calcsize(layout) or offset + count * entry_size > len(head):
        return []
    segments = []
    for number in range(count):
        entry = struct.unpack_from(layout, head, offset + number * entry_size)
        file_offset, address, file_size = (entry[index] for index in fields)
        segments.append(_Segment(address, file_offset, file_size))
    return segments


def _pe_sections(head: bytes) -> list[_Segment]:
    """A Windows executable's sections at their virtual addresses (image base included),
    as Go's peExe.ReadData maps them: raw size and pointer, not virtual size."""
    if len(head) < 64 or head[:2] != b"MZ":
        return []
    pe = struct.unpack_from("<I", head, 0x3C)[0]
    if pe + 24 > len(head) or head[pe : pe + 4] != b"PE\0\0":
        return []
    count, optional_size = (
        struct.unpack_from("<H", head, pe + 6)[0],
        struct.unpack_from("<H", head, pe + 20)[0],
    )
    optional = pe + 24
    if optional + 32 > len(head):
        return []
    magic = struct.unpack_from("<H", head, optional)[0]
    if magic == 0x10B:  # PE32: ImageBase at 28
        base = struct.unpack_from("<I", head, optional + 28)[0]
    elif magic == 0x20B:  # PE32+: ImageBase at 24
        base = struct.unpack_from("<Q", head, optional + 24)[0]
    else:
        return []
    table = optional + optional_size
    if table + 40 * count > len(head):
        return []
    sections = []
    for number in range(count):
        address, raw_size, raw_offset = struct.unpack_from("<III", head, table + 40 * number + 12)
        sections.append(_Segment(base + address, raw_offset, raw_size))
    return sections


class _Source:
    """A stream read forward once in chunks, the last ``LOOK_BACK`` bytes kept to look back at."""

    def __init__(self, stream: Reader) -> None:
        self.stream = stream
        self.chunks: deque[bytes] = deque()
        self.start = 0  # the file offset of chunks[0]
        self.end = 0

    def _more(self) -> bool:
        chunk = self.stream.read(_CHUNK)
        if not chunk:
            return False
        self.chunks.append(chunk)
        self.end += len(chunk)
        while len(self.chunks) > 1 and self.end - self.start - len(self.chunks[0]) >= LOOK_BACK:
            self.start += len(self.chunks.popleft())
        return True

    def find(self, needle: bytes, position: int) -> int | None:
        position = max(position, self.start)
        while True:
            offset, previous = self.start, b""
            for chunk in self.chunks:
                if offset + len(chunk) > position:
                    boundary = previous + chunk[: len(needle) - 1]
                    index = boundary.find(needle, max(0, position - (offset - len(previous))))
                    if index >= 0:
                        return offset - len(previous) + index
                    index = chunk.find(needle, max(0, position - offset))
                    if index >= 0:
                        return offset + index
                keep = len(needle) - 1  # the tail that may start a match, across small chunks too
                previous, offset = (previous + chunk[-keep:])[-keep:], offset + len(chunk)
            position = max(position, self.end - len(needle) + 1)
            if not self._more():
                return None

    def upto(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``: fewer at the end of the stream, none if dropped."""
        while self.end < offset + size and self._more():
            pass
        if offset < self.start:
            return b""
        parts, base = [], self.start
        for chunk in self.chunks:
            low, high = max(offset, base), min(offset + size, base + len(chunk))
            if low < high:
                parts.append(chunk[low - base : high - base])
            base += len(chunk)
        return b"".join(parts)

    def at(self, offset: int, size: int) -> bytes | None:
        """Exactly ``size`` bytes from ``offset``, or None (past the end, or dropped)."""
        data = self.upto(offset, size) if offset >= 0 and size >= 0 else b""
        return data if len(data) == size else None
