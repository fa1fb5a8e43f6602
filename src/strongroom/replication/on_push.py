"""Replication on push (and on delete, when the account replicates deletes): which pushes
queue a ``replication.image`` job per destination (written in the push's transaction,
with the image's IN_PROGRESS status), which deletions a ``replication.delete`` job, and
the jobs that copy or delete the image and record COMPLETE, or FAILED after the last
attempt (at once when trying again cannot help), with the event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strongroom.clock import Clock, IdFactory
from strongroom.events.catalogue import REPLICATION_COMPLETE, REPLICATION_FAILED
from strongroom.metadata.jobs import Job
from strongroom.metadata.outbox import REPLICATION_DELETES_SETTING as REPLICATION_DELETES_SETTING
from strongroom.metadata.outbox import (
    ImageDeletion,
    ManifestChange,
    NewEvent,
    NewJob,
    Outbox,
)
from strongroom.metadata.replication import COMPLETE, FAILED, SqlReplicationStore
from strongroom.metadata.replication_backfills import SqlBackfillStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.replication import rules
from strongroom.replication.destinations import Destinations
from strongroom.replication.failures import ReplicationError
from strongroom.replication.walk import Deletion, SourceImage
from strongroom.storage.base import BlobStore

if TYPE_CHECKING:
    from strongroom.replication.internal import InternalCopy

REPLICATE = "replication.image"
REPLICATE_DELETE = "replication.delete"
REPLICATE_MAX_ATTEMPTS = 10
"""With the runner's exponential backoff, a destination down for most of an hour is
caught up (ADR 0009's retry policy)."""
MAX_REASON = 1000


class ReplicationOnPush:
    """The outbox's hook: the jobs a push queues, one per destination a rule names."""

    def __init__(self, region: str) -> None:
        self._region = region

    def __call__(self, change: ManifestChange) -> Sequence[tuple[tuple[str, str], NewJob]]:
        if change.replication is None or change.replicated:
            return ()  # content replicated here is not replicated onward (as in ECR)
        targets = rules.targets_for(
            rules.parse(change.replication), change.repository, self._region, change.account_id
        )
        image = f"{change.account_id}/{change.repository}@{change.digest}:{change.tag or ''}"
        found = []
        for target in targets:
            where = f"{target.region}/{target.registry_id}"
            key = f"{REPLICATE}:{where}:{image}:{change.at.isoformat()}"
            found.append(((target.region, target.registry_id), replication_job(change, target, key)))
        return found


def replication_job(change: ManifestChange, target: rules.Target, key: str) -> NewJob:
    payload = {
        "account_id": change.account_id,
        "repository": change.repository,
        "digest": change.digest,
        "tag": change.tag,
        "region": target.region,
        "registry_id": target.registry_id,
    }
    return NewJob(REPLICATE, payload, idempotency_key=key, max_attempts=REPLICATE_MAX_ATTEMPTS)


class ReplicationOnDelete:
    """The deletion outbox's hook: when the account replicates deletes (its deletion change
    then carries the replication configuration), a ``replication.delete`` job per
    destination a rule names."""

    def __init__(self, region: str) -> None:
        self._region = region

    def __call__(self, change: ImageDeletion) -> Sequence[NewJob]:
        targets = rules.targets_for(
            rules.parse(change.replication), change.repository, self._region, change.account_id
        )
        payload = {
            "account_id": change.account_id,
            "repository": change.repository,
            "digest": change.digest,
            "tags": list(change.tags),
            "manifest_deleted": change.manifest_deleted,
        }
        image = f"{change.account_id}/{change.repository}@{change.digest}:{','.join(change.tags)}"
        return [
            NewJob(
                REPLICATE_DELETE,
                {**payload, "region": target.region, "registry_id": target.registry_id},
                idempotency_key=f"{REPLICATE_DELETE}:{target.region}/{target.registry_id}:{image}:{change.at.isoformat()}",
                max_attempts=REPLICATE_MAX_ATTEMPTS,
            )
            for target in targets
        ]


Outcome = tuple[str, str | None, str | None]
"""The status (COMPLETE or FAILED), the failure code and the reason."""


class ImageReplicator:
    """The ``replication.image`` job handler (called) and the ``replication.delete`` one
    (:meth:`delete`)."""

    def __init__(
        self, destinations: Destinations, store: SqlReplicationStore,
        source: tuple[SqlMetadataStore, BlobStore, Path], clock: Clock, ids: IdFactory, region: str, *,
        dispatch_kind: str | None, internal: InternalCopy | None = None,
        backfills: SqlBackfillStore | None = None,
    ) -> None:  # fmt: skip
        """``source``: the metadata and blob stores images are read from, and the folder
        where uploads in progress are journaled (so a retry resumes them). ``internal``:
        how a destination in another account of this registry is copied to."""
        self._destinations, self._store, self._source = destinations, store, source
        self._clock, self._ids, self._region = clock, ids, region
        self._dispatch_kind, self._internal, self._backfills = dispatch_kind, internal, backfills

    async def __call__(self, job: Job) -> None:
        payload = job.payload
        tag = payload.get("tag")
        image = SourceImage(
            str(payload["account_id"]), str(payload["repository"]), str(payload["digest"]),
            tag if isinstance(tag, str) else None,
        )  # fmt: skip
        target = (str(payload["region"]), str(payload["registry_id"]))
        backfill_id = payload.get("backfill_id")
        backfill = (str(backfill_id), image.tag) if backfill_id is not None else None

        async def finish(outcome: Outcome) -> None:
            await self._store.finish(
                image.account_id, image.repository, image.digest, target, outcome,
                self._outbox(image, "REPLICATE", target, outcome), self._clock.now(), backfill,
            )  # fmt: skip

        if (
            backfill is not None
            and self._backfills is not None
            and await self._backfills.stopped(backfill[0])
        ):
            stopped = ReplicationError(
                "BACKFILL_STOPPED", f"the backfill {backfill[0]} was stopped", permanent=True
            )
            backfill = None  # no result: the backfill ended without it
            await _attempt(job, _raise(stopped), finish)
            return
        await _attempt(job, self._copy(image, target), finish)

    async def delete(self, job: Job) -> None:
        payload = job.payload
        tags = payload.get("tags")
        deletion = Deletion(
            str(payload["account_id"]), str(payload["repository"]), str(payload["digest"]),
            tuple(str(tag) for tag in tags) if isinstance(tags, list) else (),
            bool(payload.get("manifest_deleted")),
        )  # fmt: skip
        target = (str(payload["region"]), str(payload["registry_id"]))
        image = SourceImage(deletion.account_id, deletion.repository, deletion.digest, None)

        async def finish(outcome: Outcome) -> None:
            outbox = self._outbox(image, "DELETE", target, outcome, tags=deletion.tags)
            await self._store.announce(outbox, self._clock.now())

        await _attempt(job, self._delete(deletion, target), finish)

    async def _copy(self, image: SourceImage, target: tuple[str, str]) -> None:
        found = await self._destinations.find(*target)
        if found is None and target[0] == self._region and self._internal is not None:
            await self._internal.copy(image, target[1])  # another account of this registry
            return
        if found is None:
            raise _unknown(target)
        from strongroom.replication.copy import held_elsewhere, replicate  # loads httpx: only in a job

        destination, secret = found
        metadata, blobs, journal = self._source
        login = (destination.access_key_id, secret)
        kind, registry_id = destination.kind, destination.registry_id
        repository = repository_at(kind, registry_id, image.repository)
        marks, mount_from = None, None
        if kind == "strongroom":  # marked as replication; mounts found there (ADR 0020, 16 and 19)
            marks = await self._marks(metadata, image)
        else:
            mount_from = held_elsewhere(metadata, image, lambda name: repository_at(kind, registry_id, name))
        await replicate(
            metadata, blobs, journal, image, destination.url, repository, login, marks, mount_from
        )

    async def _marks(self, metadata: SqlMetadataStore, image: SourceImage) -> dict[str, str]:
        """The headers that say a copy is a replication: the source repository's ARN, and its
        settings for a repository the copy creates (ADR 0020, decisions 16 and 21)."""
        marks = {rules.SOURCE_HEADER: rules.repository_arn(self._region, image.account_id, image.repository)}
        source = await metadata.get_repository(image.account_id, image.repository)
        if source is not None:
            settings = rules.SourceSettings(
                source.tag_mutability,
                source.tag_mutability_filters,
                source.scan_on_push,
                source.encryption_type,
            )
            marks[rules.SETTINGS_HEADER] = settings.header()
        return marks

    async def _delete(self, deletion: Deletion, target: tuple[str, str]) -> None:
        found = await self._destinations.find(*target)
        if found is None and target[0] == self._region and self._internal is not None:
            await self._internal.delete(deletion, target[1])
            return
        if found is None:
            raise _unknown(target)
        from strongroom.replication.copy import delete_remote

        destination, secret = found
        repository = repository_at(destination.kind, destination.registry_id, deletion.repository)
        await delete_remote(destination.url, repository, (destination.access_key_id, secret), deletion)

    def _outbox(
        self, image: SourceImage, action: str, target: tuple[str, str], outcome: Outcome,
        tags: tuple[str, ...] = (),
    ) -> Outbox:  # fmt: skip
        status, code, reason = outcome
        data: dict[str, Any] = {
            "action-type": action,
            "result": "SUCCESS" if status == COMPLETE else "FAILURE",
            "repository-name": image.repository,
            "image-digest": image.digest,
            "image-tag": image.tag if image.tag is not None else (tags[0] if tags else None),
            "source-account": image.account_id,
            "source-region": self._region,
            "destination-region": target[0],
            "destination-registry-id": target[1],
        }
        event_type = REPLICATION_COMPLETE
        if status == FAILED:
            event_type = REPLICATION_FAILED
            data.update({"failure-code": code, "failure-reason": reason})
        event = NewEvent(self._ids.new_id(), event_type.name, image.account_id, image.repository, data)
        jobs = []
        if self._dispatch_kind is not None:
            jobs.append(
                NewJob(
                    self._dispatch_kind,
                    {"event_id": event.id, "account_id": image.account_id},
                    idempotency_key=f"{self._dispatch_kind}:{event.id}",
                )
            )
        return Outbox(events=[event], jobs=jobs)


async def _attempt(job: Job, work: Awaitable[None], finish: Callable[[Outcome], Awaitable[None]]) -> None:
    """Run one attempt: COMPLETE when it works; FAILED at once when trying again cannot help,
    or when this was the last attempt (the runner retries the others)."""
    try:
        await work
    except ReplicationError as error:
        if error.permanent:  # the job is done: its outcome is the failure
            await finish((FAILED, error.code, str(error)[:MAX_REASON]))
            return
        if job.attempts >= job.max_attempts:
            await finish((FAILED, error.code, str(error)[:MAX_REASON]))
        raise
    except Exception as error:
        if job.attempts >= job.max_attempts:
            await finish((FAILED, "REPLICATION_ERROR", str(error)[:MAX_REASON]))
        raise
    await finish((COMPLETE, None, None))


async def _raise(error: Exception) -> None:
    raise error


def _unknown(target: tuple[str, str]) -> ReplicationError:
    return ReplicationError(
        "DESTINATION_UNKNOWN",
        f"no destination is registered for region {target[0]} and registry {target[1]} "
        "(strongroom replication destination add)",
    )


def repository_at(kind: str, registry_id: str, repository: str) -> str:
    """The repository's path at a destination: ``<registry id>/<name>`` at a Strongroom one
    (so it lands in that account, DESIGN §10), the name at any other registry."""
    return f"{registry_id}/{repository}" if kind == "strongroom" else repository
