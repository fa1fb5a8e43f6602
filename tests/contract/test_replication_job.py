"""The ``replication.image`` job's end states with the real stores: while attempts remain a
failure leaves the image IN_PROGRESS (the runner retries it); the last attempt records
FAILED with the reason and a ``replication.failed`` event, in one transaction."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_replication_store import ACCOUNT, M1, NOW, RULES, manifest

from strongroom.auth.secretbox import SecretBox
from strongroom.clock import RandomIdFactory, SystemClock
from strongroom.events.outbox import ImagePushOutbox
from strongroom.metadata.database import Database
from strongroom.metadata.events import SqlEventStore
from strongroom.metadata.jobs import Job, SqlJobStore
from strongroom.metadata.replication import FAILED, IN_PROGRESS, SqlReplicationStore
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.replication.destinations import Destinations
from strongroom.replication.failures import ReplicationError
from strongroom.replication.on_push import REPLICATE, ImageReplicator, ReplicationOnPush
from strongroom.storage.memory import MemoryBlobStore

pytestmark = pytest.mark.anyio


async def queued(database: Database) -> tuple[SqlReplicationStore, ImageReplicator, Job]:
    store = SqlMetadataStore(
        database, ImagePushOutbox(RandomIdFactory(), (), 8, replicate=ReplicationOnPush("us-west-2"))
    )
    await store.create_default_account(ACCOUNT, NOW)
    repository = await store.ensure_repository(ACCOUNT, "team/app", NOW)
    await SqlRepositoryStore(database).put_account_setting(ACCOUNT, "replication", json.dumps(RULES), NOW)
    await store.put_manifest(repository.id, manifest(M1), ["v1"], NOW)
    [job] = [j for j in await SqlJobStore(database).list_jobs() if j.payload.get("region") == "us-east-1"]
    replication = SqlReplicationStore(database)
    destinations = Destinations(replication, SecretBox.from_keys(os.urandom(32)), SystemClock())
    replicator = ImageReplicator(
        destinations, replication, (store, MemoryBlobStore(), Path("/nonexistent")), SystemClock(),
        RandomIdFactory(), "us-west-2", dispatch_kind=None,
    )  # fmt: skip
    return replication, replicator, job


def attempt(job: Job, number: int) -> Job:
    fields = {name: getattr(job, name) for name in job.__dataclass_fields__}
    return Job(**{**fields, "attempts": number})


async def test_a_failure_with_attempts_left_stays_in_progress_and_the_last_is_failed_with_its_event(
    database: Database,
) -> None:
    replication, replicator, job = await queued(database)
    assert job.kind == REPLICATE
    with pytest.raises(ReplicationError):
        await replicator(attempt(job, 1))
    [status] = [s for s in await replication.statuses(ACCOUNT, "team/app", M1) if s.region == "us-east-1"]
    assert status.status == IN_PROGRESS
    with pytest.raises(ReplicationError):
        await replicator(attempt(job, job.max_attempts))
    [status] = [s for s in await replication.statuses(ACCOUNT, "team/app", M1) if s.region == "us-east-1"]
    assert (status.status, status.failure_code) == (FAILED, "DESTINATION_UNKNOWN")
    assert "strongroom replication destination add" in (status.failure_reason or "")
    [event] = await SqlEventStore(database).find(
        type="replication.failed", since=datetime(2000, 1, 1, tzinfo=UTC)
    )
    assert event.data["failure-code"] == "DESTINATION_UNKNOWN"
    assert event.data["destination-region"] == "us-east-1" and event.data["image-tag"] == "v1"
