"""Layer tar streams: decompression, entry names, and the OCI whiteout rules.

A layer is read once, front to back, in tarfile's streaming mode: never extracted,
never seeked. gzip, zstd and uncompressed layers are told apart by their first bytes
(a media type can lie; the bytes cannot). The total of decompressed bytes is capped,
so a decompression bomb fails the scan with the reason instead of running forever.
"""

from __future__ import annotations

import posixpath
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, cast

import zstandard

from strongroom.analysis.streams import Prefixed, Reader

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"


class LayerError(ValueError):
    """The layer cannot be read as a tar stream (or exceeds a limit)."""


# What reading a damaged layer raises, wherever the read happens (listing the entries,
# or a consumer reading an entry's bytes).
READ_ERRORS = (tarfile.TarError, zlib.error, zstandard.ZstdError, EOFError, OSError)


@dataclass(frozen=True)
class Entry:
    """A tar entry with a normalised path; ``stream`` is readable only until the next entry."""

    path: str
    size: int
    mode: int
    is_file: bool
    stream: IO[bytes] | None


@dataclass(frozen=True)
class Whiteout:
    """``path`` is deleted from lower layers (``opaque``: everything under it is)."""

    path: str
    opaque: bool


def normalise(name: str) -> str | None:
    """A tar name as a relative image path; None for names that climb out (``..``)."""
    path = posixpath.normpath("/" + name.replace("\\", "/")).lstrip("/")
    if any(part == ".." for part in name.split("/")):
        return None
    return "" if path == "." else path


def decompressed(stream: Reader, max_bytes: int) -> Reader:
    """The layer's tar bytes, whatever compression its first bytes show."""
    head = stream.read(4)
    rest = Prefixed(head, stream)
    if head.startswith(_GZIP):
        return _Capped(_Inflate(rest), max_bytes)
    if head.startswith(_ZSTD):
        reader = zstandard.ZstdDecompressor().stream_reader(cast("IO[bytes]", rest), read_across_frames=True)
        return _Capped(reader, max_bytes)
    return _Capped(rest, max_bytes)


def entries(stream: Reader, max_bytes: int) -> Iterator[Entry | Whiteout]:
    """Each entry of a layer in order, whiteouts as ``Whiteout``."""
    try:
        source = cast("IO[bytes]", decompressed(stream, max_bytes))
        with tarfile.open(fileobj=source, mode="r|") as archive:
            yield from _members(archive)
    except READ_ERRORS as error:
        raise LayerError(f"layer is not a readable tar stream: {error}") from None


def _members(archive: tarfile.TarFile) -> Iterator[Entry | Whiteout]:
    for member in archive:
        path = normalise(member.name)
        if not path:
            continue
        directory, base = posixpath.split(path)
        if base == OPAQUE_MARKER:
            yield Whiteout(directory, opaque=True)
        elif base.startswith(WHITEOUT_PREFIX):
            yield Whiteout(posixpath.join(directory, base[len(WHITEOUT_PREFIX) :]), opaque=False)
        elif member.isreg():
            yield Entry(path, member.size, member.mode, True, archive.extractfile(member))
        else:
            yield Entry(path, 0, member.mode, False, None)


def hidden_by(path: str, whiteouts: list[Whiteout]) -> bool:
    """Whether an upper layer's whiteouts delete ``path`` of a lower layer."""
    for whiteout in whiteouts:
        if whiteout.path == "" and whiteout.opaque:
            return True
        if path == whiteout.path and not whiteout.opaque:
            return True
        if path.startswith(whiteout.path + "/"):
            return True
    return False


class _Inflate:
    """gzip (all members, as tools concatenate them) decompressed as a stream."""

    def __init__(self, stream: Reader) -> None:
        self.stream = stream
        self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.buffer = b""
        self.offset = 0

    def read(self, size: int = -1, /) -> bytes:
        want = size if size is not None and size >= 0 else 1 << 62
        while len(self.buffer) - self.offset < want:
            chunk = self._next_input()
            if not chunk:
                break
            out = self.decompressor.decompress(chunk, 4 * 1024 * 1024)
            self.buffer = self.buffer[self.offset :] + out
            self.offset = 0
        data = self.buffer[self.offset : self.offset + want]
        self.offset += len(data)
        return data

    def _next_input(self) -> bytes:
        if not self.decompressor.eof:
            return self.decompressor.unconsumed_tail or self.stream.read(1024 * 1024)
        # A following gzip member (pigz and some builders write several).
        leftover = self.decompressor.unused_data or self.stream.read(1024 * 1024)
        if leftover:
            self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return leftover


class _Capped:
    def __init__(self, stream: Reader, max_bytes: int) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        if self.count > self.max_bytes:
            raise LayerError(f"layer decompresses to more than {self.max_bytes} bytes")
        return data
