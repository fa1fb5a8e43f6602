"""Replication backfills (ECR ``StartReplicationBackfill``, ``StopReplicationBackfill``,
``ListReplicationBackfills``, ``DescribeReplicationBackfillResults``): copy what existed
before a rule to one of the account's destinations.

Starting one reads the account's replication configuration; the destination must be one
of its rules' (``InvalidParameterException`` otherwise). Every existing image of the
repositories whose rules name that destination (each tag, and each untagged manifest
that no index lists) gets a ``replication.image`` job, as a push would queue, carrying the
backfill's id: queued with the backfill's row and the images' IN_PROGRESS status in one
transaction, so a backfill is either wholly queued or not at all. Each job's end records
its result with the image's status; the last completes the backfill. Stopping it leaves
what was copied and makes the jobs not yet run copy nothing (their image's status says
``BACKFILL_STOPPED``). One backfill per destination at a time.
"""

from __future__ import annotations

import uuid

from strongroom.clock import Clock, IdFactory
from strongroom.errors import InvalidRequest, NotFound
from strongroom.metadata.outbox import NewJob, Outbox
from strongroom.metadata.replication import BACKFILL_COMPLETE, BACKFILL_IN_PROGRESS
from strongroom.metadata.replication_backfills import Backfill as Backfill
from strongroom.metadata.replication_backfills import BackfillResult as BackfillResult
from strongroom.metadata.replication_backfills import SqlBackfillStore
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.replication import rules
from strongroom.replication.on_push import REPLICATE, REPLICATE_MAX_ATTEMPTS

REPLICATION_SETTING = "replication"
"""Where PutReplicationConfiguration stores the account's configuration (ECR's JSON)."""


class BackfillNotFound(NotFound):
    ecr_type = "ReplicationBackfillNotFoundException"

    def __init__(self, backfill_id: str) -> None:
        super().__init__(f"The replication backfill '{backfill_id[:64]}' does not exist in the registry")


class BackfillInvalidStatus(InvalidRequest):
    ecr_type = "ReplicationBackfillInvalidStatusException"


class Backfills:
    def __init__(
        self, store: SqlBackfillStore, settings: SqlRepositoryStore, clock: Clock, ids: IdFactory, region: str
    ) -> None:
        self._store, self._settings, self._clock, self._ids = store, settings, clock, ids
        self._region = region

    async def start(self, account_id: str, region: str, registry_id: str) -> Backfill:
        configuration = rules.parse(await self._settings.account_setting(account_id, REPLICATION_SETTING))
        target = rules.Target(region, registry_id)
        if target not in rules.all_targets(configuration, self._region, account_id):
            raise InvalidRequest(
                f"Invalid parameter at 'destination': region {region[:32]} and registry {registry_id[:12]} "
                "is not a destination of the registry's replication configuration"
            )
        images = [
            image
            for image in await self._store.existing_images(account_id)
            if target in rules.targets_for(configuration, image.repository, self._region, account_id)
        ]
        now = self._clock.now()
        backfill = Backfill(
            str(uuid.UUID(hex=self._ids.new_id())), account_id, region, registry_id,
            BACKFILL_IN_PROGRESS if images else BACKFILL_COMPLETE, len(images), now, None if images else now,
        )  # fmt: skip
        jobs = [
            NewJob(
                REPLICATE,
                {
                    "account_id": account_id, "repository": image.repository, "digest": image.digest,
                    "tag": image.tag, "region": region, "registry_id": registry_id,
                    "backfill_id": backfill.id,
                },
                idempotency_key=f"{REPLICATE}:backfill:{backfill.id}:{image.repository}@{image.digest}"
                f":{image.tag or ''}",
                max_attempts=REPLICATE_MAX_ATTEMPTS,
            )
            for image in images
        ]  # fmt: skip
        await self._store.start(backfill, images, Outbox(jobs=jobs))
        return backfill

    async def stop(self, account_id: str, backfill_id: str) -> Backfill:
        found = await self.get(account_id, backfill_id)
        if not await self._store.stop(account_id, backfill_id, self._clock.now()):
            raise BackfillInvalidStatus(
                f"The replication backfill '{backfill_id}' is {found.status}: "
                "only one IN_PROGRESS can be stopped"
            )
        return await self.get(account_id, backfill_id)

    async def of_account(self, account_id: str) -> list[Backfill]:
        return await self._store.backfills(account_id)

    async def get(self, account_id: str, backfill_id: str) -> Backfill:
        found = await self._store.backfills(account_id, backfill_id)
        if not found:
            raise BackfillNotFound(backfill_id)
        return found[0]

    async def results(
        self, account_id: str, backfill_id: str, status: str | None
    ) -> tuple[Backfill, list[BackfillResult]]:
        backfill = await self.get(account_id, backfill_id)
        return backfill, await self._store.results(backfill_id, status)
