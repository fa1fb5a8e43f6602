"""Benign models written by the real libraries give no finding; the same files with a
malicious data.pkl do. torch and numpy are not dependencies of the registry; the
development dependencies install them."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from strongroom.analysis.models.files import analyse_model_file
from strongroom.analysis.severity import Severity
from support import models


def analyse(data: bytes, path: str) -> list:  # type: ignore[type-arg]
    return analyse_model_file(path, io.BytesIO(data), len(data), lambda r: io.BytesIO(r.read()))


def saved(obj: object, **options: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, **options)
    return buffer.getvalue()


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        self.norm = torch.nn.BatchNorm1d(2)


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("state dict, zip", lambda: saved(Net().state_dict())),
        (
            "state dict, legacy format",
            lambda: saved(Net().state_dict(), _use_new_zipfile_serialization=False),
        ),
        ("plain tensors of several dtypes", lambda: saved(_tensors())),
        ("a tensor list and a Size", lambda: saved([torch.randn(2, 2), torch.Size([3, 4])])),
        ("numpy .npy", lambda: _npy(np.arange(12, dtype=np.float32).reshape(3, 4))),
        ("numpy .npz", lambda: _npz(a=np.ones(3), b=np.zeros((2, 2), dtype=np.int64))),
        ("numpy object array of plain values", lambda: _npy(np.array([1, "two", 3.0], dtype=object))),
        ("numpy arrays pickled at protocol 5", lambda: __import__("pickle").dumps(np.arange(6), protocol=5)),
        (
            "a tensor pickled by pickle itself: its storage is a legacy torch file in _load_from_bytes",
            lambda: __import__("pickle").dumps(torch.arange(6.0).reshape(2, 3), protocol=2),
        ),
        (
            "a numpy random generator",
            lambda: __import__("pickle").dumps(np.random.default_rng(7), protocol=4),
        ),
    ],
)
def test_benign_files_from_the_real_libraries_give_no_finding(label: str, data) -> None:  # type: ignore[no-untyped-def]
    assert analyse(data(), "model.bin") == [], label


def test_a_whole_module_pickled_names_only_its_own_class() -> None:
    findings = analyse(saved(Net()), "model.pt")
    assert {(f.severity, f.detail.rsplit(".", 1)[-1]) for f in findings} == {(Severity.LOW, "Net")}


def test_a_real_torch_zip_with_its_data_pkl_replaced_is_critical() -> None:
    original = zipfile.ZipFile(io.BytesIO(saved(Net().state_dict())))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as tampered:
        for member in original.infolist():
            data = original.read(member)
            if member.filename.endswith("data.pkl"):
                data = models.call("os", "system")
            tampered.writestr(member, data)
    findings = analyse(buffer.getvalue(), "pytorch_model.bin")
    assert [(f.severity, f.detail) for f in findings] == [(Severity.CRITICAL, "imports os.system")]


def _with_bad_crc(archive: bytes, member_suffix: bytes) -> bytes:
    """The member's CRC-32 broken in the central directory and its local header."""
    data = bytearray(archive)
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_length].endswith(member_suffix):
            struct.pack_into("<I", data, at + 16, 0xDEADBEEF)
            struct.pack_into("<I", data, struct.unpack_from("<I", data, at + 42)[0] + 14, 0xDEADBEEF)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def test_a_bad_crc_torch_reads_anyway_hides_nothing() -> None:
    """CVE-2025-10156: torch loads a checkpoint whose data.pkl has a wrong CRC-32, which
    Python's zipfile refuses; the file is walked all the same."""
    benign = _with_bad_crc(saved({"w": torch.ones(2)}), b"data.pkl")
    assert torch.load(io.BytesIO(benign), weights_only=True)["w"].tolist() == [1.0, 1.0]
    assert [f.rule for f in analyse(benign, "model.pt")] == ["zip-unreadable"]
    original = zipfile.ZipFile(io.BytesIO(saved({"w": torch.ones(2)})))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as tampered:
        for member in original.infolist():
            payload = models.call("os", "system") if member.filename.endswith("data.pkl") else None
            tampered.writestr(member, payload if payload is not None else original.read(member))
    findings = analyse(_with_bad_crc(buffer.getvalue(), b"data.pkl"), "model.pt")
    assert {(f.severity, f.rule) for f in findings} == {
        (Severity.HIGH, "zip-unreadable"),
        (Severity.CRITICAL, "pickle-code-execution"),
    }


def test_torch_itself_loads_what_we_call_benign(tmp_path: Path) -> None:
    """The benign samples are real: torch's safe loader accepts them."""
    path = tmp_path / "state.pt"
    path.write_bytes(saved(Net().state_dict()))
    assert set(torch.load(path, weights_only=True)) == set(Net().state_dict())


def _tensors() -> dict[str, object]:
    return {
        "f": torch.ones(3),
        "i": torch.arange(4),
        "h": torch.zeros(2, dtype=torch.float16),
        "b": torch.zeros(2, dtype=torch.bfloat16),
    }


def _npy(array: object) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npz(**arrays: object) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
