"""Go executables in the build-info layout of Go 1.13-1.17, which the installed Go (>= 1.18)
no longer writes. The layout is Go's own (``src/debug/buildinfo/buildinfo.go``, which
still reads it, so ``go version -m`` is the oracle for both builders here):

- a 32-byte header in the data segment, 16-byte aligned: ``\\xff Go buildinf:``, the
  pointer size, the flags (0 little-endian, 1 big-endian; never 0x2), then two pointers:
  the virtual addresses of the Go string headers of ``runtime.buildVersion`` and
  ``runtime.modinfo``;
- each string header is (data pointer, length), pointer-sized words;
- the module information is framed by cmd/go's 16-byte sentinels (``infoStart``,
  ``infoEnd`` in ``cmd/go/internal/modload``).

:func:`elf_with_old_build_info` writes a minimal executable as the old linker laid it
out: read-only data (the strings) in a first segment, the header and the string headers
at the start of a writable second one. :func:`to_old_layout` rewrites a real binary built
by the installed Go into the old layout in place.
"""

from __future__ import annotations

import struct

MAGIC = b"\xff Go buildinf:"
INFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
INFO_END = bytes.fromhex("f932433186182072008242104116d8f2")
_PAGE = 0x1000
_BASE = 0x400000


def modinfo(body: str) -> bytes:
    return INFO_START + body.encode() + INFO_END


def elf_with_old_build_info(
    version: str, info: bytes, *, wide: bool = True, big_endian: bool = False, decoy: bool = False
) -> bytes:
    """An ELF executable (64-bit x86-64, or 32-bit MIPS when not ``wide``) holding Go's
    pre-1.18 build information. ``decoy`` puts the magic in read-only data first, as in a
    binary that imports debug/buildinfo, unaligned and aligned."""
    order, word = (">" if big_endian else "<"), ("Q" if wide else "I")
    size = 8 if wide else 4
    # Read-only data, file offset _PAGE.
    rodata = bytearray()
    if decoy:
        rodata += b"x" + MAGIC + b"\x08\x02" + bytes(17)  # unaligned
        rodata += bytes(-len(rodata) % 16) + MAGIC + bytes([size, 0]) + struct.pack(order + word * 2, 1, 2)
    rodata += bytes(-len(rodata) % 16)
    version_at = _BASE + _PAGE + len(rodata)
    rodata += version.encode()
    info_at = _BASE + _PAGE + len(rodata)
    rodata += info
    # Data, the next page: the header, then the two string headers.
    data_offset = _PAGE + -(-len(rodata) // _PAGE) * _PAGE
    data_address = _BASE + data_offset
    header = MAGIC + bytes([size, 1 if big_endian else 0])
    header += struct.pack(order + word * 2, data_address + 32, data_address + 32 + 2 * size)
    header += bytes(32 - len(header))
    data = header + struct.pack(order + word * 4, version_at, len(version), info_at, len(info))
    segments = [(_PAGE, _BASE + _PAGE, len(rodata), 4), (data_offset, data_address, len(data), 6)]
    image = bytearray(_elf_header(order, wide, segments))
    image += bytes(_PAGE - len(image)) + rodata
    image += bytes(data_offset - len(image)) + data
    return bytes(image)


def _elf_header(order: str, wide: bool, segments: list[tuple[int, int, int, int]]) -> bytes:
    ident = b"\x7fELF" + bytes([2 if wide else 1, 2 if order == ">" else 1, 1]) + bytes(9)
    machine = 62 if wide else 8  # EM_X86_64, EM_MIPS
    if wide:
        header = ident + struct.pack(
            order + "HHIQQQIHHHHHH", 2, machine, 1, _BASE + _PAGE, 64, 0, 0, 64, 56, len(segments), 64, 0, 0
        )
        programs = b"".join(
            struct.pack(order + "IIQQQQQQ", 1, flags, offset, address, address, size, size, _PAGE)
            for offset, address, size, flags in segments
        )
    else:
        header = ident + struct.pack(
            order + "HHIIIIIHHHHHH", 2, machine, 1, _BASE + _PAGE, 52, 0, 0, 52, 32, len(segments), 40, 0, 0
        )
        programs = b"".join(
            struct.pack(order + "IIIIIIII", 1, offset, address, address, size, size, flags, _PAGE)
            for offset, address, size, flags in segments
        )
    return header + programs


def pe_with_old_build_info(version: str, info: bytes, *, wide: bool = True) -> bytes:
    """A Windows executable (PE32+ x86-64, or PE32 i386 when not ``wide``) holding Go's
    pre-1.18 build information: the strings in ``.rdata``, the header at the start of
    ``.data``, the first writable data section, where debug/buildinfo looks for it."""
    size, word = (8, "Q") if wide else (4, "I")
    image_base, file_align = (0x140000000 if wide else 0x400000), 0x200
    rdata = version.encode() + info
    rdata_va, data_va = 0x1000, 0x1000 + -(-len(rdata) // 0x1000) * 0x1000
    header = MAGIC + bytes([size, 0])
    header += struct.pack("<" + word * 2, image_base + data_va + 32, image_base + data_va + 32 + 2 * size)
    header += bytes(32 - len(header))
    data = header + struct.pack(
        "<" + word * 4, image_base + rdata_va, len(version), image_base + rdata_va + len(version), len(info)
    )
    rdata_raw, data_raw = 0x400, 0x400 + -(-len(rdata) // file_align) * file_align
    optional_size = 240 if wide else 224
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664 if wide else 0x14C, 2, 0, 0, 0, optional_size, 0x22)
    if wide:
        optional = struct.pack("<HBBIIIII", 0x20B, 1, 0, 0, len(rdata) + len(data), 0, 0, 0)
        optional += struct.pack("<QII", image_base, 0x1000, file_align)
    else:
        optional = struct.pack("<HBBIIIIII", 0x10B, 1, 0, 0, len(rdata) + len(data), 0, 0, 0, 0)
        optional += struct.pack("<III", image_base, 0x1000, file_align)
    optional += struct.pack("<HHHHHHIII", 6, 0, 0, 0, 6, 0, 0, data_va + 0x1000, 0x400) + struct.pack(
        "<IHH", 0, 3, 0
    )
    optional += struct.pack("<" + word * 4, 0x100000, 0x1000, 0x100000, 0x1000) + struct.pack("<II", 0, 16)
    optional += bytes(16 * 8)
    assert len(optional) == optional_size
    sections = b"".join(
        name.ljust(8, b"\0")
        + struct.pack(
            "<IIIIIIHHI", len(body), va, -(-len(body) // file_align) * file_align, raw, 0, 0, 0, 0, flags
        )
        for name, body, va, raw, flags in [
            (b".rdata", rdata, rdata_va, rdata_raw, 0x40000040),  # initialised data, read
            (b".data", data, data_va, data_raw, 0xC0000040),  # initialised data, read, write
        ]
    )
    image = bytearray(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x80))
    image += bytes(0x80 - len(image)) + coff + optional + sections
    image += bytes(rdata_raw - len(image)) + rdata
    image += bytes(data_raw - len(image)) + data
    image += bytes(-len(image) % file_align)
    return bytes(image)


def to_old_layout(binary: bytes, body: str) -> bytes:
    """A real 64-bit Go binary (ELF or PE, Go >= 1.18) with its build information rewritten
    in the pre-1.18 layout where it was: header, two string headers, then the version and
    ``body`` (framed) as the strings. ``body`` must be shorter than the original's."""
    at = next(i for i in _occurrences(binary, MAGIC) if i % 16 == 0)
    assert binary[at + 15] & 0x2, "not a Go >= 1.18 binary"
    version, position = _varint(binary, at + 32)
    _, end = _varint(binary, position)
    info = modinfo(body)
    needed = 64 + len(version) + len(info)
    assert needed <= end - at, f"{needed} bytes do not fit in {end - at}"
    address = _address_of(binary, at)
    block = MAGIC + b"\x08\x00" + struct.pack("<QQ", address + 32, address + 48)
    block += struct.pack("<QQQQ", address + 64, len(version), address + 64 + len(version), len(info))
    block += version + info
    return binary[:at] + block + bytes(end - at - len(block)) + binary[end:]


def _occurrences(data: bytes, needle: bytes) -> list[int]:
    found, start = [], 0
    while (index := data.find(needle, start)) >= 0:
        found.append(index)
        start = index + 1
    return found


def _varint(data: bytes, position: int) -> tuple[bytes, int]:
    length, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return data[position : position + length], position + length


def _address_of(binary: bytes, offset: int) -> int:
    if binary[:2] == b"MZ":  # PE32+: image base plus the section's virtual address
        pe = struct.unpack_from("<I", binary, 0x3C)[0]
        count, optional_size = (
            struct.unpack_from("<H", binary, pe + 6)[0],
            struct.unpack_from("<H", binary, pe + 20)[0],
        )
        base = struct.unpack_from("<Q", binary, pe + 24 + 24)[0]
        for number in range(count):
            at = pe + 24 + optional_size + 40 * number
            address, raw_size, raw_offset = struct.unpack_from("<III", binary, at + 12)
            if raw_offset <= offset < raw_offset + raw_size:
                return base + address + offset - raw_offset
        raise AssertionError("the build information is in no section")
    (phoff,), (entry, count) = struct.unpack_from("<Q", binary, 32), struct.unpack_from("<HH", binary, 54)
    for number in range(count):
        kind, _, file_offset, address, _, file_size = struct.unpack_from(
            "<IIQQQQ", binary, phoff + number * entry
        )
        if kind == 1 and file_offset <= offset < file_offset + file_size:
            return address + offset - file_offset
    raise AssertionError("the build information is in no loaded segment")
