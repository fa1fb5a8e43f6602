"""OSV records from what an operator hands ``vulndb import``: JSON files (a record or a
list of records), directories of them, and the per-ecosystem ``all.zip`` archives
osv.dev publishes. Members are read one at a time, each with a size cap."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_RECORD_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Rejected:
    """An input that is not an OSV record, and why (reported, never fatal)."""

    source: str
    reason: str


def read_feeds(paths: list[Path]) -> Iterator[dict[str, Any] | Rejected]:
    for path in paths:
        if path.is_dir():
            for member in sorted(path.rglob("*")):
                if member.is_file() and member.suffix in (".json", ".zip"):
                    yield from _read_file(member)
        elif path.is_file():
            yield from _read_file(path)
        else:
            yield Rejected(str(path), "no such file or directory")


def _read_file(path: Path) -> Iterator[dict[str, Any] | Rejected]:
    if zipfile.is_zipfile(path):
        yield from _read_zip(path)
        return
    if path.stat().st_size > MAX_RECORD_BYTES:
        yield Rejected(str(path), f"larger than {MAX_RECORD_BYTES} bytes")
        return
    yield from _documents(str(path), path.read_bytes())


def _read_zip(path: Path) -> Iterator[dict[str, Any] | Rejected]:
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                source = f"{path}!{member.filename}"
                if member.is_dir() or not member.filename.endswith(".json"):
                    continue
                if member.file_size > MAX_RECORD_BYTES:
                    yield Rejected(source, f"larger than {MAX_RECORD_BYTES} bytes")
                    continue
                with archive.open(member) as opened:
                    data = opened.read(MAX_RECORD_BYTES + 1)
                yield from _documents(source, data)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        yield Rejected(str(path), f"unreadable zip: {error}")


def _documents(source: str, data: bytes) -> Iterator[dict[str, Any] | Rejected]:
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as error:
        yield Rejected(source, f"not JSON: {error}")
        return
    for document in parsed if isinstance(parsed, list) else [parsed]:
        yield document if isinstance(document, dict) else Rejected(source, "not a JSON object")
