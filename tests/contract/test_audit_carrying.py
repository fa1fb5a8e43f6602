"""An audit record carried by a request's effect (``AuditLog.carrying``). On SQLite it
commits in the effect's transaction or not at all, once, and chains with records
appended the ordinary way, from any number of tasks at once. On PostgreSQL nothing rides
(it would hold the chain's lock through every push's commit, ADR 0024): the effect
commits alone and the caller appends the record after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest
import sqlalchemy as sa

from strongroom.audit.log import AuditEvent, AuditLog
from strongroom.metadata.audit import SqlAuditStore
from strongroom.metadata.database import Database
from strongroom.metadata.schema import accounts, audit_events

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
REPO = "arn:aws:ecr:us-east-1:123456789012:repository/ml/model"


@pytest.fixture
def log(database: Database) -> AuditLog:
    return AuditLog(SqlAuditStore(database))


def event(n: int) -> AuditEvent:
    return AuditEvent(
        time=T0 + timedelta(seconds=n),
        principal="arn:aws:iam::123456789012:user/alice",
        action="ecr:PutImage",
        resource=REPO,
        source_ip="192.0.2.7",
        decision="allow",
        detail={"status": 201, "n": n},
    )


async def effect(database: Database, key: str, *, fail: bool = False, marked: bool = True) -> None:
    """A write standing for a request's effect: one row of ``accounts``."""

    def work() -> None:
        with database.writing(effect=marked) as conn:
            conn.execute(accounts.insert().values(id=key, is_default=False, created_at=T0))
            if fail:
                raise RuntimeError("the effect failed after its statements")

    await database.write(work)


def stored(database: Database) -> tuple[list[str], list[int]]:
    with database.engine.connect() as conn:
        keys = list(conn.scalars(sa.select(accounts.c.id).order_by(accounts.c.id)))
        seqs = list(conn.scalars(sa.select(audit_events.c.seq).order_by(audit_events.c.seq)))
    return keys, seqs


def carries(database: Database) -> bool:
    return database.dialect == "sqlite"


async def test_the_record_commits_in_the_effects_transaction(database: Database, log: AuditLog) -> None:
    await log.record(event(0))
    with log.carrying(event(1)) as entry:
        assert entry() is None  # nothing committed yet
        await effect(database, "a")
        carried = entry()
    if carries(database):
        assert carried is not None and carried.seq == 2
        assert stored(database) == (["a"], [1, 2])
    else:  # the effect commits alone; the caller appends the record after
        assert carried is None
        assert stored(database) == (["a"], [1])
    assert (await log.verify()).ok


async def test_a_failed_effect_leaves_neither_the_effect_nor_its_record(
    database: Database, log: AuditLog
) -> None:
    with log.carrying(event(1)) as entry:
        with pytest.raises(RuntimeError):
            await effect(database, "a", fail=True)
        assert entry() is None
        await effect(database, "b")  # the request's next try at its effect carries it
        assert (entry() is not None) is carries(database)
    assert stored(database) == (["b"], [1] if carries(database) else [])


async def test_a_record_rides_once_and_only_with_an_effect(database: Database, log: AuditLog) -> None:
    with log.carrying(event(1)) as entry:
        await effect(database, "a", marked=False)  # another write of the request (a claim)
        assert entry() is None
        await effect(database, "b")
        await effect(database, "c")  # a second effect: recorded once
    await effect(database, "d")  # outside: carries nothing
    assert stored(database) == (["a", "b", "c", "d"], [1] if carries(database) else [])


async def test_when_the_record_cannot_be_written_the_effect_is_not_stored(
    database: Database, log: AuditLog
) -> None:
    """The two commit together or not at all: the database refusing the record (a
    trigger here; a full disk or a broken connection in life) rolls the effect back."""
    refuse(database)
    with log.carrying(event(1)) as entry:
        if carries(database):
            with pytest.raises(sa.exc.DBAPIError, match="audit refused"):
                await effect(database, "a")
        else:
            await effect(database, "a")  # carrying nothing, nothing refuses it
        assert entry() is None
    assert stored(database) == ([] if carries(database) else ["a"], [])


def refuse(database: Database) -> None:
    with database.engine.begin() as conn:
        if database.dialect == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit refused'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


async def test_carried_and_appended_records_chain_together_from_many_tasks(
    database: Database, log: AuditLog
) -> None:
    async def request(n: int) -> None:
        with log.carrying(event(n)) as entry:
            await effect(database, f"k{n:02d}")
        if entry() is None:  # what the front door does when nothing carried it
            await log.record(event(n))

    async with anyio.create_task_group() as group:
        for n in range(12):
            group.start_soon(request, n)
            group.start_soon(log.record, event(100 + n))
    keys, seqs = stored(database)
    assert len(keys) == 12
    assert seqs == list(range(1, 25))
    verified = await log.verify()
    assert verified.ok and verified.events == 24
