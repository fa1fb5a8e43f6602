"""The periodic lifecycle job: apply the lifecycle policies that are due, then
collect garbage (DESIGN §5, §8).

Every worker process starts :func:`lifecycle_loop`; only the one holding the data
directory's job lock runs it, so a server with N workers runs it once. Servers on
several hosts sharing PostgreSQL each have a leader, which is still safe: each
repository is claimed before its policy is applied (a conditional UPDATE of
``lifecycle_evaluated_at``), and garbage collection is safe against itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from datetime import timedelta
from pathlib import Path

import anyio

from strongroom.registry.gc import GcReport
from strongroom.registry.lifecycle import LifecycleRun
from strongroom.services import Services

logger = logging.getLogger("strongroom.jobs")

LOCK_FILE = "lifecycle-job.lock"
FIRST_RUN_DELAY = 60.0
"""Seconds after start before the first run: let the server settle, yet run soon
after a restart even with a long interval (repositories evaluated recently are skipped)."""


class WorkerLease:
    """An exclusive lock on a file, held until released or the process ends (the
    kernel drops it then, so a crashed leader hands over at the next attempt)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing drops the lock
            self._fd = None


async def run_lifecycle_job(services: Services) -> tuple[list[LifecycleRun], GcReport]:
    """One run: every policy not applied within the interval, then garbage collection."""
    interval = timedelta(seconds=services.settings.lifecycle_interval_seconds)
    runs = await services.lifecycle.run_due(interval)
    return runs, await services.gc.collect()


async def lifecycle_loop(services: Services) -> None:
    interval = services.settings.lifecycle_interval_seconds
    if interval <= 0:
        return
    lease = WorkerLease(services.settings.data_dir / LOCK_FILE)
    try:
        await anyio.sleep(min(FIRST_RUN_DELAY, interval))
        while True:
            if lease.acquire():
                try:
                    runs, report = await run_lifecycle_job(services)
                    expired = sum(len(run.expired) for run in runs)
                    logger.info(
                        "lifecycle job: %d policies applied, %d images expired, %d bytes freed",
                        len(runs), expired, report.bytes_freed,
                    )  # fmt: skip
                except Exception:
                    logger.exception("the lifecycle job failed; will retry")
            await anyio.sleep(interval)
    finally:
        lease.release()
