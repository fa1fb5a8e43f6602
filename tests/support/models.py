"""Builders of model files for the scanner's tests: pickles from raw opcodes, and the
containers real tools write them in (torch zip and legacy, joblib, npy/npz, Keras,
safetensors, GGUF). Nothing here ever unpickles; malicious samples are only bytes.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
import pickle
import struct
import sys
import types
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

PROTO2 = b"\x80\x02"
PROTO4 = b"\x80\x04"
STOP = b"."
REDUCE = b"R"
TUPLE1 = b"\x85"
MARK = b"("
MEMOIZE = b"\x94"
STACK_GLOBAL = b"\x93"


def unicode(text: str) -> bytes:
    """SHORT_BINUNICODE (or BINUNICODE for long text)."""
    data = text.encode()
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data
    return b"X" + struct.pack("<I", len(data)) + data


def binbytes(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def global_op(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def call(module: str, name: str, argument: str = "id") -> bytes:
    """``module.name(argument)`` as a complete protocol 2 pickle."""
    return PROTO2 + global_op(module, name) + unicode(argument) + TUPLE1 + REDUCE + STOP


def stack_global_call(module: str, name: str, argument: str = "id") -> bytes:
    """The same call with the global assembled by STACK_GLOBAL from memoised strings."""
    return (
        PROTO4
        + unicode(module)
        + MEMOIZE
        + b"0"  # POP: only the memo holds the names now
        + unicode(name)
        + MEMOIZE
        + b"0"
        + b"h\x00h\x01"  # BINGET 0, BINGET 1
        + STACK_GLOBAL
        + unicode(argument)
        + TUPLE1
        + REDUCE
        + STOP
    )


@contextlib.contextmanager
def stand_in_modules(**classes: dict[str, Any]) -> Iterator[None]:
    """Register throwaway modules so ``pickle.dumps`` writes globals such as
    ``torch._utils._rebuild_tensor_v2`` without the real library installed."""
    parents = {".".join(name.split(".")[:i]) for name in classes for i in range(1, name.count(".") + 1)}
    saved = {name: sys.modules.get(name) for name in {*classes, *parents}}
    try:
        for parent in parents - set(classes):
            sys.modules.setdefault(parent, types.ModuleType(parent))
        for module_name, members in classes.items():
            module = types.ModuleType(module_name)
            for attribute, value in members.items():
                if hasattr(value, "__module__"):
                    with contextlib.suppress(AttributeError, TypeError):
                        value.__module__ = module_name
                        value.__qualname__ = attribute
                setattr(module, attribute, value)
            sys.modules[module_name] = module
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


class _Storage:
    """Stands for a torch storage: pickled as a persistent id, as torch.save does."""

    def __init__(self, key: str, size: int) -> None:
        self.key = key
        self.size = size


def _rebuild_tensor_v2(*args: Any) -> None:  # pragma: no cover - only pickled by name
    raise AssertionError("never called")


class _Tensor:
    def __init__(self, storage: _Storage, shape: tuple[int, ...]) -> None:
        self.storage = storage
        self.shape = shape

    def __reduce__(self) -> tuple[Any, ...]:
        stride = (1,) * len(self.shape)
        return (_rebuild_tensor_v2, (self.storage, 0, self.shape, stride, False, {}))


class FloatStorage:
    pass


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Storage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.size)
        return None


def torch_state_dict_pickle(tensors: dict[str, tuple[int, ...]]) -> tuple[bytes, dict[str, int]]:
    """``data.pkl`` of a torch.save'd state dict (OrderedDict of tensors), and storage sizes."""
    import collections

    with stand_in_modules(
        torch={"FloatStorage": FloatStorage}, **{"torch._utils": {"_rebuild_tensor_v2": _rebuild_tensor_v2}}
    ):
        state = collections.OrderedDict()
        sizes: dict[str, int] = {}
        for index, (name, shape) in enumerate(tensors.items()):
            count = 1
            for n in shape:
                count *= n
            storage = _Storage(str(index), count)
            sizes[str(index)] = count
            state[name] = _Tensor(storage, shape)
        buffer = io.BytesIO()
        _TorchPickler(buffer, protocol=2).dump(state)
    return buffer.getvalue(), sizes


def torch_zip(data_pkl: bytes, storages: dict[str, int] | None = None, root: str = "archive") -> bytes:
    """The zip layout torch.save writes since 1.6: data.pkl, data/<key>, version, byteorder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{root}/data.pkl", data_pkl)
        archive.writestr(f"{root}/byteorder", "little")
        for key, count in (storages or {}).items():
            # Tensor bytes that happen to start like a pickle must not be read as one.
            archive.writestr(f"{root}/data/{key}", b"\x80\x02" + bytes(max(0, count * 4 - 2)))
        archive.writestr(f"{root}/version", "3\n")
    return buffer.getvalue()


def legacy_torch(object_pickle: bytes) -> bytes:
    """The pre-1.6 torch.save format: magic, protocol, sys info, object, storage keys, raw data."""
    parts = [
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2),
        pickle.dumps(1001, protocol=2),
        pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2),
        object_pickle,
        pickle.dumps(["0"], protocol=2),
    ]
    return b"".join(parts) + struct.pack("<q", 4) + b"\x80\x03" + bytes(14)


def npy(descr: str, shape: tuple[int, ...], data: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def compress(data: bytes, method: str) -> bytes:
    """As joblib's ``compress=(method, level)`` writes the pickle stream."""
    if method == "zlib":
        return zlib.compress(data)
    if method == "gzip":
        return gzip.compress(data)
    if method == "bz2":
        return bz2.compress(data)
    if method == "xz":
        return lzma.compress(data)
    if method == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE)
    raise ValueError(method)


def joblib_with_arrays(arrays: list[tuple[str, tuple[int, ...]]], trailer: bytes = b"") -> bytes:
    """A joblib.dump-shaped stream: a list of NumpyArrayWrapper objects, each followed by its
    padding byte and raw bytes, then ``trailer`` opcodes before the list closes."""
    out = bytearray(PROTO4 + b"]" + MARK)  # EMPTY_LIST, MARK
    for descr, shape in arrays:
        out += unicode("joblib.numpy_pickle") + unicode("NumpyArrayWrapper") + STACK_GLOBAL
        out += b")\x81"  # EMPTY_TUPLE, NEWOBJ
        out += b"}" + MARK  # EMPTY_DICT, MARK
        out += unicode("subclass") + unicode("numpy") + unicode("ndarray") + STACK_GLOBAL
        out += unicode("shape") + b"(" + b"".join(b"K" + bytes([n]) for n in shape) + b"t"
        out += unicode("order") + unicode("C")
        out += unicode("dtype") + unicode("numpy") + unicode("dtype") + STACK_GLOBAL
        out += unicode(descr) + b"\x89\x88\x87R"  # NEWFALSE NEWTRUE TUPLE3 REDUCE
        out += unicode("allow_mmap") + b"\x88"
        out += unicode("numpy_array_alignment_bytes") + b"K\x10"
        out += b"ub"  # SETITEMS, BUILD
        count = 1
        for n in shape:
            count *= n
        itemsize = int(descr.lstrip("<>|=")[1:])
        out += b"\x03\xff\xff\xff" + b"\x80\x05" * (count * itemsize // 2) + b"\x00" * (count * itemsize % 2)
    out += trailer + b"e" + STOP  # APPENDS
    return bytes(out)


def keras_archive(config: dict[str, Any]) -> bytes:
    return zip_of(
        {
            "metadata.json": json.dumps({"keras_version": "3.6.0"}).encode(),
            "config.json": json.dumps(config).encode(),
            "model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(64),
        }
    )


def keras_config(*layers: dict[str, Any]) -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": list(layers)},
    }


def dense_layer() -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "Dense", "config": {"units": 4, "activation": "relu"}}


def safetensors(tensors: dict[str, tuple[str, list[int], tuple[int, int]]], data_size: int) -> bytes:
    header = {name: {"dtype": d, "shape": s, "data_offsets": list(o)} for name, (d, s, o) in tensors.items()}
    header["__metadata__"] = {"format": "pt"}  # type: ignore[assignment]
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(data_size)


def gguf(metadata: dict[str, str | int]) -> bytes:
    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    for key, value in metadata.items():
        if isinstance(value, str):
            out += string(key) + struct.pack("<I", 8) + string(value)
        else:
            out += string(key) + struct.pack("<I", 4) + struct.pack("<I", value)
    return out


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def pb(number: int, payload: bytes | int) -> bytes:
    """One protobuf field: a varint for an int, length-delimited for bytes."""
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def onnx_model(initializers: list[bytes], nodes: list[bytes]) -> bytes:
    """A ModelProto: ir_version, producer, opset, and a graph of nodes and initializers."""
    graph = b"".join(pb(1, n) for n in nodes) + pb(2, b"main") + b"".join(pb(5, t) for t in initializers)
    return pb(1, 9) + pb(2, b"strongroom-tests") + pb(8, pb(2, 17)) + pb(7, graph)


def onnx_tensor(name: str, raw: bytes = b"", location: str | None = None) -> bytes:
    tensor = pb(1, 4) + pb(2, 1) + pb(8, name.encode())
    if location is None:
        return tensor + pb(9, raw)
    entries = pb(13, pb(1, b"location") + pb(2, location.encode())) + pb(13, pb(1, b"offset") + pb(2, b"0"))
    return tensor + entries + pb(14, 1)


def onnx_node(op_type: str, domain: str = "") -> bytes:
    node = pb(1, b"x") + pb(2, b"y") + pb(4, op_type.encode())
    return node + (pb(7, domain.encode()) if domain else b"")
