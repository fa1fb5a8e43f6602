"""The vulnerability database store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from strongroom.metadata.database import Database
from strongroom.metadata.vulndb import SqlVulnStore
from strongroom.scanning.vulndb import to_row
from support import osv

NOW = datetime(2026, 12, 4, tzinfo=UTC)
pytestmark = pytest.mark.anyio


def rows(documents: list[dict]) -> list:  # type: ignore[type-arg]
    converted = [to_row(d) for d in documents]
    assert not any(isinstance(r, str) for r in converted)
    return converted


async def test_import_is_idempotent_and_newer_records_replace_older(database: Database) -> None:
    store = SqlVulnStore(database)
    documents = osv.records()
    first = await store.import_batch(rows(documents), NOW)
    assert (first.added, first.withdrawn, first.updated) == (len(documents) - 1, 1, 0)
    again = await store.import_batch(rows(documents), NOW)
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(documents))

    lodash = next(d for d in documents if d["id"] == "GHSA-35jh-r3h4-6jhm")
    newer = {**lodash, "modified": "2025-01-01T00:00:00Z", "summary": "updated"}
    older = {**lodash, "modified": "2020-01-01T00:00:00Z", "summary": "stale"}
    counts = await store.import_batch(rows([older, newer]), NOW)
    assert counts.updated == 1
    found = await store.records_for([("npm", "lodash")])
    assert [json.loads(d)["summary"] for d in found[("npm", "lodash")]] == ["updated"]


async def test_a_withdrawn_record_stops_matching_and_cannot_come_back_older(database: Database) -> None:
    store = SqlVulnStore(database)
    minimist = next(d for d in osv.records() if d["id"] == "GHSA-xvch-5gv4-984h")
    await store.import_batch(rows([minimist]), NOW)
    assert len((await store.records_for([("npm", "minimist")]))[("npm", "minimist")]) == 1
    withdrawn = {**minimist, "modified": "2025-02-01T00:00:00Z", "withdrawn": "2025-02-01T00:00:00Z"}
    counts = await store.import_batch(rows([withdrawn]), NOW)
    assert counts.withdrawn == 1
    assert (await store.records_for([("npm", "minimist")]))[("npm", "minimist")] == []
    await store.import_batch(rows([minimist]), NOW)  # the original, older copy again
    assert (await store.records_for([("npm", "minimist")]))[("npm", "minimist")] == []


async def test_status_counts_records_per_ecosystem(database: Database) -> None:
    store = SqlVulnStore(database)
    await store.import_batch(rows(osv.records()), NOW)
    status = {row.ecosystem: row for row in await store.status()}
    assert status["Debian:12"].records == 8
    assert status["npm"].records == 5  # six npm records, one withdrawn
    assert status["npm"].newest_modified == datetime(2024, 6, 1, tzinfo=UTC)
    assert status["npm"].last_imported == NOW
