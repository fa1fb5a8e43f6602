"""The vulnerability database use cases: import OSV records into the store, report its
state, and answer the matcher's lookups for one image."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from strongroom.analysis.vulns.match import Lookup
from strongroom.analysis.vulns.osv import base_ecosystem, index_keys
from strongroom.metadata.vulndb import EcosystemStatus, ImportCounts, SqlVulnStore, VulnRecordRow
from strongroom.scanning.feeds import Rejected, read_feeds

BATCH = 500


@dataclass
class ImportReport:
    counts: ImportCounts = field(default_factory=ImportCounts)
    rejected: list[Rejected] = field(default_factory=list)


def to_row(document: dict[str, Any]) -> VulnRecordRow | str:
    """The stored form of a record, or why it is not one."""
    record_id, modified = document.get("id"), document.get("modified")
    if not isinstance(record_id, str) or not record_id or len(record_id) > 128:
        return "no usable id"
    if not isinstance(modified, str):
        return f"{record_id}: no modified time"
    try:
        stamp = datetime.fromisoformat(modified)
    except ValueError:
        return f"{record_id}: modified is not an RFC 3339 time"
    if not isinstance(document.get("affected", []), list):
        return f"{record_id}: affected is not a list"
    keys = frozenset(key for key in index_keys(document) if len(key[0]) <= 128 and len(key[1]) <= 512)
    return VulnRecordRow(
        id=record_id,
        modified=stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC),
        withdrawn=bool(document.get("withdrawn")),
        document=json.dumps(document, separators=(",", ":"), sort_keys=True),
        keys=keys,
    )


async def import_paths(store: SqlVulnStore, paths: list[Path], now: datetime) -> ImportReport:
    report = ImportReport()
    batch: list[VulnRecordRow] = []
    for item in read_feeds(paths):
        if isinstance(item, Rejected):
            report.rejected.append(item)
            continue
        row = to_row(item)
        if isinstance(row, str):
            report.rejected.append(Rejected(str(item.get("id", "?")), row))
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            report.counts.add(await store.import_batch(batch, now))
            batch = []
    if batch:
        report.counts.add(await store.import_batch(batch, now))
    return report


async def status(store: SqlVulnStore) -> list[EcosystemStatus]:
    return await store.status()


async def lookup_for(store: SqlVulnStore, keys: Iterable[tuple[str, str]]) -> Lookup:
    """A lookup over just the records an image's packages can match, read in one go
    (the matcher is pure and synchronous). Records filed under an ecosystem without a
    release (``Debian``) apply to every release (``Debian:12``)."""
    wanted = {key for key in keys} | {(base_ecosystem(e), n) for e, n in keys}
    found = await store.records_for(wanted)
    parsed = {key: [json.loads(text) for text in texts] for key, texts in found.items()}

    def lookup(ecosystem: str, name: str) -> list[dict[str, Any]]:
        records = parsed.get((ecosystem, name), [])
        if base_ecosystem(ecosystem) != ecosystem:
            records = records + parsed.get((base_ecosystem(ecosystem), name), [])
        return records

    return lookup
