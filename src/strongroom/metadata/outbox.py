"""The outbox: events and jobs written in the same transaction as the change that
causes them (DESIGN §5), so a change is never stored without its consequences, nor
its consequences without the change.

The metadata layer only writes what it is given. Which events and jobs a change
causes is decided above it (:mod:`strongroom.events.outbox`) and handed to the store
as a :data:`ManifestOutbox` (pushes) and a :data:`DeletionOutbox` (deletions) at wiring
time.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.schema import account_settings, events, jobs, repositories, webhooks

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
    pending_scan: bool = False
    """The change queued a scan of the manifest: its scan status becomes PENDING in the
    same transaction (only a manifest change can say so)."""
    replicating: Sequence[tuple[str, str]] = ()
    """The destinations (region, registry id) the change queued a replication to: the
    image's status there becomes IN_PROGRESS in the same transaction."""


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
    scan_on_push: bool = False
    """The repository's ``imageScanningConfiguration.scanOnPush``."""
    scanning: str | None = None
    """The account's registry scanning configuration (ECR's JSON), if it has one; read
    in the push's transaction with the repository, at no extra round trip."""
    made_by_registry: bool = False
    """The registry pushed it itself (the scan's SBOM referrer), not a client."""
    replicated: bool = False
    """A replication stored it: this registry's rules do not replicate it again."""
    replication: str | None = None
    """The account's replication configuration (ECR's JSON), if it has one; read as
    :attr:`scanning` is."""


ManifestOutbox = Callable[[ManifestChange], Outbox]


@dataclass(frozen=True, slots=True)
class Expiry:
    """Why a lifecycle policy expired an image."""

    rule_priority: int
    reason: str


@dataclass(frozen=True, slots=True)
class ImageDeletion:
    """An image deleted, or tags removed from it."""

    account_id: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    """The tags removed."""
    manifest_deleted: bool
    at: datetime
    expiry: Expiry | None = None
    """Set when a lifecycle policy deleted the image."""
    subscribed: bool = False
    """As :attr:`ManifestChange.subscribed`."""
    replication: str | None = None
    """The account's replication configuration when its ``REPLICATION_DELETES`` setting
    is ``ENABLED`` (deletes replicate only then, ADR 0020); None otherwise."""


DeletionOutbox = Callable[[ImageDeletion], Outbox]

_REPOSITORY = sa.select(repositories.c.account_id, repositories.c.name).where(
    repositories.c.id == sa.bindparam("repository_id")
)
_SUBSCRIBED = (
    sa.select(webhooks.c.id)
    .where(webhooks.c.account_id == sa.bindparam("account_id"), webhooks.c.enabled)
    .limit(1)
)
"""Whether an account has an enabled webhook subscription (so a dispatch job is due)."""
REPLICATION_DELETES_SETTING = "REPLICATION_DELETES"
"""The account setting (ECR ``PutAccountSetting``, a Strongroom name) under which deletes
replicate: ``ENABLED``, or ``DISABLED`` (unset)."""
_deletes_enabled = sa.alias(account_settings, "deletes_enabled")
_DELETE_REPLICATION = sa.select(account_settings.c.value).where(
    account_settings.c.account_id == sa.bindparam("account_id"),
    account_settings.c.name == "replication",
    sa.exists().where(
        _deletes_enabled.c.account_id == account_settings.c.account_id,
        _deletes_enabled.c.name == REPLICATION_DELETES_SETTING,
        _deletes_enabled.c.value == "ENABLED",
    ),
)
"""The account's replication configuration, only when its deletes replicate."""


def announce_deletion(
    conn: sa.Connection,
    insert: Any,
    outbox: DeletionOutbox | None,
    repository_id: int,
    deleted: tuple[str, tuple[str, ...], bool],
    now: datetime,
    expiry: Expiry | None = None,
) -> None:
    """Write what deleting ``deleted`` (digest, tags removed, whether the manifest went)
    from the repository causes, in the deletion's transaction; nothing when nothing went."""
    digest, removed, manifest_deleted = deleted
    if outbox is None or not (removed or manifest_deleted):
        return
    repository = conn.execute(_REPOSITORY, {"repository_id": repository_id}).one()
    change = ImageDeletion(
        account_id=repository.account_id,
        repository=repository.name,
        digest=digest,
        tags=removed,
        manifest_deleted=manifest_deleted,
        at=now,
        expiry=expiry,
        subscribed=conn.scalar(_SUBSCRIBED, {"account_id": repository.account_id}) is not None,
        replication=conn.scalar(_DELETE_REPLICATION, {"account_id": repository.account_id}),
    )
    write_outbox(conn, insert, outbox(change), now)


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
