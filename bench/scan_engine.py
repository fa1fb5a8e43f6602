"""Scan-engine throughput, in one run: layer inventory against the tar-streaming limit of
this machine, and model-file scanning beside picklescan on the same files. ``make bench``
(bench/run.sh) runs it after the registry benchmark; it also runs on its own:

    .venv/bin/python bench/scan_engine.py [--layer-mb 600] [--json FILE]

The layer is a tar of this machine's own files (system libraries, docs, Python
packages), analysed in this process, plain and gzip -1. CPU seconds are measured, so
the figures are per core. The same layer and model files then go through the isolated
worker the registry uses (a child process per analysis, with its limits): those figures
are wall-clock, start-up and copying included. picklescan is compared when it is
importable, and so is modelaudit's pickle engine (modelaudit-picklescan, "ma-picklescan"
below; both come with the dev extra); their detections are printed beside ours.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import io
import json
import os
import pickle
import site
import struct
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from strongroom.analysis.inventory import analyse_layer
from strongroom.analysis.models.files import analyse_model_file
from strongroom.scanning.engine import spool
from strongroom.scanning.isolation import SubprocessAnalyser
from support import models as m

ROOTS = ["/usr/lib/python3", "/usr/share/doc", "/usr/lib/x86_64-linux-gnu", *site.getsitepackages()]


def cpu(work: Callable[[], Any]) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def build_layer(limit: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for root in ROOTS:
            for directory, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if d not in ("torch", "nvidia", "triton")]
                for name in files:
                    path = os.path.join(directory, name)
                    if os.path.isfile(path) and not os.path.islink(path) and raw.tell() < limit:
                        archive.add(path, arcname=path.lstrip("/"))
    return raw.getvalue()


def stream_every_byte(data: bytes) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as archive:
        for member in archive:
            opened = archive.extractfile(member)
            if opened is not None:
                while opened.read(1 << 20):
                    pass


def inventory_figures(layer_mb: int) -> dict[str, Any]:
    plain = build_layer(layer_mb * 1_000_000)
    packed = gzip.compress(plain, compresslevel=1)
    mb = len(plain) / 1e6
    in_memory = lambda rest: io.BytesIO(rest.read())  # noqa: E731
    figures = {"layer_mb": round(mb), "gzip_mb": round(len(packed) / 1e6)}
    for label, data in (("plain", plain), ("gzip", packed)):
        figures[f"tar_stream_limit_{label}_mb_s"] = round(mb / cpu(lambda d=data: stream_every_byte(d)))
        figures[f"inventory_{label}_mb_s"] = round(
            mb / cpu(lambda d=data: analyse_layer(io.BytesIO(d), in_memory))
        )
        start = time.perf_counter()
        layer = SubprocessAnalyser().layer(io.BytesIO(data))
        figures[f"isolated_{label}_mb_s_wall"] = round(mb / (time.perf_counter() - start))
    figures["packages"] = sum(len(found) for found in layer.packages.values())
    figures["model_files_flagged"] = sum(1 for findings in layer.models.values() if findings)
    return figures


def model_files(directory: Path) -> dict[str, bool]:
    """Each sample file and whether it is unsafe."""
    samples = {
        "benign_list_1_5M_opcodes.pkl": (pickle.dumps(list(range(750_000)), protocol=4), False),
        "benign_bytes_100MB.pkl": (pickle.dumps(b"\0" * 100_000_000, protocol=4), False),
        "benign_torch_state.pt": (m.torch_zip(*m.torch_state_dict_pickle({"w": (1024, 1024)})), False),
        "unsafe_posix_system.bin": (m.call("posix", "system"), True),
        "unsafe_stack_global_exec": (m.stack_global_call("builtins", "exec"), True),
        "unsafe_spawnv_passfds.pkl": (m.call("multiprocessing.util", "spawnv_passfds"), True),
        "unsafe_torch.pt": (m.torch_zip(m.call("os", "system")), True),
        "unsafe_legacy_torch.pth": (m.legacy_torch(m.call("os", "system")), True),
        "unsafe_object.npy": (m.npy("|O", (1,), m.call("os", "system")), True),
        "unsafe_joblib_zlib.joblib": (m.compress(m.call("os", "system"), "zlib"), True),
        "unsafe_keras_lambda.keras": (m.keras_archive(m.keras_config({"class_name": "Lambda"})), True),
        # What the second measurement (scanning reference 5.6) saw tools miss or misjudge.
        "benign_bytes_protocol_2.pkl": (pickle.dumps({"k": b"\x00\xff" * 8}, protocol=2), False),
        "benign_datetimes.pkl": (
            pickle.dumps([datetime.datetime(2026, 12, 4), datetime.date(2026, 1, 1)]),
            False,
        ),
        "unsafe_protocol_0_padded": (b"N0" * 40 + b"cos\nsystem\n(S'id'\ntR.", True),
        "unsafe_storage_bytes.pkl": (
            m.PROTO2
            + m.global_op("torch.storage", "_load_from_bytes")
            + m.binbytes(m.legacy_torch(m.call("os", "system")))
            + m.TUPLE1
            + m.REDUCE
            + m.STOP,
            True,
        ),
        "unsafe_torch_bad_crc.pt": (bad_crc(m.torch_zip(m.call("os", "system"))), True),
        "unsafe_pydoc_pipepager.pkl": (m.call("pydoc", "pipepager", "id"), True),
    }
    for name, (data, _) in samples.items():
        (directory / name).write_bytes(data)
    return {name: unsafe for name, (_, unsafe) in samples.items()}


def bad_crc(archive: bytes) -> bytes:
    """The first member's CRC-32 broken in the directory and its local header (torch still
    reads it: CVE-2025-10156)."""
    data = bytearray(archive)
    struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 16, 0xDEADBEEF)
    struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 14, 0xDEADBEEF)
    return bytes(data)


def ours(path: Path) -> bool:
    with path.open("rb") as opened:
        findings = analyse_model_file(path.name, opened, path.stat().st_size, spool)
    return any(f.severity.rank >= 4 for f in findings)  # HIGH or CRITICAL


def theirs(path: Path) -> bool | None:
    try:
        from picklescan.scanner import scan_file_path
    except ImportError:
        return None
    try:
        return bool(scan_file_path(str(path)).infected_files)
    except Exception:
        return False


def isolated(path: Path) -> bool:
    with path.open("rb") as opened:
        findings = SubprocessAnalyser().blob(path.name, opened, path.stat().st_size)
    return any(f.severity.rank >= 4 for f in findings)


def modelaudit(path: Path) -> bool | None:
    """modelaudit's pickle engine on its own; flagged when its verdict is "malicious"."""
    try:
        from modelaudit_picklescan import scan_file
    except ImportError:
        return None
    try:
        return str(scan_file(path).verdict.value) == "malicious"
    except Exception:
        return False


SCANNERS = (
    ("strongroom", ours),
    ("isolated", isolated),
    ("picklescan", theirs),
    ("ma-picklescan", modelaudit),
)


def model_figures() -> dict[str, Any]:
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        for name, unsafe in model_files(directory).items():
            row: dict[str, Any] = {"unsafe": unsafe}
            for label, scanner in SCANNERS:
                start = time.perf_counter()
                verdict = scanner(directory / name)
                row[label] = (
                    None
                    if verdict is None
                    else {"flagged": verdict, "ms": round((time.perf_counter() - start) * 1000, 1)}
                )
            rows[name] = row
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layer-mb", type=int, default=600)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = {"inventory": inventory_figures(args.layer_mb), "models": model_figures()}
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


def report(result: dict[str, Any]) -> None:
    inventory = result["inventory"]
    print(
        f"scan engine: inventory of a {inventory['layer_mb']} MB layer ({inventory['packages']} packages, "
        f"{inventory['model_files_flagged']} model files flagged), per core:"
    )
    for label in ("plain", "gzip"):
        limit, ours_rate = inventory[f"tar_stream_limit_{label}_mb_s"], inventory[f"inventory_{label}_mb_s"]
        share = 100 * ours_rate // limit
        wall = inventory[f"isolated_{label}_mb_s_wall"]
        print(
            f"  {label:5s} {ours_rate:5d} MB/s, tar-streaming limit {limit} MB/s ({share} %); "
            f"in the isolated worker {wall} MB/s wall"
        )
    print(f"{'model file':32s} {'unsafe':6s}" + "".join(f"{label:>18s}" for label, _ in SCANNERS))
    for name, row in result["models"].items():
        cells = [
            "not installed"
            if row[label] is None
            else f"{'FLAG' if row[label]['flagged'] else 'pass'} {row[label]['ms']:8.1f} ms"
            for label, _ in SCANNERS
        ]
        print(f"{name:32s} {row['unsafe']!s:6s}" + "".join(f"{cell:>18s}" for cell in cells))
    for label, _ in SCANNERS:
        timed = [row[label] for row in result["models"].values() if row[label] is not None]
        if timed:
            caught = sum(1 for row in result["models"].values() if row["unsafe"] and row[label]["flagged"])
            unsafe = sum(1 for row in result["models"].values() if row["unsafe"])
            wrong = sum(1 for row in result["models"].values() if not row["unsafe"] and row[label]["flagged"])
            total = sum(cell["ms"] for cell in timed)
            print(
                f"  {label}: {total:.0f} ms for all files; "
                f"{caught} of {unsafe} unsafe flagged, {wrong} benign flagged"
            )


if __name__ == "__main__":
    main()
