"""What a pushed or deleted image causes: its events (``image.push``; ``image.delete``,
and ``lifecycle.expired`` when a policy expired it) and the jobs that act on them, handed
to the metadata store at wiring time and written in the change's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from strongroom.clock import IdFactory
from strongroom.events.catalogue import IMAGE_DELETE, IMAGE_PUSH, LIFECYCLE_EXPIRED
from strongroom.metadata.outbox import ImageDeletion, ManifestChange, NewEvent, NewJob, Outbox


class ImagePushOutbox:
    """Each push becomes one event and, per job kind that follows pushes, one job
    whose idempotency key is the event's id (so it is queued once, whatever retries)."""

    def __init__(
        self,
        ids: IdFactory,
        job_kinds: Sequence[str],
        max_attempts: int,
        *,
        dispatch_kind: str | None = None,
        scan: Callable[[ManifestChange], NewJob | None] | None = None,
        index: Callable[[ManifestChange], NewJob | None] | None = None,
        lineage: Callable[[ManifestChange], NewJob | None] | None = None,
        replicate: Callable[[ManifestChange], Sequence[tuple[tuple[str, str], NewJob]]] | None = None,
    ) -> None:
        """``dispatch_kind`` is queued too, but only when the account has a webhook
        subscription; ``scan`` says whether the push queues a scan (and which), ``index``
        whether it queues the indexing of a model, ``lineage`` whether it queues lineage
        detection; ``replicate``, the replication jobs it
        queues, by destination (region, registry id)."""
        self._scan = scan
        self._index = index
        self._lineage = lineage
        self._replicate = replicate
        self._ids = ids
        self._job_kinds = tuple(job_kinds)
        self._max_attempts = max_attempts
        self._dispatch_kind = dispatch_kind

    def __call__(self, change: ManifestChange) -> Outbox:
        event_id = self._ids.new_id()
        data = {
            # ECR's EventBridge "ECR Image Action" detail, under its names.
            "action-type": "PUSH",
            "result": "SUCCESS",
            "repository-name": change.repository,
            "image-digest": change.digest,
            "image-tag": change.tag,
            "media-type": change.media_type,
            "artifact-type": change.artifact_type,
            "subject-digest": change.subject_digest,
            "created": change.created,
        }
        event = NewEvent(event_id, IMAGE_PUSH.name, change.account_id, change.repository, data)
        payload = {"event_id": event_id, "account_id": change.account_id, **data}
        kinds = self._job_kinds
        if change.subscribed and self._dispatch_kind is not None:
            kinds = (self._dispatch_kind, *kinds)
        jobs = [
            NewJob(kind, payload, idempotency_key=f"{kind}:{event_id}", max_attempts=self._max_attempts)
            for kind in kinds
        ]
        scan = None if self._scan is None else self._scan(change)
        if scan is not None:
            jobs.append(scan)
        index = None if self._index is None else self._index(change)
        if index is not None:
            jobs.append(index)
        lineage = None if self._lineage is None else self._lineage(change)
        if lineage is not None:
            jobs.append(lineage)
        replications = () if self._replicate is None else self._replicate(change)
        jobs.extend(job for _, job in replications)
        return Outbox(
            events=[event],
            jobs=jobs,
            pending_scan=scan is not None,
            replicating=[target for target, _ in replications],
        )


class ImageDeletionOutbox:
    """Each deletion becomes its ``image.delete`` event (and ``lifecycle.expired`` when a
    policy expired the image) and, when the account has a webhook subscription, a
    dispatch job per event."""

    def __init__(
        self,
        ids: IdFactory,
        max_attempts: int,
        *,
        dispatch_kind: str | None = None,
        prune_kind: str | None = None,
        replicate: Callable[[ImageDeletion], Sequence[NewJob]] | None = None,
    ) -> None:
        """``prune_kind``: a job queued whenever a manifest goes, to delete the referrers
        the registry made for it (its SBOMs, ADR 0016). ``replicate``: the jobs that
        delete it at each replication destination, when the account replicates deletes."""
        self._prune_kind = prune_kind
        self._replicate = replicate
        self._ids = ids
        self._max_attempts = max_attempts
        self._dispatch_kind = dispatch_kind

    def __call__(self, change: ImageDeletion) -> Outbox:
        # ECR's EventBridge "ECR Image Action" detail (action-type DELETE), under its names;
        # ECR names one tag, so the first removed is there and all of them in image-tags.
        detail = {
            "action-type": "DELETE",
            "result": "SUCCESS",
            "repository-name": change.repository,
            "image-digest": change.digest,
            "image-tag": change.tags[0] if change.tags else None,
            "image-tags": list(change.tags),
        }
        found = [
            NewEvent(
                self._ids.new_id(), IMAGE_DELETE.name, change.account_id, change.repository,
                {**detail, "manifest-deleted": change.manifest_deleted},
            )
        ]  # fmt: skip
        if change.expiry is not None:
            expired = {**detail, "rule-priority": change.expiry.rule_priority, "reason": change.expiry.reason}
            found.append(
                NewEvent(
                    self._ids.new_id(), LIFECYCLE_EXPIRED.name, change.account_id, change.repository, expired
                )
            )
        jobs = []
        if change.subscribed and self._dispatch_kind is not None:
            kind = self._dispatch_kind
            jobs = [
                NewJob(
                    kind,
                    {"event_id": event.id, "account_id": change.account_id},
                    idempotency_key=f"{kind}:{event.id}",
                    max_attempts=self._max_attempts,
                )
                for event in found
            ]
        if change.manifest_deleted and self._prune_kind is not None:
            payload = {
                "account_id": change.account_id,
                "repository": change.repository,
                "digest": change.digest,
            }
            key = f"{self._prune_kind}:{found[0].id}"
            jobs.append(
                NewJob(self._prune_kind, payload, idempotency_key=key, max_attempts=self._max_attempts)
            )
        if change.replication is not None and self._replicate is not None:
            jobs.extend(self._replicate(change))
        return Outbox(events=found, jobs=jobs)
