"""The job runner over the real job store, on SQLite and PostgreSQL: outcomes,
retries, death, leases lost, cancellation, graceful stop and scheduling."""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from strongroom.activity import ACTIVITY_FILE, Activity
from strongroom.clock import SystemClock
from strongroom.jobs.retry import RetryPolicy
from strongroom.jobs.runner import Handler, JobRunner, RunnerSettings
from strongroom.jobs.schedule import Periodic, Scheduler
from strongroom.metadata.database import Database
from strongroom.metadata.jobs import Job, SqlJobStore
from strongroom.metadata.outbox import NewJob

pytestmark = pytest.mark.anyio

CLOCK = SystemClock()
FAST = RunnerSettings(
    concurrency=4,
    lease=timedelta(seconds=0.9),
    poll_seconds=0.05,
    shutdown_grace_seconds=5.0,
    retry=RetryPolicy(timedelta(milliseconds=20)),
)


@pytest.fixture
def store(database: Database) -> SqlJobStore:
    return SqlJobStore(database)


def runner(
    store: SqlJobStore, handlers: Mapping[str, Handler], settings: RunnerSettings = FAST, owner: str = "r1"
) -> JobRunner:
    return JobRunner(store, handlers, CLOCK, settings, owner=owner, random=random.random)


@asynccontextmanager
async def running(*runners: JobRunner) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tasks:
        for each in runners:
            tasks.start_soon(each.run)
        try:
            yield
        finally:
            for each in runners:
                each.stop()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    with anyio.fail_after(timeout):
        while not await condition():
            await anyio.sleep(0.05)


async def states(store: SqlJobStore) -> Counter[str]:
    return Counter(job.state for job in await store.list_jobs(limit=1000))


async def test_each_job_runs_once_and_a_kind_without_handler_waits(store: SqlJobStore) -> None:
    ran: Counter[int] = Counter()

    async def count(job: Job) -> None:
        ran[job.payload["n"]] += 1

    await store.enqueue([NewJob("count", {"n": n}) for n in range(40)] + [NewJob("unknown")], CLOCK.now())
    async with running(runner(store, {"count": count}), runner(store, {"count": count}, owner="r2")):
        await until(lambda: _has(store, succeeded=40))
    assert ran == Counter(range(40))
    assert await states(store) == {"succeeded": 40, "queued": 1}


async def test_failures_are_retried_with_backoff_then_the_job_is_dead(store: SqlJobStore) -> None:
    attempts: Counter[str] = Counter()

    async def flaky(job: Job) -> None:
        attempts[job.payload["name"]] += 1
        if job.payload["name"] == "hopeless" or job.attempts < 3:
            raise ValueError(f"attempt {job.attempts} failed")

    await store.enqueue(
        [
            NewJob("flaky", {"name": "recovers"}, max_attempts=5),
            NewJob("flaky", {"name": "hopeless"}, max_attempts=3),
        ],
        CLOCK.now(),
    )
    async with running(runner(store, {"flaky": flaky})):
        await until(lambda: _has(store, succeeded=1, dead=1))
    assert attempts == {"recovers": 3, "hopeless": 3}
    dead = (await store.list_jobs(state="dead"))[0]
    assert (dead.attempts, dead.last_error) == (3, "ValueError: attempt 3 failed")


async def test_a_stopping_runner_finishes_what_it_can_and_gives_back_the_rest(store: SqlJobStore) -> None:
    started = anyio.Event()

    async def slow(job: Job) -> None:
        started.set()
        await anyio.sleep(float(job.payload["seconds"]))

    [quick, endless] = await store.enqueue(
        [NewJob("slow", {"seconds": 0.3}), NewJob("slow", {"seconds": 3600})], CLOCK.now()
    )
    patient = RunnerSettings(2, FAST.lease, FAST.poll_seconds, shutdown_grace_seconds=1.0, retry=FAST.retry)
    with anyio.fail_after(10):
        async with running(runner(store, {"slow": slow}, patient)):
            await started.wait()
    finished, released = await store.get(quick), await store.get(endless)
    assert finished is not None and finished.state == "succeeded"
    assert released is not None and (released.state, released.attempts, released.lease_owner) == (
        "queued",
        0,
        None,
    )


async def test_a_runner_stops_a_job_that_is_cancelled_or_whose_lease_was_taken(store: SqlJobStore) -> None:
    stopped: list[int] = []

    async def endless(job: Job) -> None:
        try:
            await anyio.sleep(3600)
        finally:
            stopped.append(job.id)

    [job_id] = await store.enqueue([NewJob("endless")], CLOCK.now())
    async with running(runner(store, {"endless": endless})):
        await until(lambda: _has(store, running=1))
        await store.cancel(job_id, CLOCK.now())
        await until(lambda: _true(stopped == [job_id]))
    job = await store.get(job_id)
    assert job is not None and job.state == "cancelled"


async def test_a_job_whose_runner_stalls_is_taken_over_and_runs_to_completion(store: SqlJobStore) -> None:
    """A lease that lapses (the runner is gone, here: it never renews) is claimed by another runner."""
    [job_id] = await store.enqueue([NewJob("work")], CLOCK.now())
    now = CLOCK.now()
    [claimed] = await store.claim("crashed-runner", ["work"], 1, now + timedelta(seconds=0.5), now)
    done: list[int] = []

    async def work(job: Job) -> None:
        done.append(job.attempts)

    async with running(runner(store, {"work": work})):
        await until(lambda: _has(store, succeeded=1))
    assert claimed.id == job_id and done == [2]


async def test_a_job_whose_runner_died_on_its_last_attempt_is_dead_and_its_handler_hears_it(
    store: SqlJobStore,
) -> None:
    [job_id] = await store.enqueue([NewJob("work", max_attempts=1)], CLOCK.now())
    now = CLOCK.now()
    await store.claim("crashed-runner", ["work"], 1, now + timedelta(seconds=0.5), now)
    ran: list[int] = []
    abandoned: list[tuple[int, int]] = []

    class Work:
        async def __call__(self, job: Job) -> None:
            ran.append(job.id)

        async def abandoned(self, job: Job) -> None:
            abandoned.append((job.id, job.attempts))

    async with running(runner(store, {"work": Work()})):
        await until(lambda: _has(store, dead=1))
        await until(lambda: _true(abandoned == [(job_id, 1)]))
    assert ran == []  # never run again: it may be what killed its runner


async def test_schedulers_agree_on_one_job_per_slot(store: SqlJobStore) -> None:
    periodic = [Periodic("tidy", timedelta(hours=1)), Periodic("off", timedelta(0))]
    schedulers = [Scheduler(store, CLOCK, periodic) for _ in range(3)]
    queued = [await scheduler.offer() for scheduler in schedulers]
    assert queued == [1, 0, 0]
    [job] = await store.list_jobs()
    assert job.kind == "tidy" and job.idempotency_key is not None
    assert job.idempotency_key.startswith("periodic:tidy:")


async def _has(store: SqlJobStore, **expected: int) -> bool:
    counts = await states(store)
    return all(counts[state] == count for state, count in expected.items())


async def _true(value: bool) -> bool:
    return value


async def test_while_requests_are_answered_jobs_run_one_at_a_time_with_rests_between(
    store: SqlJobStore, tmp_path: Path
) -> None:
    """The server's activity paces the runner (``rest_factor``): one job at a time and a
    rest after each, while a request began in the last moments; full concurrency again
    once they stop."""
    activity = Activity(tmp_path / ACTIVITY_FILE)
    running_now, most = 0, 0
    spans: list[tuple[float, float]] = []

    async def work(job: Job) -> None:
        nonlocal running_now, most
        running_now += 1
        most = max(most, running_now)
        began = time.monotonic()
        await anyio.sleep(0.02)
        spans.append((began, time.monotonic()))
        running_now -= 1

    def paced() -> JobRunner:
        return JobRunner(
            store, {"work": work}, CLOCK, replace(FAST, rest_factor=4.0), owner="r1",
            random=random.random, activity=activity,
        )  # fmt: skip

    await store.enqueue([NewJob("work", {"n": n}) for n in range(8)], CLOCK.now())

    async def requests() -> None:
        while True:
            activity.note_request()
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as busy:
        activity.note_request()
        busy.start_soon(requests)
        async with running(paced()):
            await until(lambda: _has(store, succeeded=8))
        busy.cancel_scope.cancel()
    assert most == 1
    gaps = [later[0] - earlier[1] for earlier, later in itertools.pairwise(spans)]
    assert min(gaps) >= 4 * 0.02 * 0.9  # four times the job's 20 ms, give or take the clock

    # Quiet: the runner takes up to its concurrency at once again.
    spans.clear()
    most = 0
    await store.enqueue([NewJob("work", {"n": n}) for n in range(8, 16)], CLOCK.now())
    async with running(paced()):
        await until(lambda: _has(store, succeeded=16))
    assert most > 1
    activity.close()
