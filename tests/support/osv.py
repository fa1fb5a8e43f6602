"""The hand-written OSV fixtures, and an in-memory lookup over them for matcher tests."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from strongroom.analysis.vulns.osv import base_ecosystem, index_keys

RECORDS_DIR = Path(__file__).parents[1] / "fixtures" / "osv" / "records"
SCHEMA = Path(__file__).parents[1] / "fixtures" / "osv" / "schema.json"


def records() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(RECORDS_DIR.glob("*.json"))]


def lookup_over(documents: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    index: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for document in documents:
        for key in index_keys(document):
            index.setdefault(key, []).append(document)

    def lookup(ecosystem: str, name: str) -> list[dict[str, Any]]:
        found = index.get((ecosystem, name), []) + index.get((base_ecosystem(ecosystem), name), [])
        return list({id(d): d for d in found}.values())

    return lookup


def all_zip() -> bytes:
    """The fixtures as osv.dev publishes an ecosystem: one zip of record files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(RECORDS_DIR.glob("*.json")):
            archive.write(path, path.name)
    return buffer.getvalue()
