"""The audit log on SQL, run against SQLite and PostgreSQL: appends chain, readers
filter, and tampering with the table through raw SQL is caught by verify."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import anyio
import pytest
import sqlalchemy as sa

from strongroom.audit.chain import GENESIS, canonical_json
from strongroom.audit.log import ANONYMOUS, AuditEvent, AuditLog
from strongroom.metadata.audit import SqlAuditStore
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine
from strongroom.metadata.schema import audit_events

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/100%_bob"  # LIKE wildcards must match literally
REPO = "arn:aws:ecr:us-east-1:123456789012:repository/ml/model"


@pytest.fixture
def url(database_url: str) -> str:
    return database_url


@pytest.fixture
def log(database: Database) -> AuditLog:
    return AuditLog(SqlAuditStore(database))


def event(
    n: int, principal: str = ALICE, action: str = "ecr:PutImage", decision: str = "allow"
) -> AuditEvent:
    return AuditEvent(
        time=T0 + timedelta(seconds=n, microseconds=n),
        principal=principal,
        action=action,
        resource=REPO,
        source_ip="192.0.2.7",
        decision=decision,  # type: ignore[arg-type]
        detail={"status": 201 if decision == "allow" else 403, "tag": f"v{n}"},
    )


async def record_five(log: AuditLog) -> list[str]:
    return [(await log.record(event(n))).hash for n in range(1, 6)]


def tamper(database: Database, statement: sa.Executable) -> None:
    with database.engine.begin() as conn:
        conn.execute(statement)


class Lines:
    def __init__(self) -> None:
        self.text = ""

    async def write(self, text: str, /) -> int:
        self.text += text
        return len(text)


async def test_appends_chain_from_genesis(database: Database, log: AuditLog) -> None:
    store = SqlAuditStore(database)
    assert await store.rows() == []
    first = await log.record(event(1))
    second = await log.record(event(2))
    assert (first.seq, second.seq) == (1, 2)
    rows = await store.rows()
    assert [row.prev_hash for row in rows] == [GENESIS, first.hash]
    assert rows[0].at == event(1).time
    assert AuditEvent.from_record(rows[1].record) == event(2)
    assert [row.seq for row in await store.rows(after_seq=1, limit=5)] == [2]
    result = await log.verify()
    assert result.as_json() == {"ok": True, "events": 2, "head": second.hash}


async def test_query_filters(log: AuditLog) -> None:
    await log.record(event(1))
    await log.record(event(2, principal=BOB, action="ecr:BatchGetImage"))
    await log.record(event(3, principal=ANONYMOUS, decision="deny"))
    await log.record(event(4, principal="arn:aws:iam::123456789012:user/100xybob"))
    nested = AuditEvent(T0, ALICE, "iam:CreateUser", "*", None, "allow", {"principal": BOB})
    await log.record(nested)

    assert [e.seq for e in await log.query()] == [1, 2, 3, 4, 5]
    assert [e.seq for e in await log.query(principal=BOB)] == [2]
    assert [e.seq for e in await log.query(principal=ALICE)] == [1, 5]
    assert [e.seq for e in await log.query(decision="deny")] == [3]
    assert [e.event.principal for e in await log.query(decision="deny")] == [ANONYMOUS]
    assert [e.seq for e in await log.query(action="ecr:PutImage", decision="allow")] == [1, 4]
    assert [e.seq for e in await log.query(since_seq=3, limit=1)] == [4]
    assert (await log.query(since_seq=1, limit=1))[0].event == event(
        2, principal=BOB, action="ecr:BatchGetImage"
    )


async def test_export_is_verifiable_json_lines(log: AuditLog) -> None:
    hashes = await record_five(log)
    await log.record(event(6, decision="deny"))
    sink = Lines()
    assert await log.export_jsonl(sink) == 6
    lines = [json.loads(line) for line in sink.text.splitlines()]
    assert [line["hash"] for line in lines[:5]] == hashes
    assert lines[5]["event"]["decision"] == "deny"
    assert lines[0]["event"]["principal"] == ALICE
    for line in lines:  # the hashed record is the canonical form of the exported event
        record = canonical_json(line["event"])
        assert AuditEvent.from_record(record).detail["tag"] == line["event"]["detail"]["tag"]
    filtered = Lines()
    assert await log.export_jsonl(filtered, since_seq=2, decision="allow") == 3


async def test_concurrent_appends_keep_one_chain(url: str, log: AuditLog) -> None:
    # A second Database is a second process's connection pool.
    other = Database(create_engine(url))
    try:
        logs = [log, AuditLog(SqlAuditStore(other))]
        async with anyio.create_task_group() as group:
            for n in range(40):
                group.start_soon(logs[n % 2].record, event(n))
    finally:
        other.close()
    result = await log.verify()
    assert (result.ok, result.events) == (True, 40)
    assert sorted(e.event.detail["tag"] for e in await log.query(limit=100)) == sorted(
        f"v{n}" for n in range(40)
    )


async def test_altered_row_is_reported(database: Database, log: AuditLog) -> None:
    await record_five(log)
    forged = event(3, decision="deny").to_record()
    tamper(database, audit_events.update().where(audit_events.c.seq == 3).values(record=forged))
    result = await log.verify()
    assert (result.ok, result.broken_seq, result.reason) == (False, 3, "altered")


async def test_deleted_row_is_reported(database: Database, log: AuditLog) -> None:
    await record_five(log)
    tamper(database, audit_events.delete().where(audit_events.c.seq == 2))
    result = await log.verify()
    assert (result.ok, result.broken_seq, result.reason) == (False, 2, "deleted")


async def test_shifted_at_is_reported(database: Database, log: AuditLog) -> None:
    await record_five(log)
    tamper(database, audit_events.update().where(audit_events.c.seq == 4).values(at=T0 - timedelta(days=1)))
    assert ((await log.verify()).broken_seq, (await log.verify()).reason) == (4, "altered")


async def test_reordered_rows_are_reported(database: Database, log: AuditLog) -> None:
    await record_five(log)
    seq = audit_events.c.seq
    tamper(database, audit_events.update().where(seq == 2).values(seq=-2))
    tamper(database, audit_events.update().where(seq == 3).values(seq=2))
    tamper(database, audit_events.update().where(seq == -2).values(seq=3))
    result = await log.verify()
    assert (result.ok, result.broken_seq, result.reason) == (False, 2, "reordered")


async def test_truncated_tail_is_reported_against_a_kept_head(database: Database, log: AuditLog) -> None:
    hashes = await record_five(log)
    assert (await log.verify(expect_head=hashes[2])).ok
    tamper(database, audit_events.delete().where(audit_events.c.seq == 5))
    await log.record(event(9))  # appending after the cut hides it from the chain alone
    assert (await log.verify()).ok
    result = await log.verify(expect_head=hashes[4])
    assert (result.ok, result.reason) == (False, "truncated")
