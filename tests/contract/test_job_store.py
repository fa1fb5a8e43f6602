"""The job queue and outbox contract, run against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from strongroom.clock import RandomIdFactory
from strongroom.errors import ManifestBlobUnknown
from strongroom.events.outbox import ImagePushOutbox
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from strongroom.metadata.events import SqlEventStore
from strongroom.metadata.jobs import _FIRST_DUE, LEASE_LAPSED, SqlJobStore
from strongroom.metadata.outbox import ManifestChange, NewEvent, NewJob, Outbox
from strongroom.metadata.records import NewManifest
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.metadata.webhooks import SqlWebhookStore, Webhook

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
M1 = "sha256:" + "a" * 64
M2 = "sha256:" + "b" * 64
MISSING = "sha256:" + "0" * 64


@pytest.fixture
def queue(database: Database) -> SqlJobStore:
    return SqlJobStore(database)


def manifest(digest: str, blobs: tuple[str, ...] = ()) -> NewManifest:
    return NewManifest(
        digest=digest,
        media_type="application/vnd.oci.image.manifest.v1+json",
        content=b'{"x":"' + digest.encode() + b'"}',
        subject_digest=None,
        artifact_type=None,
        annotations_json=None,
        blob_digests=blobs,
        child_digests=(),
    )


class RecordingOutbox:
    """An outbox that emits one event and one job per change, and remembers the changes."""

    def __init__(self) -> None:
        self.changes: list[ManifestChange] = []
        self._ids = itertools.count(1)

    def __call__(self, change: ManifestChange) -> Outbox:
        self.changes.append(change)
        event_id = f"event-{next(self._ids)}"
        return Outbox(
            [
                NewEvent(
                    event_id, "image.push", change.account_id, change.repository, {"digest": change.digest}
                )
            ],
            [NewJob("scan", {"digest": change.digest}, idempotency_key=f"scan:{event_id}")],
        )


# --- the outbox --------------------------------------------------------------------------------------


async def test_a_push_writes_its_event_and_job_in_the_same_transaction(
    database: Database, queue: SqlJobStore
) -> None:
    outbox = RecordingOutbox()
    store = SqlMetadataStore(database, outbox)
    await store.create_default_account(ACCOUNT, NOW)
    repository = await store.ensure_repository(ACCOUNT, "team/app", NOW)

    assert await store.put_manifest(repository.id, manifest(M1), ["v1"], NOW)
    [event] = await SqlEventStore(database).find()
    assert (event.type, event.account_id, event.subject, event.data) == (
        "image.push", ACCOUNT, "team/app", {"digest": M1}
    )  # fmt: skip
    [job] = await queue.list_jobs()
    assert (job.kind, job.payload, job.state, job.attempts) == ("scan", {"digest": M1}, "queued", 0)
    assert outbox.changes[0].created and outbox.changes[0].tag == "v1"

    # A push that fails stores nothing: no manifest, no event, no job.
    with pytest.raises(ManifestBlobUnknown):
        await store.put_manifest(repository.id, manifest(M2, blobs=(MISSING,)), ["v2"], NOW)
    assert len(await SqlEventStore(database).find()) == 1
    assert len(await queue.list_jobs()) == 1


async def test_only_a_change_is_announced(database: Database, queue: SqlJobStore) -> None:
    outbox = RecordingOutbox()
    store = SqlMetadataStore(database, outbox)
    await store.create_default_account(ACCOUNT, NOW)
    repository = await store.ensure_repository(ACCOUNT, "team/app", NOW)
    await store.put_manifest(repository.id, manifest(M1), ["v1"], NOW)
    await store.put_manifest(repository.id, manifest(M1), ["v1"], NOW)  # the same push again
    await store.put_manifest(repository.id, manifest(M1), [], NOW)  # by digest, known
    await store.put_manifest(repository.id, manifest(M1), ["latest"], NOW)  # a new tag
    await store.put_manifest(repository.id, manifest(M2), ["latest"], NOW)  # the tag moves
    assert [(c.digest, c.tag, c.created) for c in outbox.changes] == [
        (M1, "v1", True), (M1, "latest", False), (M2, "latest", True)
    ]  # fmt: skip
    assert len(await queue.list_jobs()) == 3


# --- enqueueing and claiming -------------------------------------------------------------------------


async def test_an_idempotency_key_is_queued_once(queue: SqlJobStore) -> None:
    first = await queue.enqueue([NewJob("k", {"n": 1}, idempotency_key="once")], NOW)
    again = await queue.enqueue([NewJob("k", {"n": 2}, idempotency_key="once"), NewJob("k")], NOW)
    assert first[0] is not None and again[0] is None and again[1] is not None
    assert await queue.existing_keys(["once", "other"]) == {"once"}
    jobs = await queue.list_jobs()
    assert sorted(job.payload.get("n", 0) for job in jobs) == [0, 1]


async def test_claim_takes_due_jobs_of_known_kinds_in_order(queue: SqlJobStore) -> None:
    [later] = await queue.enqueue([NewJob("k", run_at=NOW + timedelta(minutes=5))], NOW)
    [first, second] = await queue.enqueue([NewJob("k"), NewJob("k")], NOW)
    [unhandled] = await queue.enqueue([NewJob("nobody-handles-this")], NOW)
    claimed = await queue.claim("a", ["k"], 10, NOW + timedelta(hours=1), NOW)
    assert [job.id for job in claimed] == [first, second]
    assert all(job.state == "running" and job.attempts == 1 and job.lease_owner == "a" for job in claimed)
    assert await queue.claim("b", ["k"], 10, NOW + LEASE, NOW) == []
    [due_later] = await queue.claim("b", ["k"], 10, NOW + LEASE, NOW + timedelta(minutes=5))
    assert due_later.id == later
    job = await queue.get(unhandled)
    assert job is not None and job.state == "queued"  # stays visible, untouched


async def test_a_claim_takes_the_first_due_whichever_way_each_is_due(queue: SqlJobStore) -> None:
    """Queued, failed and due for retry, or running with a lapsed lease: one line, by
    run_at then id, however many are waiting in each way."""
    minute = timedelta(minutes=1)
    [lapsed, failed, queued] = await queue.enqueue(
        [NewJob("k", run_at=NOW - 10 * minute), NewJob("k", run_at=NOW - 9 * minute), NewJob("k")], NOW
    )
    backlog = await queue.enqueue([NewJob("k", run_at=NOW - minute / 2) for _ in range(30)], NOW)
    early = NOW - 20 * minute
    assert [job.id for job in await queue.claim("a", ["k"], 2, NOW - minute, early + 11 * minute)] == [
        lapsed,
        failed,
    ]
    assert await queue.fail(failed, "a", "boom", NOW - 8 * minute, retry_at=NOW - 2 * minute)
    claimed = await queue.claim("b", ["k"], 4, NOW + LEASE, NOW)
    assert [job.id for job in claimed] == [lapsed, failed, *backlog[:2]]  # then the backlog by run_at
    assert [job.attempts for job in claimed] == [2, 2, 1, 1]
    rest = await queue.claim("b", ["k"], 100, NOW + LEASE, NOW)
    assert [job.id for job in rest] == [*backlog[2:], queued]


def test_a_claim_walks_an_index_in_order_instead_of_sorting_the_backlog(tmp_path: Path) -> None:
    """On SQLite, which sorted every due job on each claim before (PostgreSQL plans by
    its statistics)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    migrate(engine)
    database = Database(engine)
    with database.engine.connect() as conn:
        for way in _FIRST_DUE:
            sql = str(
                way.params(kinds=["k"], now=NOW, limit=2).compile(
                    database.engine, compile_kwargs={"literal_binds": True, "render_postcompile": True}
                )
            )
            plan = " ".join(
                row[3]
                for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + sql.replace("FOR UPDATE SKIP LOCKED", "")
                )
            )
            assert "TEMP B-TREE" not in plan and "USING INDEX ix_jobs_state_run_at" in plan, plan
    engine.dispose()


async def test_a_lapsed_lease_is_reclaimed_and_the_old_runner_can_no_longer_finish(
    queue: SqlJobStore,
) -> None:
    [job_id] = await queue.enqueue([NewJob("k", max_attempts=2)], NOW)
    await queue.claim("a", ["k"], 1, NOW + LEASE, NOW)
    assert await queue.renew("a", [job_id], NOW + 2 * LEASE, NOW + LEASE / 2) == {job_id}
    assert await queue.claim("b", ["k"], 1, NOW + 3 * LEASE, NOW + LEASE + timedelta(seconds=1)) == []
    later = NOW + 2 * LEASE + timedelta(seconds=1)
    [again] = await queue.claim("b", ["k"], 1, later + LEASE, later)
    assert (again.id, again.attempts, again.lease_owner) == (job_id, 2, "b")
    assert await queue.renew("a", [job_id], later + LEASE, later) == set()
    assert not await queue.succeed(job_id, "a", later)
    # b's runner dies too: no attempts are left, so the job is dead rather than claimed again.
    after = later + LEASE + timedelta(seconds=1)
    claimed, buried = await queue.claim_and_bury("c", ["k"], 1, after + LEASE, after)
    assert claimed == [] and [(job.id, job.state, job.attempts) for job in buried] == [(job_id, "dead", 2)]
    assert await queue.claim_and_bury("c", ["k"], 1, after + LEASE, after) == ([], [])  # buried once
    dead = await queue.get(job_id)
    assert dead is not None and (dead.state, dead.last_error) == ("dead", LEASE_LAPSED)


async def test_success_failure_retry_and_death(queue: SqlJobStore) -> None:
    [ok, flaky] = await queue.enqueue([NewJob("k"), NewJob("k", max_attempts=2)], NOW)
    await queue.claim("a", ["k"], 2, NOW + LEASE, NOW)
    assert await queue.succeed(ok, "a", NOW)
    retry_at = NOW + timedelta(seconds=20)
    assert await queue.fail(flaky, "a", "boom", NOW, retry_at)
    failed = await queue.get(flaky)
    assert failed is not None and (failed.state, failed.last_error, failed.run_at) == (
        "failed",
        "boom",
        retry_at,
    )
    assert await queue.claim("a", ["k"], 2, NOW + LEASE, NOW) == []
    [again] = await queue.claim("a", ["k"], 2, retry_at + LEASE, retry_at)
    assert again.attempts == 2
    assert await queue.fail(flaky, "a", "boom again", retry_at, None)
    dead = await queue.get(flaky)
    assert dead is not None and (dead.state, dead.last_error) == ("dead", "boom again")
    done = await queue.get(ok)
    assert done is not None and done.state == "succeeded" and done.finished_at == NOW
    assert await queue.counts() == {("k", "succeeded"): 1, ("k", "dead"): 1}


async def test_release_gives_jobs_back_without_counting_the_attempt(queue: SqlJobStore) -> None:
    [job_id] = await queue.enqueue([NewJob("k")], NOW)
    await queue.claim("a", ["k"], 1, NOW + LEASE, NOW)
    assert await queue.release("b", [job_id], NOW) == 0  # not b's to release
    assert await queue.release("a", [job_id], NOW) == 1
    released = await queue.get(job_id)
    assert released is not None and (released.state, released.attempts, released.lease_owner) == (
        "queued", 0, None
    )  # fmt: skip
    assert [job.id for job in await queue.claim("b", ["k"], 1, NOW + LEASE, NOW)] == [job_id]


async def test_operators_cancel_and_retry(queue: SqlJobStore) -> None:
    [queued, running, finished] = await queue.enqueue([NewJob("q"), NewJob("k"), NewJob("k")], NOW)
    await queue.claim("a", ["k"], 2, NOW + LEASE, NOW)
    assert await queue.succeed(finished, "a", NOW)
    cancelled = await queue.cancel(queued, NOW)
    assert cancelled is not None and cancelled.state == "cancelled"
    assert await queue.cancel(finished, NOW) is None  # finished jobs stay as they are
    assert await queue.cancel(running, NOW) is not None
    assert await queue.renew("a", [running], NOW + LEASE, NOW) == set()  # its runner learns
    assert not await queue.succeed(running, "a", NOW)
    assert await queue.retry(finished, NOW) is None
    retried = await queue.retry(queued, NOW)
    assert retried is not None and (retried.state, retried.attempts) == ("queued", 0)
    assert [job.id for job in await queue.list_jobs(state="cancelled")] == [running]
    assert [job.id for job in await queue.list_jobs(kind="k", before=finished)] == [running]


async def test_purge_forgets_old_finished_jobs_and_events(database: Database, queue: SqlJobStore) -> None:
    store = SqlMetadataStore(database, RecordingOutbox())
    await store.create_default_account(ACCOUNT, NOW)
    repository = await store.ensure_repository(ACCOUNT, "team/app", NOW)
    await store.put_manifest(repository.id, manifest(M1), ["v1"], NOW)
    [done, waiting] = await queue.enqueue([NewJob("k"), NewJob("q")], NOW)
    await queue.claim("a", ["k"], 1, NOW + LEASE, NOW)
    await queue.succeed(done, "a", NOW)
    assert await queue.purge(NOW + timedelta(seconds=1), NOW + timedelta(seconds=1)) == (1, 1)
    assert {job.id for job in await queue.list_jobs()} >= {waiting}
    assert done not in {job.id for job in await queue.list_jobs()}


async def test_concurrent_claims_never_share_a_job(queue: SqlJobStore) -> None:
    await queue.enqueue([NewJob("k") for _ in range(60)], NOW)

    async def runner(name: str) -> list[int]:
        taken: list[int] = []
        while batch := await queue.claim(name, ["k"], 3, NOW + LEASE, NOW):
            taken.extend(job.id for job in batch)
        return taken

    results = await asyncio.gather(*(runner(f"r{i}") for i in range(4)))
    every = [job_id for taken in results for job_id in taken]
    assert len(every) == 60 and len(set(every)) == 60


async def test_a_push_queues_a_webhook_dispatch_only_for_an_account_with_a_subscription(
    database: Database, queue: SqlJobStore
) -> None:
    outbox = ImagePushOutbox(RandomIdFactory(), (), 8, dispatch_kind="webhook.dispatch")
    store = SqlMetadataStore(database, outbox)
    await store.create_default_account(ACCOUNT, NOW)
    repository = await store.ensure_repository(ACCOUNT, "team/app", NOW)
    await store.put_manifest(repository.id, manifest(M1), ["v1"], NOW)
    assert await queue.list_jobs() == []  # the event alone: nobody listens
    hook = Webhook("wh-1", ACCOUNT, "https://example.com/", ("image.push",), None, b"x", True, None, 0, NOW)
    await SqlWebhookStore(database).create(hook, NOW)
    await store.put_manifest(repository.id, manifest(M2), ["v2"], NOW)
    [job] = await queue.list_jobs()
    assert job.kind == "webhook.dispatch" and job.payload["image-digest"] == M2
    assert len(await SqlEventStore(database).find()) == 2
