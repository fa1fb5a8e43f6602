"""Periodic work as jobs: once per deployment per interval, however many processes
run the scheduler.

Time is cut into slots of each job's interval (counted from the Unix epoch); the job
for a slot carries the idempotency key ``periodic:<kind>:<slot>``, so every scheduler
that offers it after the first is a no-op, and work missed while nothing ran is done
once, not once per missed slot.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from strongroom.clock import Clock
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.outbox import NewJob

logger = logging.getLogger("strongroom.jobs")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TICK_SECONDS = 30.0
PERIODIC_MAX_ATTEMPTS = 3
"""A periodic job that keeps failing gives up early: the next slot runs it anew."""


@dataclass(frozen=True, slots=True)
class Periodic:
    kind: str
    interval: timedelta
    payload: Mapping[str, Any] = field(default_factory=dict)

    def job_for(self, now: datetime) -> NewJob:
        seconds = self.interval.total_seconds()
        slot = math.floor((now - EPOCH).total_seconds() / seconds)
        return NewJob(
            self.kind,
            self.payload,
            idempotency_key=f"periodic:{self.kind}:{slot}",
            run_at=EPOCH + timedelta(seconds=slot * seconds),
            max_attempts=PERIODIC_MAX_ATTEMPTS,
        )


class Scheduler:
    def __init__(self, store: SqlJobStore, clock: Clock, periodics: Sequence[Periodic]) -> None:
        self._store = store
        self._clock = clock
        self._periodics = tuple(p for p in periodics if p.interval > timedelta(0))

    @property
    def tick(self) -> float:
        """Seconds between offers: at least twice per shortest interval."""
        shortest = min((p.interval.total_seconds() for p in self._periodics), default=MAX_TICK_SECONDS)
        return min(MAX_TICK_SECONDS, shortest / 2)

    async def offer(self) -> int:
        """Queue the current slot's job of each periodic kind unless queued; return how
        many this call queued. Reads first, so the common case writes nothing."""
        now = self._clock.now()
        wanted = [periodic.job_for(now) for periodic in self._periodics]
        existing = await self._store.existing_keys([job.idempotency_key or "" for job in wanted])
        missing = [job for job in wanted if job.idempotency_key not in existing]
        if not missing:
            return 0
        return sum(job_id is not None for job_id in await self._store.enqueue(missing, now))

    async def run(self) -> None:
        if not self._periodics:
            return
        while True:
            try:
                await self.offer()
            except Exception:
                logger.exception("scheduling periodic jobs failed; will retry")
            await anyio.sleep(self.tick)
