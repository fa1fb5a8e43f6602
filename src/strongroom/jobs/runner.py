"""The job runner: claims due jobs, runs their handlers under a renewed lease, records
what happened, and on shutdown finishes or gives back what it holds.

Delivery is at least once: a runner that dies mid-job leaves a lease that lapses, and
another runner takes the job again. A runner that merely lost its lease (it stalled
longer than the lease, or an operator cancelled the job) learns it at the next renewal
and stops the handler; nothing it records afterwards takes effect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

import anyio

from strongroom.activity import Activity
from strongroom.clock import Clock
from strongroom.jobs.retry import RetryPolicy
from strongroom.jobs.schedule import Scheduler
from strongroom.metadata.jobs import Job, SqlJobStore

logger = logging.getLogger("strongroom.jobs")

Handler = Callable[[Job], Awaitable[None]]
"""Does a job's work. Must be idempotent: it may run again after a crash."""


@runtime_checkable
class Abandonable(Protocol):
    """A handler that must hear when its job died with its runner on the last attempt
    (killed, out of memory): nothing of the handler ran to say so, and what it tracks
    (a scan's IN_PROGRESS status) would otherwise stay as it was for ever."""

    async def __call__(self, job: Job) -> None: ...

    async def abandoned(self, job: Job) -> None: ...


MAX_ERROR_LENGTH = 2000

BUSY_WITHIN_SECONDS = 0.25
"""A request began this recently: the server is answering requests, and jobs yield."""
MAX_REST_SECONDS = 1.0
"""The longest rest between two jobs while requests are answered (so a long job is not
followed by a long pause, and the queue always drains)."""


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    concurrency: int
    """Jobs run at once."""
    lease: timedelta
    poll_seconds: float
    """How long an idle runner waits before looking for due jobs again."""
    shutdown_grace_seconds: float
    """How long a stopping runner lets running jobs finish before giving them back."""
    retry: RetryPolicy
    rest_factor: float = 0.0
    """While the server answers requests (:class:`~strongroom.activity.Activity`), jobs
    run one at a time with a rest of this many times the last one's duration between
    them (at most :data:`MAX_REST_SECONDS`): background work takes about
    ``1 / (1 + rest_factor)`` of one core and of the database's write lock then, and all
    it can once the requests stop, as PostgreSQL's cost-based vacuum delay paces
    autovacuum. 0: no pacing."""


class JobRunner:
    def __init__(
        self,
        store: SqlJobStore,
        handlers: Mapping[str, Handler],
        clock: Clock,
        settings: RunnerSettings,
        *,
        owner: str,
        random: Callable[[], float],
        scheduler: Scheduler | None = None,
        activity: Activity | None = None,
    ) -> None:
        """``activity``: the server's, to yield to its requests (``settings.rest_factor``)."""
        self._store = store
        self._handlers = dict(handlers)
        self._clock = clock
        self._settings = settings
        self._owner = owner
        self._random = random
        self._scheduler = scheduler
        self._running: dict[int, anyio.CancelScope] = {}
        self._stopping = False
        self._wake = anyio.Event()
        self._drained = anyio.Event()
        """Set when a stopping runner's last job is done."""
        self._activity = activity if settings.rest_factor > 0 else None
        self._last_duration = 0.0
        """Seconds the last job took (the rest after it is a multiple)."""

    @property
    def owner(self) -> str:
        return self._owner

    def stop(self) -> None:
        """Claim nothing more; let running jobs finish within the grace period."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Run jobs until :meth:`stop`; then finish or release the jobs held."""
        async with anyio.create_task_group() as background:
            background.start_soon(self._keep_leases)
            if self._scheduler is not None:
                background.start_soon(self._scheduler.run)
            try:
                async with anyio.create_task_group() as work:
                    await self._claim_until_stopped(work)
                    if self._running:
                        with anyio.move_on_after(self._settings.shutdown_grace_seconds):
                            await self._drained.wait()
                    work.cancel_scope.cancel()  # each cancelled job gives itself back
            finally:
                background.cancel_scope.cancel()

    async def _claim_until_stopped(self, work: anyio.abc.TaskGroup) -> None:
        settings = self._settings
        while not self._stopping:
            free = settings.concurrency - len(self._running)
            if free > 0 and self._activity is not None and self._activity.busy(BUSY_WITHIN_SECONDS):
                free = 0 if self._running else await self._rest()
            claimed: list[Job] = []
            if free > 0:
                now = self._clock.now()
                try:
                    claimed, buried = await self._store.claim_and_bury(
                        self._owner, self._handlers, free, now + settings.lease, now
                    )
                except Exception:
                    logger.exception("claiming jobs failed; will retry")
                else:
                    for job in buried:
                        await self._abandon(job)
            for job in claimed:
                self._running[job.id] = anyio.CancelScope()
                work.start_soon(self._execute, job)
            if len(claimed) < free or free == 0:
                await self._wait(settings.poll_seconds)

    async def _rest(self) -> int:
        """Rest after the last job, while requests are answered; then one job may run."""
        rest = min(self._last_duration * self._settings.rest_factor, MAX_REST_SECONDS)
        if rest > 0:
            self._last_duration = 0.0  # rested for it
            await self._wait(rest)
        return 0 if self._stopping else 1

    async def _wait(self, seconds: float) -> None:
        """Sleep until woken (a job finished, stop was asked) or ``seconds`` pass."""
        with anyio.move_on_after(seconds):
            await self._wake.wait()
        if self._wake.is_set() and not self._stopping:
            self._wake = anyio.Event()  # a set event is spent; stop() leaves its own set

    async def _execute(self, job: Job) -> None:
        scope = self._running[job.id]
        started = time.monotonic()
        try:
            with scope:
                await self._handlers[job.kind](job)
            if scope.cancelled_caught:
                logger.warning(
                    "job %d (%s) stopped: its lease was lost or it was cancelled", job.id, job.kind
                )
            elif not await self._store.succeed(job.id, self._owner, self._clock.now()):
                logger.warning("job %d (%s) finished after losing its lease", job.id, job.kind)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._release(job)
            raise
        except Exception as error:
            await self._record_failure(job, error)
        finally:
            self._last_duration = time.monotonic() - started
            self._running.pop(job.id, None)
            self._wake.set()
            if self._stopping and not self._running:
                self._drained.set()

    async def _abandon(self, job: Job) -> None:
        logger.warning(
            "job %d (%s) is dead: its runner stopped on attempt %d of %d",
            job.id,
            job.kind,
            job.attempts,
            job.max_attempts,
        )
        handler = self._handlers.get(job.kind)
        if isinstance(handler, Abandonable):
            try:
                await handler.abandoned(job)
            except Exception:
                logger.exception("the handler of dead job %d (%s) failed to record it", job.id, job.kind)

    async def _record_failure(self, job: Job, error: Exception) -> None:
        now = self._clock.now()
        retry_at = None
        if job.attempts < job.max_attempts:
            retry_at = now + self._settings.retry.delay(job.attempts, self._random)
        logger.warning(
            "job %d (%s) failed on attempt %d of %d%s",
            job.id, job.kind, job.attempts, job.max_attempts,
            f"; retrying at {retry_at:%H:%M:%S}" if retry_at else "; it is dead",
            exc_info=error,
        )  # fmt: skip
        message = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
        try:
            await self._store.fail(job.id, self._owner, message, now, retry_at)
        except Exception:
            logger.exception("could not record the failure of job %d; its lease will lapse", job.id)

    async def _release(self, job: Job) -> None:
        try:
            await self._store.release(self._owner, [job.id], self._clock.now())
        except Exception:
            logger.exception("could not give back job %d; its lease will lapse", job.id)

    async def _keep_leases(self) -> None:
        """Renew held leases at a third of their length; stop the handlers of jobs
        whose lease is gone (lapsed and taken, or cancelled)."""
        interval = self._settings.lease.total_seconds() / 3
        while True:
            await anyio.sleep(interval)
            held = list(self._running)
            if not held:
                continue
            now = self._clock.now()
            try:
                kept = await self._store.renew(self._owner, held, now + self._settings.lease, now)
            except Exception:
                logger.exception("renewing job leases failed; will retry")
                continue
            for job_id in set(held) - kept:
                scope = self._running.get(job_id)
                if scope is not None:
                    scope.cancel()
