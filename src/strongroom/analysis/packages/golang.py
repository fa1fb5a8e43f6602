"""Go binaries: the build information the linker embeds, read without running the binary.

``\xff Go buildinf:`` (16-byte aligned) starts a 32-byte header whose byte 14 is the
pointer size and byte 15 the flags; since Go 1.18 (flag 0x2) two varint-prefixed
strings follow: the Go version and the module information, whose lines are ``path``,
``mod``, ``dep`` and ``=>`` (a replacement of the line before).
"""

from __future__ import annotations

from strongroom.analysis.packages.model import Kind, Package
from strongroom.analysis.streams import Reader

MAGIC = b"\xff Go buildinf:"
_CHUNK = 4 * 1024 * 1024
_MAX_STRING = 1024 * 1024


def find_build_info(stream: Reader) -> bytes | None:
    """The bytes from the magic on (header and the two strings), scanning in chunks."""
    tail = b""
    while chunk := stream.read(_CHUNK):
        window = tail + chunk
        index = window.find(MAGIC)
        if index >= 0:
            rest = window[index:]
            while len(rest) < 32 + 2 * (_MAX_STRING + 10) and (more := stream.read(_CHUNK)):
                rest += more
            return rest
        tail = window[-len(MAGIC) :]
    return None


def parse_build_info(path: str, blob: bytes) -> list[Package]:
    if len(blob) < 32 or not blob.startswith(MAGIC) or not blob[15] & 0x2:
        return []  # before Go 1.18 the strings are behind pointers: not read yet
    go_version, position = _varint_string(blob, 32)
    modinfo, _ = _varint_string(blob, position)
    if go_version is None:
        return []
    packages = []
    if go_version.startswith("go"):
        packages.append(Package(Kind.GOLANG, "stdlib", go_version[2:].split(" ")[0], path))
    if modinfo and len(modinfo) >= 33 and modinfo[-17] == "\n":
        modinfo = modinfo[16:-16]
    packages.extend(_modules(path, modinfo or ""))
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


def _varint_string(blob: bytes, position: int) -> tuple[str | None, int]:
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
    return blob[position : position + length].decode("utf-8", "replace"), position + length
