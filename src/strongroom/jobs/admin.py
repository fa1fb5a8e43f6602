"""Seeing and steering the queue, for operators: the use cases behind ``strongroom
jobs list|show|retry|cancel`` (and, later, ``/admin/v1/jobs``). Steering is audited."""

from __future__ import annotations

from strongroom.audit.log import AuditEvent, AuditLog
from strongroom.clock import Clock
from strongroom.errors import Conflict, InvalidRequest, NotFound
from strongroom.metadata.jobs import STATES, Job, SqlJobStore

MAX_PAGE = 1000


class JobAdmin:
    def __init__(self, store: SqlJobStore, clock: Clock, audit: AuditLog) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit

    async def list(
        self,
        *,
        state: str | None = None,
        kind: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Newest first, ``limit`` at a time; ``before`` is the last id of the previous page."""
        if state is not None and state not in STATES:
            raise InvalidRequest(f"unknown job state {state!r} (one of {', '.join(STATES)})")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"the page size must be from 1 to {MAX_PAGE}")
        return await self._store.list_jobs(state=state, kind=kind, before=before, limit=limit)

    async def show(self, job_id: int) -> Job:
        job = await self._store.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    async def retry(self, job_id: int, principal: str) -> Job:
        """Queue a dead, failed or cancelled job again with fresh attempts."""
        job = await self._store.retry(job_id, self._clock.now())
        return await self._steered(job_id, job, principal, "strongroom:RetryJob", "dead, failed or cancelled")

    async def cancel(self, job_id: int, principal: str) -> Job:
        """Cancel a queued, failed or running job (a running handler is stopped at its
        runner's next lease renewal)."""
        job = await self._store.cancel(job_id, self._clock.now())
        return await self._steered(
            job_id, job, principal, "strongroom:CancelJob", "queued, failed or running"
        )

    async def _steered(self, job_id: int, job: Job | None, principal: str, action: str, needed: str) -> Job:
        if job is None:
            current = await self.show(job_id)
            raise Conflict(f"job {job_id} is {current.state}; only a job that is {needed} can be changed so")
        await self._audit.record(
            AuditEvent(
                time=self._clock.now(),
                principal=principal,
                action=action,
                resource=f"job/{job_id}",
                source_ip=None,
                decision="allow",
                detail={"kind": job.kind, "state": job.state},
            )
        )
        return job


def job_document(job: Job) -> dict[str, object]:
    """A job as the CLI's JSON output (and the admin API) show it."""
    return {
        "jobId": job.id,
        "kind": job.kind,
        "state": job.state,
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "runAt": job.run_at.isoformat(),
        "idempotencyKey": job.idempotency_key,
        "leaseOwner": job.lease_owner,
        "leaseExpiresAt": job.lease_expires_at.isoformat() if job.lease_expires_at else None,
        "lastError": job.last_error,
        "payload": job.payload,
        "createdAt": job.created_at.isoformat(),
        "updatedAt": job.updated_at.isoformat(),
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
    }
