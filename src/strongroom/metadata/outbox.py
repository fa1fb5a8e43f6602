"""The outbox: events and jobs written in the same transaction as the change that
causes them (DESIGN §5), so a change is never stored without its consequences, nor
its consequences without the change.

The metadata layer only writes what it is given. Which events and jobs a change
causes is decided above it (:mod:`strongroom.events.outbox`) and handed to the store
as a :data:`ManifestOutbox` at wiring time.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.schema import events, jobs

QUEUED = "queued"
DEFAULT_MAX_ATTEMPTS = 8
_INSERT_EVENT = events.insert()
"""Built once: every push runs it, and building a statement costs more than running it."""


@dataclass(frozen=True, slots=True)
class NewJob:
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    """A job whose key is already in the queue is not enqueued again."""
    run_at: datetime | None = None
    """Not before; None: at once."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


@dataclass(frozen=True, slots=True)
class NewEvent:
    id: str
    type: str
    account_id: str
    subject: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Outbox:
    events: Sequence[NewEvent] = ()
    jobs: Sequence[NewJob] = ()


@dataclass(frozen=True, slots=True)
class ManifestChange:
    """A manifest stored, or a tag moved to it: an image pushed."""

    account_id: str
    repository: str
    digest: str
    media_type: str
    tag: str | None
    created: bool
    """The manifest is new in the repository (otherwise only the tag moved)."""
    artifact_type: str | None
    subject_digest: str | None
    at: datetime
    subscribed: bool = False
    """The account has an enabled webhook subscription (read in the push's transaction,
    so only then does the push pay for a webhook dispatch job)."""


ManifestOutbox = Callable[[ManifestChange], Outbox]


def write_outbox(conn: sa.Connection, insert: Any, outbox: Outbox, now: datetime) -> list[int | None]:
    """Insert the outbox's events and jobs on ``conn`` (inside the caller's transaction);
    return each job's id, or None where its idempotency key was already queued."""
    for event in outbox.events:
        # One row per execute: SQLAlchemy's executemany path costs more than it saves here.
        conn.execute(
            _INSERT_EVENT,
            {
                "id": event.id,
                "type": event.type,
                "account_id": event.account_id,
                "subject": event.subject,
                "data": json.dumps(dict(event.data), sort_keys=True),
                "at": now,
            },
        )
    return [_insert_job(conn, insert, job, now) for job in outbox.jobs]


def _insert_job(conn: sa.Connection, insert: Any, job: NewJob, now: datetime) -> int | None:
    job_id: int | None = conn.scalar(
        _job_statement(insert),
        {
            "kind": job.kind,
            "payload": json.dumps(dict(job.payload), sort_keys=True),
            "idempotency_key": job.idempotency_key,
            "state": QUEUED,
            "attempts": 0,
            "max_attempts": job.max_attempts,
            "run_at": job.run_at or now,
            "created_at": now,
            "updated_at": now,
        },
    )
    return job_id


@functools.cache
def _job_statement(insert: Any) -> Any:
    """The job INSERT for a dialect's ``insert``, built once per dialect (as _INSERT_EVENT)."""
    return insert(jobs).on_conflict_do_nothing(index_elements=[jobs.c.idempotency_key]).returning(jobs.c.id)
