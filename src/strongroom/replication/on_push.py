"""Replication on push: which pushes queue a ``replication.image`` job per destination
(written in the push's transaction, with the image's IN_PROGRESS status), and the job
that copies the image and records COMPLETE, or FAILED after its last attempt, with its
event.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strongroom.clock import Clock, IdFactory
from strongroom.events.catalogue import REPLICATION_COMPLETE, REPLICATION_FAILED
from strongroom.metadata.jobs import Job
from strongroom.metadata.outbox import ManifestChange, NewEvent, NewJob, Outbox
from strongroom.metadata.replication import COMPLETE, FAILED, SqlReplicationStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.replication import rules
from strongroom.replication.destinations import Destinations
from strongroom.replication.failures import ReplicationError
from strongroom.replication.walk import SourceImage
from strongroom.storage.base import BlobStore

if TYPE_CHECKING:
    from strongroom.replication.internal import InternalCopy

REPLICATE = "replication.image"
REPLICATE_MAX_ATTEMPTS = 10
"""With the runner's exponential backoff, a destination down for most of an hour is
caught up (ADR 0009's retry policy)."""
MAX_REASON = 1000


class ReplicationOnPush:
    """The outbox's hook: the jobs a push queues, one per destination a rule names."""

    def __init__(self, region: str) -> None:
        self._region = region

    def __call__(self, change: ManifestChange) -> Sequence[tuple[tuple[str, str], NewJob]]:
        if change.replication is None:
            return ()
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


class ImageReplicator:
    """The ``replication.image`` job handler."""

    def __init__(
        self, destinations: Destinations, store: SqlReplicationStore,
        source: tuple[SqlMetadataStore, BlobStore, Path], clock: Clock, ids: IdFactory, region: str, *,
        dispatch_kind: str | None, internal: InternalCopy | None = None,
    ) -> None:  # fmt: skip
        """``source``: the metadata and blob stores images are read from, and the folder
        where uploads in progress are journaled (so a retry resumes them). ``internal``:
        how a destination in another account of this registry is copied to."""
        self._destinations, self._store, self._source = destinations, store, source
        self._clock, self._ids, self._region = clock, ids, region
        self._dispatch_kind, self._internal = dispatch_kind, internal

    async def __call__(self, job: Job) -> None:
        payload = job.payload
        tag = payload.get("tag")
        image = SourceImage(
            str(payload["account_id"]), str(payload["repository"]), str(payload["digest"]),
            tag if isinstance(tag, str) else None,
        )  # fmt: skip
        target = (str(payload["region"]), str(payload["registry_id"]))
        try:
            await self._copy(image, target)
        except ReplicationError as error:
            if error.permanent:  # trying again cannot help: FAILED now, and the job is done
                await self._finish(image, target, (FAILED, error.code, str(error)[:MAX_REASON]))
                return
            if job.attempts >= job.max_attempts:
                await self._finish(image, target, (FAILED, error.code, str(error)[:MAX_REASON]))
            raise
        except Exception as error:
            if job.attempts >= job.max_attempts:
                await self._finish(image, target, (FAILED, "REPLICATION_ERROR", str(error)[:MAX_REASON]))
            raise
        await self._finish(image, target, (COMPLETE, None, None))

    async def _copy(self, image: SourceImage, target: tuple[str, str]) -> None:
        found = await self._destinations.find(*target)
        if found is None and target[0] == self._region and self._internal is not None:
            await self._internal.copy(image, target[1])  # another account of this registry
            return
        if found is None:
            raise ReplicationError(
                "DESTINATION_UNKNOWN",
                f"no destination is registered for region {target[0]} and registry {target[1]} "
                "(strongroom replication destination add)",
            )
        from strongroom.replication.copy import replicate  # loads httpx: only when a job runs

        destination, secret = found
        repository = image.repository
        if destination.kind == "strongroom":
            repository = f"{destination.registry_id}/{image.repository}"
        metadata, blobs, journal = self._source
        login = (destination.access_key_id, secret)
        await replicate(metadata, blobs, journal, image, destination.url, repository, login)

    async def _finish(
        self, image: SourceImage, target: tuple[str, str], outcome: tuple[str, str | None, str | None]
    ) -> None:
        status, code, reason = outcome
        data: dict[str, Any] = {
            "action-type": "REPLICATE",
            "result": "SUCCESS" if status == COMPLETE else "FAILURE",
            "repository-name": image.repository,
            "image-digest": image.digest,
            "image-tag": image.tag,
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
        await self._store.finish(
            image.account_id, image.repository, image.digest, target, outcome,
            Outbox(events=[event], jobs=jobs), self._clock.now(),
        )  # fmt: skip
