"""Headers of the tensor formats: NumPy ``.npy``, safetensors and GGUF, checked for consistency.

These formats hold no code, but a loader trusts their headers: a safetensors offset
past the end, overlapping tensors or a dtype no loader knows mean the file is not what
it says (a polyglot, or one crafted for a loader's bug). The NumPy header says whether
a pickle follows.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import struct
from dataclasses import dataclass

from strongroom.analysis.streams import Reader
from strongroom.modelformats.weightheaders import GGUF_ARRAY, GGUF_SCALARS, GGUF_STRING

NPY_MAGIC = b"\x93NUMPY"
GGUF_MAGIC = b"GGUF"
_MAX_NPY_HEADER = 65536
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
_SAFETENSORS_DTYPES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1,
    "F6_E3M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip
# What template injection needs (Python internals, a shell), not words a prompt may hold:
# real templates say "photos.", "import the ..." or "of os." in their text.
_SUSPICIOUS_TEMPLATE = re.compile(
    r"__(class|globals|subclasses|builtins|import|mro|base|init|getattribute)__"
    r"|\{%-?\s*(import|from)\s|(?<=[.'\"\[])os\.|popen|eval\("  # os reached as an attribute or key
)


class HeaderError(ValueError):
    """The header is not what the format's readers accept."""


@dataclass(frozen=True)
class NpyHeader:
    descr: str
    shape: tuple[int, ...]
    has_object: bool


def read_npy_header(stream: Reader) -> NpyHeader:
    """Parse the header after the 6-byte magic; the stream is left at the array data."""
    version = stream.read(2)
    if len(version) != 2 or version[0] not in (1, 2, 3):
        raise HeaderError("unknown .npy format version")
    size_bytes = stream.read(2 if version[0] == 1 else 4)
    length = int.from_bytes(size_bytes, "little") if size_bytes else 0
    if len(size_bytes) not in (2, 4) or length > _MAX_NPY_HEADER:
        raise HeaderError(".npy header length is out of bounds")
    raw = stream.read(length)
    if len(raw) != length:
        raise HeaderError(".npy header is truncated")
    try:
        header = ast.literal_eval(raw.decode("latin-1" if version[0] < 3 else "utf-8"))
    except (ValueError, SyntaxError, MemoryError, RecursionError) as error:
        raise HeaderError(f".npy header is not a literal: {error}") from None
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= header.keys():
        raise HeaderError(".npy header lacks descr, fortran_order or shape")
    descr, shape = header["descr"], header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise HeaderError(".npy shape is not a tuple of sizes")
    # A structured dtype is a list of fields; any object field means a pickle follows.
    has_object = "O" in str(descr)
    return NpyHeader(str(descr), shape, has_object)


def check_safetensors(head8: bytes, stream: Reader, size: int | None) -> list[str]:
    """Problems with a safetensors file's header; empty when it is consistent."""
    (length,) = struct.unpack("<Q", head8)
    if length > _MAX_SAFETENSORS_HEADER:
        return [f"header of {length} bytes exceeds the {_MAX_SAFETENSORS_HEADER} bytes loaders accept"]
    raw = stream.read(length)
    if len(raw) != length:
        return ["header is truncated"]
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        return ["header is not JSON"]
    if not isinstance(header, dict):
        return ["header is not a JSON object"]
    data_size = None if size is None else size - 8 - length
    return _tensor_problems(header, data_size)


def _tensor_problems(header: dict[str, object], data_size: int | None) -> list[str]:
    problems: list[str] = []
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                problems.append("__metadata__ is not a map of strings")
            continue
        if not isinstance(entry, dict):
            problems.append(f"tensor {name!r} is not an object")
            continue
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _SAFETENSORS_DTYPES:
            problems.append(f"tensor {name!r} has unknown dtype {dtype!r}")
            continue
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            problems.append(f"tensor {name!r} has an invalid shape")
            continue
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(n, int) for n in offsets)):
            problems.append(f"tensor {name!r} has invalid data_offsets")
            continue
        begin, end = offsets
        count = 1
        for n in shape:
            count *= n
        if begin < 0 or end < begin or (end - begin) * 8 < count * _bits(str(dtype)):
            problems.append(f"tensor {name!r} spans {end - begin} bytes, fewer than its shape needs")
        spans.append((begin, end, name))
    spans.sort()
    for (_, end, first), (begin, _, second) in itertools.pairwise(spans):
        if begin < end:
            problems.append(f"tensors {first!r} and {second!r} overlap")
    if data_size is not None and spans and max(end for _, end, _ in spans) > data_size:
        problems.append("a tensor extends past the end of the file")
    return problems


def _bits(dtype: str) -> int:
    if dtype == "F4":
        return 4
    if dtype.startswith("F6"):
        return 6
    return _SAFETENSORS_DTYPES[dtype] * 8


def check_gguf(stream: Reader, max_entries: int = 1_000_000) -> list[str]:
    """Problems with a GGUF header (after the magic): bounds, and a chat template that escapes Jinja."""
    fixed = stream.read(20)
    if len(fixed) != 20:
        return ["header is truncated"]
    version, tensors, entries = struct.unpack("<IQQ", fixed)
    if version not in (1, 2, 3):
        return [f"unknown GGUF version {version}"]
    if tensors > max_entries or entries > max_entries:
        return [f"{tensors} tensors and {entries} metadata entries exceed what a loader allocates"]
    reader = _GgufReader(stream)
    problems: list[str] = []
    try:
        for _ in range(entries):
            key = reader.string()
            value = reader.value(reader.u32())
            if (
                # tokenizer.chat_template, and the named ones (tokenizer.chat_template.tool_use, ...)
                ".chat_template" in f".{key}"
                and isinstance(value, str)
                and _SUSPICIOUS_TEMPLATE.search(value)
            ):
                problems.append(f"{key} reaches Python internals from Jinja (template injection)")
    except HeaderError as error:
        problems.append(str(error))
    except RecursionError:
        problems.append("metadata arrays nest deeper than any real header")
    return problems


class _GgufReader:
    _MAX_STRING = 64 * 1024 * 1024

    def __init__(self, stream: Reader) -> None:
        self.stream = stream

    def exactly(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise HeaderError("metadata is truncated")
        return data

    def u32(self) -> int:
        return int(struct.unpack("<I", self.exactly(4))[0])

    def string(self) -> str:
        (length,) = struct.unpack("<Q", self.exactly(8))
        if length > self._MAX_STRING:
            raise HeaderError(f"a metadata string of {length} bytes exceeds any real header")
        return self.exactly(length).decode("utf-8", "replace")

    def value(self, kind: int) -> object:
        if kind in GGUF_SCALARS:
            fmt = GGUF_SCALARS[kind]
            return struct.unpack(fmt, self.exactly(struct.calcsize(fmt)))[0]
        if kind == GGUF_STRING:
            return self.string()
        if kind == GGUF_ARRAY:
            item_kind = self.u32()
            (count,) = struct.unpack("<Q", self.exactly(8))
            if count > 100_000_000:
                raise HeaderError(f"a metadata array of {count} items exceeds any real header")
            for _ in range(count):
                self.value(item_kind)
            return None
        raise HeaderError(f"unknown metadata value type {kind}")
