"""Image scans on SQL: each image's last scan status, its findings (open, or closed by a
later scan), and the layer inventory cache shared by every image and every process.

A scan's life::

    (push with scanning on, or StartImageScan) ──▶ PENDING ──▶ IN_PROGRESS ──▶ COMPLETE
                                                                   └──▶ FAILED | UNSUPPORTED_IMAGE
    COMPLETE ──▶ (the vulnerability database changed) COMPLETE again, re-evaluated
             └──▶ SCAN_ELIGIBILITY_EXPIRED (not pushed or pulled within the rescan duration)

Findings are keyed by what identifies them (``finding_key``), so scanning the image
again keeps a finding's ``first_seen``, moves its ``last_seen``, and closes the ones it
no longer finds; the events that says so are written in the same transaction.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.outbox import NewJob, Outbox, write_outbox
from strongroom.metadata.schema import image_scans, layer_inventories, scan_findings

PENDING = "PENDING"
IN_PROGRESS = "IN_PROGRESS"
COMPLETE = "COMPLETE"
FAILED = "FAILED"
UNSUPPORTED_IMAGE = "UNSUPPORTED_IMAGE"
SCAN_ELIGIBILITY_EXPIRED = "SCAN_ELIGIBILITY_EXPIRED"
FINISHED = (COMPLETE, FAILED, UNSUPPORTED_IMAGE)


@dataclass(frozen=True, slots=True)
class NewFinding:
    key: str
    kind: str
    name: str
    severity: str
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredFinding:
    key: str
    kind: str
    name: str
    severity: str
    document: dict[str, Any]
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class ScanRecord:
    status: str
    description: str | None
    requested_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    vulnerability_source_updated_at: datetime | None
    layers_analysed: int
    layers_cached: int
    severity_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """What finishing a scan changed: findings it found first, and findings it closed."""

    new: list[NewFinding]
    closed: list[StoredFinding]


Announce = Callable[[ScanOutcome], Outbox]
"""The events a finished scan causes, written in the transaction that stores it."""


def mark_pending(conn: sa.Connection, insert: Any, repository_id: int, digest: str, now: datetime) -> None:
    """A scan is queued for the image (in the caller's transaction: the push's)."""
    conn.execute(
        _pending_statement(insert), {"repository_id": repository_id, "image_digest": digest, "now": now}
    )


REGISTRY_SBOM = (
    "The registry's own SBOM of a scanned image: it holds what that image's scan found and "
    "is not scanned itself."
)


def mark_made_by_registry(
    conn: sa.Connection, insert: Any, repository_id: int, digest: str, now: datetime
) -> None:
    """The registry stored its own SBOM of an image (in the push's transaction): record it
    as scanned, with nothing found, so ``--block-unscanned`` lets it be pulled. It is not
    scanned on push nor re-evaluated; a client's manifest never gets this record."""
    values = {
        "status": COMPLETE,
        "description": REGISTRY_SBOM,
        "requested_at": now,
        "started_at": now,
        "completed_at": now,
        "made_by_registry": True,
        "updated_at": now,
    }
    statement = insert(image_scans).values(repository_id=repository_id, image_digest=digest, **values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[image_scans.c.repository_id, image_scans.c.image_digest], set_=values
        )
    )


@functools.cache
def _pending_statement(insert: Any) -> Any:
    """The PENDING upsert for a dialect's ``insert``, built once: every push that queues a
    scan runs it, and building an upsert costs more than running it (ADR 0012)."""
    now: Any = sa.bindparam("now")
    statement = insert(image_scans).values(
        repository_id=sa.bindparam("repository_id"),
        image_digest=sa.bindparam("image_digest"),
        status=PENDING,
        description=None,
        requested_at=now,
        updated_at=now,
    )
    return statement.on_conflict_do_update(
        index_elements=[image_scans.c.repository_id, image_scans.c.image_digest],
        set_={"status": PENDING, "description": None, "requested_at": now, "updated_at": now},
    )


class SqlScanStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # the layer inventory cache

    def layer_inventory(self, layer_digest: str, analyser_version: str) -> str | None:
        """The encoded inventory of a layer, if analysed by this analyser version. Blocking:
        the scan engine asks from its worker thread."""
        with self._db.reading() as conn:
            return conn.scalar(
                sa.select(layer_inventories.c.inventory).where(
                    layer_inventories.c.layer_digest == layer_digest,
                    layer_inventories.c.analyser_version == analyser_version,
                )
            )

    async def put_layer_inventories(self, entries: Sequence[tuple[str, str, str]], now: datetime) -> None:
        """Store (layer digest, analyser version, encoded inventory); one already stored stays."""
        if not entries:
            return

        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    self._db.insert(layer_inventories).on_conflict_do_nothing(),
                    [
                        {"layer_digest": d, "analyser_version": v, "inventory": i, "created_at": now}
                        for d, v, i in entries
                    ],
                )

        await self._db.write(work)

    async def count_layer_inventories(self, layer_digest: str) -> int:
        def work() -> int:
            with self._db.reading() as conn:
                return int(
                    conn.scalar(
                        sa.select(sa.func.count()).where(layer_inventories.c.layer_digest == layer_digest)
                    )
                    or 0
                )

        return await self._db.run(work)

    # scans

    async def request(
        self,
        repository_id: int,
        digest: str,
        now: datetime,
        job: NewJob,
        *,
        manual_since: datetime | None = None,
    ) -> bool:
        """Mark a scan of the image PENDING and queue its job, in one transaction. With
        ``manual_since`` (StartImageScan), only when no manual scan was requested after
        it: False then, and nothing changes."""

        def work() -> bool:
            with self._db.writing() as conn:
                if manual_since is not None:
                    last = conn.scalar(
                        sa.select(image_scans.c.manual_requested_at).where(*_image(repository_id, digest))
                    )
                    if last is not None and last > manual_since:
                        return False
                mark_pending(conn, self._db.insert, repository_id, digest, now)
                write_outbox(conn, self._db.insert, Outbox(jobs=[job]), now)
                if manual_since is not None:
                    conn.execute(
                        image_scans.update()
                        .where(*_image(repository_id, digest))
                        .values(manual_requested_at=now)
                    )
                return True

        return await self._db.write(work)

    async def start(self, repository_id: int, digest: str, now: datetime) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                statement = self._db.insert(image_scans).values(
                    repository_id=repository_id,
                    image_digest=digest,
                    status=IN_PROGRESS,
                    requested_at=now,
                    started_at=now,
                    updated_at=now,
                )
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[image_scans.c.repository_id, image_scans.c.image_digest],
                        set_={
                            "status": IN_PROGRESS,
                            "description": None,
                            "started_at": now,
                            "updated_at": now,
                        },
                    )
                )

        await self._db.write(work)

    async def finish(
        self,
        repository_id: int,
        digest: str,
        now: datetime,
        *,
        status: str,
        description: str | None,
        findings: Collection[NewFinding] = (),
        source_updated_at: datetime | None = None,
        layers: tuple[int, int] = (0, 0),
        announce: Announce | None = None,
        only_if_status: str | None = None,
    ) -> ScanOutcome | None:
        """Record a finished scan. COMPLETE replaces the open findings with ``findings``
        (new ones open, missing ones close); FAILED and UNSUPPORTED_IMAGE leave them.
        With ``only_if_status``, only if the scan's status is still that one and no newer
        vulnerability data was stored meanwhile (a re-evaluation yields to a scan queued
        since, and to a later one): None then, and nothing changes."""

        def work() -> ScanOutcome | None:
            with self._db.writing() as conn:
                if only_if_status is not None:
                    columns = (image_scans.c.status, image_scans.c.vulnerability_source_updated_at)
                    current = conn.execute(sa.select(*columns).where(*_image(repository_id, digest))).first()
                    if current is None or current[0] != only_if_status:
                        return None
                    if current[1] and source_updated_at and current[1] > source_updated_at:
                        return None
                outcome = ScanOutcome([], [])
                if status == COMPLETE:
                    outcome = _replace_findings(conn, self._db.insert, repository_id, digest, findings, now)
                conn.execute(
                    image_scans.update()
                    .where(*_image(repository_id, digest))
                    .values(
                        status=status,
                        description=description,
                        completed_at=now,
                        vulnerability_source_updated_at=source_updated_at,
                        layers_analysed=layers[0],
                        layers_cached=layers[1],
                        updated_at=now,
                    )
                )
                if announce is not None:
                    write_outbox(conn, self._db.insert, announce(outcome), now)
                return outcome

        return await self._db.write(work)

    async def scans(self, repository_id: int, digests: Collection[str]) -> dict[str, ScanRecord]:
        """The last scan of each of these images that has one, with its open findings counted."""
        if not digests:
            return {}

        def work() -> dict[str, ScanRecord]:
            with self._db.reading() as conn:
                rows = conn.execute(
                    sa.select(image_scans).where(
                        image_scans.c.repository_id == repository_id,
                        image_scans.c.image_digest.in_(list(digests)),
                    )
                ).all()
                counts: dict[str, dict[str, int]] = {}
                for found, severity, count in conn.execute(
                    sa.select(scan_findings.c.image_digest, scan_findings.c.severity, sa.func.count())
                    .where(
                        scan_findings.c.repository_id == repository_id,
                        scan_findings.c.image_digest.in_(list(digests)),
                        scan_findings.c.closed_at.is_(None),
                    )
                    .group_by(scan_findings.c.image_digest, scan_findings.c.severity)
                ):
                    counts.setdefault(found, {})[severity] = count
            return {
                row.image_digest: ScanRecord(
                    row.status,
                    row.description,
                    row.requested_at,
                    row.started_at,
                    row.completed_at,
                    row.vulnerability_source_updated_at,
                    row.layers_analysed,
                    row.layers_cached,
                    dict(sorted(counts.get(row.image_digest, {}).items())),
                )
                for row in rows
            }

        return await self._db.run(work)

    async def findings(
        self, repository_id: int, digest: str, *, after: str | None = None, limit: int = 1000
    ) -> list[StoredFinding]:
        """A page of the image's open findings in key order, after the key ``after``."""

        def work() -> list[StoredFinding]:
            query = sa.select(scan_findings).where(
                *_finding_image(repository_id, digest), scan_findings.c.closed_at.is_(None)
            )
            if after is not None:
                query = query.where(scan_findings.c.finding_key > after)
            with self._db.reading() as conn:
                rows = conn.execute(query.order_by(scan_findings.c.finding_key).limit(limit)).all()
            return [_stored(row) for row in rows]

        return await self._db.run(work)


def read_gate_scan(
    conn: sa.Connection, repository_id: int, digest: str, limit: int
) -> tuple[str | None, list[StoredFinding]]:
    """The image's last scan status and its open findings (the first ``limit``), read in
    the caller's transaction (the pull gate's one read)."""
    image = {"repository_id": repository_id, "digest": digest}
    status = conn.scalar(_SCAN_STATUS, image)
    rows = conn.execute(_OPEN_FINDINGS, {**image, "limit": limit}).all()
    return status, [_stored(row) for row in rows]


_SCAN_STATUS = sa.select(image_scans.c.status).where(
    image_scans.c.repository_id == sa.bindparam("repository_id"),
    image_scans.c.image_digest == sa.bindparam("digest"),
)
_OPEN_FINDINGS = (
    sa.select(scan_findings)
    .where(
        scan_findings.c.repository_id == sa.bindparam("repository_id"),
        scan_findings.c.image_digest == sa.bindparam("digest"),
        scan_findings.c.closed_at.is_(None),
    )
    .order_by(scan_findings.c.finding_key)
    .limit(sa.bindparam("limit"))
)


def _image(repository_id: int, digest: str) -> tuple[sa.ColumnElement[bool], ...]:
    return image_scans.c.repository_id == repository_id, image_scans.c.image_digest == digest


def _finding_image(repository_id: int, digest: str) -> tuple[sa.ColumnElement[bool], ...]:
    return scan_findings.c.repository_id == repository_id, scan_findings.c.image_digest == digest


def _stored(row: sa.Row[Any]) -> StoredFinding:
    return StoredFinding(
        row.finding_key,
        row.kind,
        row.name,
        row.severity,
        json.loads(row.document),
        row.first_seen,
        row.last_seen,
    )


def _replace_findings(
    conn: sa.Connection,
    insert: Any,
    repository_id: int,
    digest: str,
    findings: Collection[NewFinding],
    now: datetime,
) -> ScanOutcome:
    open_rows = {
        row.finding_key: row
        for row in conn.execute(
            sa.select(scan_findings).where(
                *_finding_image(repository_id, digest), scan_findings.c.closed_at.is_(None)
            )
        )
    }
    wanted = {finding.key: finding for finding in findings}
    new = [finding for key, finding in wanted.items() if key not in open_rows]
    closed = [_stored(row) for key, row in open_rows.items() if key not in wanted]
    for finding in wanted.values():
        values = {
            "kind": finding.kind,
            "name": finding.name[:255],
            "severity": finding.severity,
            "document": json.dumps(finding.document, sort_keys=True),
            "last_seen": now,
        }
        statement = insert(scan_findings).values(
            repository_id=repository_id,
            image_digest=digest,
            finding_key=finding.key,
            first_seen=now,
            closed_at=None,
            **values,
        )
        # A finding closed earlier and found again opens anew, from now.
        reopened = {**values, "closed_at": None}
        if finding.key not in open_rows:
            reopened["first_seen"] = now
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[
                    scan_findings.c.repository_id,
                    scan_findings.c.image_digest,
                    scan_findings.c.finding_key,
                ],
                set_=reopened,
            )
        )
    if closed:
        conn.execute(
            scan_findings.update()
            .where(
                *_finding_image(repository_id, digest),
                scan_findings.c.finding_key.in_([finding.key for finding in closed]),
            )
            .values(closed_at=now)
        )
    return ScanOutcome(new, closed)
