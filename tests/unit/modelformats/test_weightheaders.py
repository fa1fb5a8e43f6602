"""Weight headers from untrusted bytes: exact facts from good headers, refusals (not
allocations) from hostile ones, and how many bytes to read when given too few."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from strongroom.modelformats.weightheaders import MAX_HEADER, BadHeader, NeedMore, read_gguf, read_safetensors
from support.model_dirs import gguf_file


def test_safetensors_written_by_the_library() -> None:
    data = save({"a": np.zeros((4, 5), dtype=np.float16), "b": np.zeros(3, dtype=np.int64)}, {"format": "pt"})
    header = read_safetensors(data)
    assert (header.tensor_count, header.parameter_count, header.dtypes) == (2, 23, ("F16", "I64"))
    assert header.metadata == {"format": "pt"}


def test_safetensors_asks_for_its_header_bytes() -> None:
    data = save({"a": np.zeros(10, dtype=np.float32)})
    with pytest.raises(NeedMore) as first:
        read_safetensors(data[:4])
    assert first.value.size == 8
    with pytest.raises(NeedMore) as second:
        read_safetensors(data[:8])
    assert second.value.size == 8 + struct.unpack("<Q", data[:8])[0]
    assert read_safetensors(data[: second.value.size]).parameter_count == 10


@pytest.mark.parametrize(
    "data",
    [
        struct.pack("<Q", MAX_HEADER + 1),
        struct.pack("<Q", 4) + b"nope",
        struct.pack("<Q", 2) + b"[]",
        struct.pack("<Q", 30) + json.dumps({"t": {"dtype": "F32", "shape": [-1]}}).encode().ljust(30),
    ],
)
def test_hostile_safetensors_headers_are_refused(data: bytes) -> None:
    with pytest.raises(BadHeader):
        read_safetensors(data)


def test_gguf_written_by_the_gguf_package(tmp_path: Path) -> None:
    gguf_file(tmp_path / "tiny.gguf")
    header = read_gguf((tmp_path / "tiny.gguf").read_bytes())
    assert (header.tensor_count, header.parameter_count, header.dtypes) == (2, 136, ("F32", "F16"))
    assert header.metadata["general.architecture"] == "llama"
    assert header.metadata["llama.context_length"] == 4096


def test_gguf_asks_for_more_when_cut_short(tmp_path: Path) -> None:
    gguf_file(tmp_path / "tiny.gguf")
    data = (tmp_path / "tiny.gguf").read_bytes()
    with pytest.raises(NeedMore) as more:
        read_gguf(data[:40])
    assert more.value.size > 40


def test_hostile_gguf_counts_are_refused() -> None:
    with pytest.raises(BadHeader):
        read_gguf(b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0))
    with pytest.raises(BadHeader):
        read_gguf(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", MAX_HEADER) + b"k")
    with pytest.raises(BadHeader):
        read_gguf(b"GGML" + bytes(20))
