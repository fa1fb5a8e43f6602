"""What a weight file's header says, read without loading a tensor: safetensors, GGUF, ONNX.

Both readers take the file's leading bytes and either return facts or raise
:class:`NeedMore` with how many leading bytes they need, so the same code reads a local
file and a remote blob by ``Range`` GET (constant memory: only the header is read).
Headers come from untrusted files: sizes are capped before anything is allocated.
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO

MAX_HEADER = 100 * 1024 * 1024
"""The most header bytes either reader asks for (safetensors' own loader caps at 100 MB)."""
_MAX_ITEMS = 10_000_000

GGML_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
    17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S",
    23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16",
    34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}  # fmt: skip
"""ggml's tensor types (ggml.h ``enum ggml_type``)."""
GGUF_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M",
    30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
}  # fmt: skip
"""llama.cpp's ``general.file_type`` (``enum llama_ftype``): the quantisation of the file."""


class NeedMore(Exception):
    """The header continues past the bytes given: read at least ``size`` leading bytes."""

    def __init__(self, size: int) -> None:
        super().__init__(f"need {size} bytes")
        self.size = size


class BadHeader(ValueError):
    """Not a well-formed header of the format."""


@dataclass(frozen=True, slots=True)
class WeightHeader:
    format: str
    tensor_count: int
    parameter_count: int
    dtypes: tuple[str, ...]
    """Tensor element types, most parameters first."""
    metadata: dict[str, object] = field(default_factory=dict)
    """safetensors ``__metadata__``; for GGUF the scalar key-values (arrays left out)."""


def read_safetensors(data: bytes) -> WeightHeader:
    """An 8-byte little-endian header length, then that many bytes of JSON."""
    if len(data) < 8:
        raise NeedMore(8)
    (length,) = struct.unpack("<Q", data[:8])
    if length > MAX_HEADER:
        raise BadHeader(f"safetensors header of {length} bytes")
    if len(data) < 8 + length:
        raise NeedMore(8 + length)
    try:
        header = json.loads(data[8 : 8 + length])
    except (UnicodeDecodeError, ValueError) as error:
        raise BadHeader(f"safetensors header is not JSON: {error}") from None
    if not isinstance(header, dict):
        raise BadHeader("safetensors header is not an object")
    metadata = header.pop("__metadata__", None) or {}
    counts: Counter[str] = Counter()
    for name, tensor in header.items():
        if not isinstance(tensor, dict) or not isinstance(tensor.get("shape"), list):
            raise BadHeader(f"tensor {name!r} has no shape")
        if not all(isinstance(dim, int) and dim >= 0 for dim in tensor["shape"]):
            raise BadHeader(f"tensor {name!r} has a bad shape")
        counts[str(tensor.get("dtype"))] += math.prod(tensor["shape"])
    return WeightHeader(
        "safetensors",
        len(header),
        sum(counts.values()),
        _by_weight(counts),
        dict(metadata) if isinstance(metadata, dict) else {},
    )


def read_gguf(data: bytes) -> WeightHeader:
    """GGUF v2/v3 (ggml ``docs/gguf.md``): magic, version, counts, key-values, tensor infos."""
    reader = _Reader(data)
    if reader.take(4) != b"GGUF":
        raise BadHeader("not a GGUF file")
    version = reader.u32()
    if version not in (2, 3):
        raise BadHeader(f"GGUF version {version} is not read")
    tensors, pairs = reader.u64(), reader.u64()
    if tensors > _MAX_ITEMS or pairs > _MAX_ITEMS:
        raise BadHeader("GGUF counts out of range")
    metadata: dict[str, object] = {}
    for _ in range(pairs):
        key = reader.string()
        value = reader.value(reader.u32())
        if not isinstance(value, list):
            metadata[key] = value
    counts: Counter[str] = Counter()
    for _ in range(tensors):
        reader.string()
        dims = reader.u32()
        if dims > 8:
            raise BadHeader("GGUF tensor of more than 8 dimensions")
        shape = [reader.u64() for _ in range(dims)]
        kind = reader.u32()
        reader.u64()  # offset
        counts[GGML_TYPES.get(kind, f"type{kind}")] += math.prod(shape)
    return WeightHeader("gguf", tensors, sum(counts.values()), _by_weight(counts), metadata)


def _by_weight(counts: Counter[str]) -> tuple[str, ...]:
    return tuple(name for name, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


GGUF_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
"""GGUF metadata value types with a fixed size, and their ``struct`` formats (gguf.md)."""
GGUF_STRING, GGUF_ARRAY = 8, 9


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def take(self, size: int) -> bytes:
        end = self._at + size
        if end > MAX_HEADER:
            raise BadHeader("GGUF header larger than the limit")
        if end > len(self._data):
            # Ask for twice what is known to be needed: headers are read in few round trips.
            raise NeedMore(min(MAX_HEADER, max(end, 2 * len(self._data))))
        chunk = self._data[self._at : end]
        self._at = end
        return chunk

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def string(self) -> str:
        return self.take(self.u64()).decode("utf-8", errors="replace")

    def value(self, kind: int) -> object:
        if kind == GGUF_STRING:
            return self.string()
        if kind == GGUF_ARRAY:
            item_kind, count = self.u32(), self.u64()
            if count > _MAX_ITEMS:
                raise BadHeader("GGUF array too long")
            return [self.value(item_kind) for _ in range(count)]
        if kind not in GGUF_SCALARS:
            raise BadHeader(f"GGUF value type {kind}")
        fmt = GGUF_SCALARS[kind]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]


def read_onnx(handle: BinaryIO, size: int) -> dict[str, object]:
    """An ONNX ``ModelProto``'s top-level facts (onnx.proto: ir_version 1, producer_name 2,
    producer_version 3, opset_import 8), skipping the graph (field 7, the weights) by seeking:
    a multi-GB model costs a few reads. ``opset`` is the default domain's version."""
    facts: dict[str, object] = {}
    while handle.tell() < size:
        key = _varint(handle)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value = _varint(handle)
            if number == 1:
                facts["ir_version"] = value
        elif wire == 2:
            length = _varint(handle)
            if handle.tell() + length > size:
                raise BadHeader("ONNX field runs past the end of the file")
            if number in (2, 3, 8) and length <= 64 * 1024:
                payload = handle.read(length)
                if number == 8:
                    domain, version = _opset(payload)
                    if domain in ("", "ai.onnx"):
                        facts["opset"] = version
                else:
                    facts["producer_name" if number == 2 else "producer_version"] = payload.decode(
                        errors="replace"
                    )
            else:
                handle.seek(length, 1)
        elif wire in (1, 5):
            handle.seek(8 if wire == 1 else 4, 1)
        else:
            raise BadHeader(f"ONNX wire type {wire}")
    return facts


def _varint(handle: BinaryIO) -> int:
    value = shift = 0
    while True:
        byte = handle.read(1)
        if not byte or shift > 63:
            raise BadHeader("ONNX varint cut short")
        value |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            return value


def _opset(payload: bytes) -> tuple[str, int]:
    stream = io.BytesIO(payload)
    domain, version = "", 0
    while stream.tell() < len(payload):
        key = _varint(stream)
        if key == (1 << 3 | 2):
            domain = stream.read(_varint(stream)).decode(errors="replace")
        elif key == (2 << 3):
            version = _varint(stream)
        else:
            raise BadHeader("unexpected field in an ONNX opset")
    return domain, version
