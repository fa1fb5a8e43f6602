#!/usr/bin/env python3
"""Jobs per second through the queue (docs/adr/0009), on SQLite and on PostgreSQL.

Enqueues N no-op jobs, then lets real job runners (``JobRunner`` on ``SqlJobStore``, as the
server runs them) claim, run and finish them all; jobs/s is N over the time from the first
claim to the last job recorded as succeeded. Each database gets ``--runners`` runners in
this process with ``--concurrency`` jobs at once each.

    python bench/jobs.py [--jobs N] [--runners R] [--concurrency C] [--postgres URL | --no-postgres]

PostgreSQL: ``--postgres URL``, else ``STRONGROOM_TEST_DATABASE_URL``, else a throwaway
cluster made for the run (``initdb``/``pg_ctl``, as the tests make one); the jobs go into a
schema of their own, dropped afterwards. Without any of these PostgreSQL is skipped, said so.
`make bench` runs this after the registry comparison.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import anyio

from strongroom.clock import SystemClock
from strongroom.jobs.retry import RetryPolicy
from strongroom.jobs.runner import JobRunner, RunnerSettings
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.outbox import NewJob

KIND = "bench.noop"
TESTS = Path(__file__).resolve().parents[1] / "tests"


async def measure(database: Database, jobs: int, runners: int, concurrency: int) -> float:
    """Jobs per second for ``jobs`` no-op jobs through ``runners`` runners."""
    store, clock = SqlJobStore(database), SystemClock()
    await store.enqueue([NewJob(KIND, {"n": n}) for n in range(jobs)], clock.now())
    done = 0
    finished = anyio.Event()

    async def noop(job: object) -> None:
        nonlocal done
        done += 1
        if done == jobs:
            finished.set()

    settings = RunnerSettings(
        concurrency=concurrency,
        lease=timedelta(seconds=60),
        poll_seconds=0.05,
        shutdown_grace_seconds=10,
        retry=RetryPolicy(timedelta(seconds=10)),
    )
    pool = [
        JobRunner(store, {KIND: noop}, clock, settings, owner=f"bench-{n}", random=random.random)
        for n in range(runners)
    ]
    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for runner in pool:
            tasks.start_soon(runner.run)
        await finished.wait()
        # The last handler returned; its success is recorded when its runner stops.
        for runner in pool:
            runner.stop()
    elapsed = time.perf_counter() - started
    left = await store.counts()
    unfinished = sum(count for (kind, state), count in left.items() if kind == KIND and state != "succeeded")
    if unfinished:
        raise RuntimeError(f"{unfinished} jobs did not succeed: {left}")
    return jobs / elapsed


@contextmanager
def sqlite_database() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="strongroom-jobs-bench-") as directory:
        engine = create_engine(f"sqlite:///{directory}/bench.db")
        migrate(engine)
        database = Database(engine)
        try:
            yield database
        finally:
            database.close()


@contextmanager
def postgres_database(url: str | None) -> Iterator[Database | None]:
    """A fresh schema on the given PostgreSQL, the tests' configured one, or a throwaway cluster."""
    sys.path.insert(0, str(TESTS))
    try:
        from support.databases import isolated_schema, postgres_server  # the tests' clusters
    except ImportError as missing:  # the test tools are not installed
        print(f"jobs: PostgreSQL skipped: {missing} (run `make test-tools`, or pass --postgres URL)")
        yield None
        return
    with ExitStack() as stack:
        try:
            base = url or stack.enter_context(postgres_server())
        except (RuntimeError, OSError, SystemExit) as unavailable:
            print(f"jobs: PostgreSQL skipped: {str(unavailable).splitlines()[0]}")
            yield None
            return
        engine = create_engine(stack.enter_context(isolated_schema(base)))
        migrate(engine)
        database = Database(engine)
        try:
            yield database
        finally:
            database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--runners", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", help="PostgreSQL URL (default: the tests' database or a throwaway one)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    shape = f"{args.jobs} no-op jobs, {args.runners} runners x {args.concurrency}"
    with sqlite_database() as database:
        rate = anyio.run(measure, database, args.jobs, args.runners, args.concurrency)
        print(f"jobs: SQLite      {rate:8.1f} jobs/s ({shape})")
    if args.no_postgres:
        return
    with postgres_database(args.postgres) as database:
        if database is not None:
            rate = anyio.run(measure, database, args.jobs, args.runners, args.concurrency)
            print(f"jobs: PostgreSQL  {rate:8.1f} jobs/s ({shape})")


if __name__ == "__main__":
    main()
