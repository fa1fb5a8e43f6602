"""The registry's periodic work, as job kinds: forgetting abandoned uploads and expired
temporary credentials, applying lifecycle policies then collecting garbage, and
forgetting old finished jobs and events. Each runs once per deployment per interval
(:mod:`.schedule`), wherever a runner takes it; each is safe to run twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from strongroom.clock import Clock
from strongroom.jobs.runner import Handler
from strongroom.jobs.schedule import Periodic
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.jobs import Job, SqlJobStore
from strongroom.registry.gc import GarbageCollector
from strongroom.registry.lifecycle import Lifecycle
from strongroom.registry.uploads import Uploads

logger = logging.getLogger("strongroom.jobs")

EXPIRE_UPLOADS = "uploads.expire"
PURGE_CREDENTIALS = "credentials.purge"
APPLY_LIFECYCLE = "lifecycle.apply"
PURGE_HISTORY = "jobs.purge"
HISTORY_PURGE_INTERVAL = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class HousekeepingSettings:
    upload_expiry: timedelta
    """Uploads idle this long are abandoned."""
    sweep_interval: timedelta
    """How often uploads and credentials are swept."""
    lifecycle_interval: timedelta
    """How often lifecycle policies are applied; zero: never (on demand only)."""
    job_retention: timedelta
    event_retention: timedelta


class Housekeeping:
    def __init__(
        self,
        settings: HousekeepingSettings,
        clock: Clock,
        uploads: Uploads,
        iam: SqlIamStore,
        lifecycle: Lifecycle,
        gc: GarbageCollector,
        jobs: SqlJobStore,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._uploads = uploads
        self._iam = iam
        self._lifecycle = lifecycle
        self._gc = gc
        self._jobs = jobs

    def handlers(self) -> dict[str, Handler]:
        return {
            EXPIRE_UPLOADS: self.expire_uploads,
            PURGE_CREDENTIALS: self.purge_credentials,
            APPLY_LIFECYCLE: self.apply_lifecycle,
            PURGE_HISTORY: self.purge_history,
        }

    def schedule(self) -> list[Periodic]:
        settings = self._settings
        return [
            Periodic(EXPIRE_UPLOADS, settings.sweep_interval),
            Periodic(PURGE_CREDENTIALS, settings.sweep_interval),
            Periodic(APPLY_LIFECYCLE, settings.lifecycle_interval),
            Periodic(PURGE_HISTORY, HISTORY_PURGE_INTERVAL),
        ]

    async def expire_uploads(self, job: Job) -> None:
        removed = await self._uploads.expire(self._settings.upload_expiry)
        if removed:
            logger.info("expired %d abandoned uploads", removed)

    async def purge_credentials(self, job: Job) -> None:
        purged = await self._iam.delete_expired_credentials(self._clock.now())
        if purged:
            logger.info("deleted %d expired temporary credentials", purged)

    async def apply_lifecycle(self, job: Job) -> None:
        """Every policy not applied within the interval, then garbage collection (which
        frees the bytes of what the policies expired)."""
        runs = await self._lifecycle.run_due(self._settings.lifecycle_interval)
        report = await self._gc.collect()
        logger.info(
            "lifecycle job: %d policies applied, %d images expired, %d bytes freed",
            len(runs), sum(len(run.expired) for run in runs), report.bytes_freed,
        )  # fmt: skip

    async def purge_history(self, job: Job) -> None:
        now = self._clock.now()
        jobs, events = await self._jobs.purge(
            now - self._settings.job_retention, now - self._settings.event_retention
        )
        if jobs or events:
            logger.info("forgot %d finished jobs and %d events", jobs, events)
