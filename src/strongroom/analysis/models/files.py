"""Which model format a file is, by its content (never by its name alone), and its findings.

Registry blobs and files in layers have names that prove nothing: a raw pickle saved as
``pytorch_model.bin`` or with no extension at all is still a pickle. So the first bytes
decide; a name only adds protocol 0/1 pickles, which have no magic.
"""

from __future__ import annotations

import bz2
import json
import lzma
import pickletools
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, TYPE_CHECKING

from strongroom.analysis.models.findings import ModelFinding, pickle_findings
from strongroom.analysis.models.headers import (
    GGUF_MAGIC,
    NPY_MAGIC,
    HeaderError,
    check_gguf,
    check_safetensors,
    read_npy_header,
)
from strongroom.analysis.models.keras import keras_config_findings
from strongroom.analysis.models.onnx import onnx_findings
from strongroom.analysis.models.pickles import PickleLimits, walk_pickles
from strongroom.analysis.severity import Severity
from strongroom.analysis.streams import Prefixed, Reader, read_bounded

HEAD_SIZE = 64
_PICKLE_SUFFIXES = (
    ".pkl",
    ".pickle",
    ".joblib",
    ".dill",
    ".pt",
    ".pth",
    ".bin",
    ".ckpt",
    ".sav",
    ".p",
    ".data",
)
_CLAIMING_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill")
_MAX_MEMBERS = 100_000
_MAX_CONFIG = 16 * 1024 * 1024

Spool = Callable[[Reader], IO[bytes]]
if TYPE_CHECKING:
    _Decompressor = zlib._Decompress | bz2.BZ2Decompressor | lzma.LZMADecompressor
_ZLIB_DECOMPRESS = type(zlib.decompressobj())
"""Turns the rest of a stream into a seekable file (zip archives need one)."""


class ModelKind(StrEnum):
    PICKLE = "pickle"
    ZIP = "zip"
    NPY = "npy"
    SAFETENSORS = "safetensors"
    GGUF = "gguf"
    COMPRESSED = "compressed"
    HDF5 = "hdf5"
    ONNX = "onnx"


@dataclass(frozen=True)
class ModelLimits:
    pickle: PickleLimits = field(default_factory=PickleLimits)
    max_depth: int = 3
    max_decompressed: int = 8 * 1024 * 1024 * 1024


def sniff(path: str, head: bytes) -> ModelKind | None:
    """The format ``head`` (the first bytes) shows, or None for a file that holds no model."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return ModelKind.PICKLE
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ModelKind.ZIP
    if head.startswith(NPY_MAGIC):
        return ModelKind.NPY
    if head.startswith(GGUF_MAGIC):
        return ModelKind.GGUF
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return ModelKind.HDF5
    if len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < 100 * 1024 * 1024:
        return ModelKind.SAFETENSORS
    if _compressed(head) is not None:
        return ModelKind.COMPRESSED
    if path.lower().endswith(".onnx"):
        return ModelKind.ONNX  # protobuf has no magic
    if path.lower().endswith(_PICKLE_SUFFIXES) and head[:1] in b"(]}cNIFLSVXKJMGTUB\x80":
        return ModelKind.PICKLE
    if _PROTOCOL_0_1.match(head) or _decodes_as_opcodes(head):
        return ModelKind.PICKLE  # protocols 0 and 1 have no magic: their usual openings
    return None


# How pickles of protocols 0 and 1 open: a GLOBAL of an importable name, or a container
# (MARK then a typed item, EMPTY_LIST/EMPTY_DICT then a memo or MARK).
_PROTOCOL_0_1 = re.compile(
    rb"c[A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n"
    rb"|\((?:dp\d|lp\d|tp\d|[IFL]-?\d|S'|V|N|K|X|J|M|G|c[A-Za-z_]|i[A-Za-z_]|\(|\]|\})"
    rb"|[\]}](?:q|r|\(|\)|\.)"
)


_OPENINGS = frozenset(b"(])}NIFLSVXcKJMGTU")
_IMPORTABLE = re.compile(r"[A-Za-z_][\w.]* [A-Za-z_][\w.]*")  # "module name", as genops gives it
_HEAD_ERRORS = (ValueError, EOFError, OverflowError, UnicodeDecodeError, DeprecationWarning)


def _decodes_as_opcodes(head: bytes) -> bool:
    """Harmless opcodes (``N0``, ``I1\\n0``, ...) can come before a protocol 0/1 pickle's
    first import, so no pattern of openings is complete: a head that decodes as opcodes up
    to an import, or to within a few bytes of its end, is walked as a pickle. Text and
    binary data stop at an invalid opcode within a few bytes."""
    if len(head) < 2 or head[0] not in _OPENINGS:
        return False
    last = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # STRING escapes that codecs would warn about
        try:
            for opcode, arg, position in pickletools.genops(head):
                if opcode.name in ("GLOBAL", "INST"):
                    return bool(_IMPORTABLE.fullmatch(str(arg)))
                if opcode.name == "STOP":
                    return False
                last = position if position is not None else last
        except _HEAD_ERRORS:
            pass
    return len(head) == HEAD_SIZE and last >= HEAD_SIZE - 16


def _compressed(head: bytes) -> Callable[[], _Decompressor] | None:
    """A decompressor for the streams joblib writes (zlib, gzip, bz2, xz, lzma)."""
    if head.startswith(b"\x1f\x8b"):
        return lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return zlib.decompressobj
    if head.startswith(b"BZh"):
        return bz2.BZ2Decompressor
    if head.startswith((b"\xfd7zXZ\x00", b"\x5d\x00\x00")):
        return lzma.LZMADecompressor
    return None


def analyse_model_file(
    path: str,
    stream: Reader,
    size: int | None,
    spool: Spool,
    limits: ModelLimits | None = None,
    depth: int = 0,
) -> list[ModelFinding]:
    """Findings for one file; [] for a file that is no model or a safe one."""
    limits = limits or ModelLimits()
    start = _position(stream)
    head = stream.read(HEAD_SIZE)
    kind = sniff(path, head)
    if kind is None:
        return []
    rest = Prefixed(head, stream)
    if kind is ModelKind.PICKLE:
        report = walk_pickles(rest, limits.pickle)
        return pickle_findings(path, report, claimed=head[:1] == b"\x80" or path.endswith(_CLAIMING_SUFFIXES))
    if kind is ModelKind.NPY:
        return _npy(path, rest, limits)
    if kind is ModelKind.SAFETENSORS:
        rest.read(8)
        problems = check_safetensors(head[:8], rest, size)
        return [ModelFinding(path, Severity.MEDIUM, "safetensors-inconsistent", p) for p in problems]
    if kind is ModelKind.GGUF:
        rest.read(4)
        return [ModelFinding(path, Severity.HIGH, "gguf-header", p) for p in check_gguf(rest)]
    if kind is ModelKind.COMPRESSED:
        return _compressed_file(path, head, rest, limits, spool, depth)
    if kind is ModelKind.HDF5:
        return _hdf5(path, rest)
    if kind is ModelKind.ONNX:
        return onnx_findings(path, rest, size)
    if depth >= limits.max_depth:
        return [ModelFinding(path, Severity.HIGH, "not-fully-analysed", "archives nest too deep")]
    if start is not None:
        # A file that can seek is read in place; only streams are copied aside.
        stream.seek(start)  # type: ignore[attr-defined]
        return _zip(path, stream, spool, limits, depth)  # type: ignore[arg-type]
    return _zip(path, spool(rest), spool, limits, depth)


def _position(stream: Reader) -> int | None:
    """Where a seekable file stands, or None for a stream that cannot go back."""
    try:
        if getattr(stream, "seekable", lambda: False)():
            return int(stream.tell())  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError):  # tarfile's stream members raise the last
        pass
    return None


def _npy(path: str, stream: Reader, limits: ModelLimits) -> list[ModelFinding]:
    stream.read(len(NPY_MAGIC))
    try:
        header = read_npy_header(stream)
    except HeaderError as error:
        return [ModelFinding(path, Severity.MEDIUM, "npy-malformed", str(error))]
    if not header.has_object:
        return []
    report = walk_pickles(stream, limits.pickle)
    return pickle_findings(path, report, claimed=True)


def _compressed_file(
    path: str, head: bytes, stream: Reader, limits: ModelLimits, spool: Spool, depth: int
) -> list[ModelFinding]:
    """A compressed stream is a model (joblib's ``compress=``) only if a pickle is inside."""
    factory = _compressed(head)
    if factory is None or depth >= limits.max_depth:
        return []
    inner = _Decompressed(stream, factory(), limits.max_decompressed)
    try:
        inner_head = inner.read(HEAD_SIZE)
    except (OSError, ValueError, EOFError, zlib.error, lzma.LZMAError):
        return []  # not a stream we can read: not one joblib wrote
    if sniff("", inner_head) is not ModelKind.PICKLE:
        return []
    return analyse_model_file(path, Prefixed(inner_head, inner), None, spool, limits, depth + 1)


def _zip(
    path: str, archive_file: IO[bytes], spool: Spool, limits: ModelLimits, depth: int
) -> list[ModelFinding]:
    try:
        archive = zipfile.ZipFile(archive_file)
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        # torch reads some zips Python refuses (CVE-2025-10156): unreadable is unverified.
        return [ModelFinding(path, Severity.HIGH, "zip-unreadable", f"not fully analysed: {error}")]
    if len(members) > _MAX_MEMBERS:
        return [ModelFinding(path, Severity.HIGH, "not-fully-analysed", f"{len(members)} zip members")]
    names = {member.filename for member in members}
    findings: list[ModelFinding] = []
    torch_roots = {name[: -len("data.pkl")] for name in names if name.endswith("data.pkl")}
    for member in members:
        if member.is_dir() or any(member.filename.startswith(root + "data/") for root in torch_roots):
            continue  # torch tensor storages are raw numbers, never code
        member_path = f"{path}!{member.filename}"
        try:
            with archive.open(member) as opened:
                if member.filename == "config.json" and "metadata.json" in names:
                    config = read_bounded(opened, _MAX_CONFIG)
                    findings.extend(keras_config_findings(member_path, config))
                    continue
                findings.extend(
                    analyse_model_file(member_path, opened, member.file_size, spool, limits, depth + 1)
                )
        except _ZIP_ERRORS as error:
            findings.append(ModelFinding(member_path, Severity.HIGH, "zip-unreadable", str(error)))
            findings.extend(_lenient_member(member_path, archive_file, member, spool, limits, depth))
    return findings


_ZIP_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError)


def _lenient_member(
    path: str, archive_file: IO[bytes], member: zipfile.ZipInfo, spool: Spool, limits: ModelLimits, depth: int
) -> list[ModelFinding]:
    """A member Python's zipfile refused (a bad CRC, a local name that differs from the
    directory's), read as torch's reader takes it: from the directory's offset and sizes,
    with no such checks (CVE-2025-10156). Stored and deflated members only."""
    try:
        archive_file.seek(member.header_offset)
        local = archive_file.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            return []
        name_length, extra_length = struct.unpack_from("<HH", local, 26)
        data = _Slice(
            archive_file, member.header_offset + 30 + name_length + extra_length, member.compress_size
        )
        if member.compress_type == zipfile.ZIP_DEFLATED:
            stream: Reader = _Decompressed(data, zlib.decompressobj(-zlib.MAX_WBITS), limits.max_decompressed)
        elif member.compress_type == zipfile.ZIP_STORED:
            stream = data
        else:
            return []
        return analyse_model_file(path, stream, member.file_size, spool, limits, depth + 1)
    except (*_ZIP_ERRORS, zlib.error):
        return []


class _Slice:
    """``length`` bytes of a seekable file from ``start``, read forward."""

    def __init__(self, file: IO[bytes], start: int, length: int) -> None:
        self.file, self.position, self.left = file, start, length

    def read(self, size: int = -1, /) -> bytes:
        want = self.left if size is None or size < 0 else min(size, self.left)
        self.file.seek(self.position)
        data = self.file.read(want)
        self.position += len(data)
        self.left -= len(data)
        return data


def _hdf5(path: str, stream: Reader) -> list[ModelFinding]:
    """Keras ``.h5``: the ``model_config`` attribute is JSON stored whole in the file.

    Keras reads it with ``json.loads``, so any spacing or ``\\u`` escape is the same
    config to it: JSON string pairs are found by pattern and decoded before comparing.
    """
    tail = b""
    while chunk := stream.read(1024 * 1024):
        window = tail + chunk
        for match in _JSON_PAIR.finditer(window):
            if _json_text(match[1]) == "class_name" and _json_text(match[2]) in ("Lambda", "__lambda__"):
                return [ModelFinding(path, Severity.CRITICAL, "keras-lambda", _LAMBDA)]
        tail = window[-1024:]
    return []


_JSON_PAIR = re.compile(rb'"((?:[^"\\\n]|\\.){1,128})"\s*:\s*"((?:[^"\\\n]|\\.){1,128})"')
_LAMBDA = "a Lambda layer runs its code when loaded"


def _json_text(raw: bytes) -> str | None:
    try:
        value = json.loads(b'"' + raw + b'"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None


class _Decompressed:
    """A streaming decompressor that never makes more than 1 MiB per step, with a cap on the
    total, so a decompression bomb stops here instead of in the memory."""

    _STEP = 1024 * 1024

    def __init__(self, stream: Reader, decompressor: _Decompressor, cap: int) -> None:
        self.stream = stream
        self.decompressor = decompressor
        self.cap = cap
        self.produced = 0
        self.pending = b""
        self.offset = 0
        self.input = b""
        self.finished = False

    def read(self, size: int = -1, /) -> bytes:
        want = size if size is not None and size >= 0 else 1 << 62
        while len(self.pending) - self.offset < want and not self.finished:
            self.pending = self.pending[self.offset :] + self._step()
            self.offset = 0
            if self.produced + len(self.pending) > self.cap:
                raise ValueError(f"decompresses to more than {self.cap} bytes")
        # An offset, not a slice of the rest: genops reads one byte per opcode.
        data = self.pending[self.offset : self.offset + want]
        self.offset += len(data)
        self.produced += len(data)
        return data

    def _step(self) -> bytes:
        decompressor = self.decompressor
        if getattr(decompressor, "eof", False):
            self.finished = True
            return b""
        if isinstance(decompressor, _ZLIB_DECOMPRESS):
            data = self.input or self.stream.read(64 * 1024)
            if not data:
                self.finished = True
                return decompressor.flush()
            out = decompressor.decompress(data, self._STEP)
            self.input = decompressor.unconsumed_tail
            return out
        data = self.stream.read(64 * 1024) if decompressor.needs_input else b""
        if not data and decompressor.needs_input:
            self.finished = True
            return b""
        return decompressor.decompress(data, self._STEP)
