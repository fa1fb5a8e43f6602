"""OSV advisories on SQL: ``vulndb_records`` (each record's JSON) and ``vulndb_packages``
(the (ecosystem, normalised name) keys it is filed under, which matching looks up).

Imports are idempotent: a record whose ``modified`` is not newer than the stored one is
left alone. A withdrawn record keeps its row (so a later, older copy cannot bring it
back) and loses its keys (so nothing matches it). Each batch is one short write
transaction, so an import can run beside a serving registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.schema import vulndb_packages, vulndb_records


@dataclass(frozen=True)
class VulnRecordRow:
    id: str
    modified: datetime
    withdrawn: bool
    document: str
    keys: frozenset[tuple[str, str]]


@dataclass
class ImportCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0

    def add(self, other: ImportCounts) -> None:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.withdrawn += other.withdrawn


@dataclass(frozen=True)
class EcosystemStatus:
    ecosystem: str
    records: int
    newest_modified: datetime | None
    last_imported: datetime | None


@dataclass(frozen=True)
class DatabaseState:
    records: int
    withdrawn: int
    newest_modified: datetime | None
    last_imported: datetime | None

    @property
    def key(self) -> str:
        return "/".join(
            str(part)
            for part in (
                self.records,
                self.withdrawn,
                self.newest_modified.isoformat() if self.newest_modified else "-",
                self.last_imported.isoformat() if self.last_imported else "-",
            )
        )


class SqlVulnStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def import_batch(self, rows: list[VulnRecordRow], now: datetime) -> ImportCounts:
        def work() -> ImportCounts:
            counts = ImportCounts()
            with self._db.writing() as conn:
                stored = dict(
                    conn.execute(
                        sa.select(vulndb_records.c.id, vulndb_records.c.modified).where(
                            vulndb_records.c.id.in_([row.id for row in rows])
                        )
                    ).all()
                )
                for row in _newest_per_id(rows):
                    previous = stored.get(row.id)
                    if previous is not None and previous >= row.modified:
                        counts.unchanged += 1
                        continue
                    _replace(conn, row, now, exists=previous is not None)
                    if row.withdrawn:
                        counts.withdrawn += 1
                    elif previous is None:
                        counts.added += 1
                    else:
                        counts.updated += 1
            return counts

        return await self._db.write(work)

    async def records_for(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """Each key's record documents (JSON text)."""
        wanted = sorted(set(keys))

        def work() -> dict[tuple[str, str], list[str]]:
            found: dict[tuple[str, str], list[str]] = {key: [] for key in wanted}
            with self._db.reading() as conn:
                for start in range(0, len(wanted), 200):
                    chunk = wanted[start : start + 200]
                    query = (
                        sa.select(
                            vulndb_packages.c.ecosystem, vulndb_packages.c.name, vulndb_records.c.document
                        )
                        .join(vulndb_records, vulndb_records.c.id == vulndb_packages.c.record_id)
                        .where(sa.tuple_(vulndb_packages.c.ecosystem, vulndb_packages.c.name).in_(chunk))
                    )
                    for ecosystem, name, document in conn.execute(query):
                        found[(ecosystem, name)].append(document)
            return found

        return await self._db.run(work)

    async def status(self) -> list[EcosystemStatus]:
        def work() -> list[EcosystemStatus]:
            query = (
                sa.select(
                    vulndb_packages.c.ecosystem,
                    sa.func.count(sa.distinct(vulndb_packages.c.record_id)),
                    sa.func.max(vulndb_records.c.modified),
                    sa.func.max(vulndb_records.c.imported_at),
                )
                .join(vulndb_records, vulndb_records.c.id == vulndb_packages.c.record_id)
                .group_by(vulndb_packages.c.ecosystem)
                .order_by(vulndb_packages.c.ecosystem)
            )
            with self._db.reading() as conn:
                rows = conn.execute(query).all()
            return [
                EcosystemStatus(ecosystem, count, _utc(newest), _utc(imported))
                for ecosystem, count, newest, imported in rows
            ]

        return await self._db.run(work)

    async def state(self) -> DatabaseState:
        """What identifies the database's contents: any import that changed a record
        (added, updated, withdrawn) changes it."""

        def work() -> DatabaseState:
            query = sa.select(
                sa.func.count(),
                sa.func.sum(sa.case((vulndb_records.c.withdrawn, 1), else_=0)),
                sa.func.max(vulndb_records.c.modified),
                sa.func.max(vulndb_records.c.imported_at),
            )
            with self._db.reading() as conn:
                records, withdrawn, modified, imported = conn.execute(query).one()
            return DatabaseState(int(records), int(withdrawn or 0), _utc(modified), _utc(imported))

        return await self._db.run(work)


def _newest_per_id(rows: list[VulnRecordRow]) -> list[VulnRecordRow]:
    newest: dict[str, VulnRecordRow] = {}
    for row in rows:
        if row.id not in newest or newest[row.id].modified < row.modified:
            newest[row.id] = row
    return list(newest.values())


def _replace(conn: sa.Connection, row: VulnRecordRow, now: datetime, exists: bool) -> None:
    values = {
        "modified": row.modified,
        "withdrawn": row.withdrawn,
        "document": row.document,
        "imported_at": now,
    }
    if exists:
        conn.execute(vulndb_records.update().where(vulndb_records.c.id == row.id).values(**values))
        conn.execute(vulndb_packages.delete().where(vulndb_packages.c.record_id == row.id))
    else:
        conn.execute(vulndb_records.insert().values(id=row.id, **values))
    if not row.withdrawn and row.keys:
        conn.execute(
            vulndb_packages.insert(),
            [{"ecosystem": e, "name": n, "record_id": row.id} for e, n in sorted(row.keys)],
        )


def _utc(value: object) -> datetime | None:
    """Aggregates bypass the column type on SQLite: parse what comes back."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    from datetime import UTC

    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
