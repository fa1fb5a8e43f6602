"""Replication's store and push-time decision, against SQLite and PostgreSQL: a push that a
rule matches queues one job per destination and marks the image IN_PROGRESS there in its
own transaction; the job's end is recorded with its event in one transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.clock import RandomIdFactory
from strongroom.events.outbox import ImagePushOutbox
from strongroom.metadata.database import Database
from strongroom.metadata.jobs import Job, SqlJobStore
from strongroom.metadata.outbox import NewEvent, Outbox
from strongroom.metadata.records import NewManifest
from strongroom.metadata.replication import (
    COMPLETE,
    FAILED,
    IN_PROGRESS,
    Destination,
    SqlReplicationStore,
)
from strongroom.metadata.replication_backfills import SqlBackfillStore
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.replication.on_push import REPLICATE, ReplicationOnPush

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
M1 = "sha256:" + "a" * 64
M2 = "sha256:" + "b" * 64
EAST = ("us-east-1", ACCOUNT)
EU = ("eu-west-1", "222222222222")
RULES = {
    "rules": [
        {"destinations": [{"region": "us-east-1", "registryId": ACCOUNT}],
         "repositoryFilters": [{"filter": "team/", "filterType": "PREFIX_MATCH"}]},
        {"destinations": [{"region": "eu-west-1", "registryId": "222222222222"}]},
    ]
}  # fmt: skip


def manifest(digest: str, *, replicated: bool = False) -> NewManifest:
    return NewManifest(
        digest=digest,
        media_type="application/vnd.oci.image.manifest.v1+json",
        content=b'{"x":"' + digest.encode() + b'"}',
        subject_digest=None,
        artifact_type=None,
        annotations_json=None,
        blob_digests=(),
        child_digests=(),
        replicated=replicated,
    )


async def setup(database: Database, name: str = "team/app") -> tuple[SqlMetadataStore, int]:
    outbox = ImagePushOutbox(RandomIdFactory(), (), 8, replicate=ReplicationOnPush("us-west-2"))
    store = SqlMetadataStore(database, outbox)
    await store.create_default_account(ACCOUNT, NOW)
    repository = await store.ensure_repository(ACCOUNT, name, NOW)
    await SqlRepositoryStore(database).put_account_setting(ACCOUNT, "replication", json.dumps(RULES), NOW)
    return store, repository.id


async def replication_jobs(database: Database) -> list[Job]:
    return sorted(
        (job for job in await SqlJobStore(database).list_jobs() if job.kind == REPLICATE),
        key=lambda job: (job.payload["region"], job.payload["tag"] or ""),
    )


async def test_a_push_a_rule_matches_queues_one_job_per_destination_and_marks_it_in_progress(
    database: Database,
) -> None:
    store, repository_id = await setup(database)
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW)
    jobs = await replication_jobs(database)
    assert [(j.payload["region"], j.payload["registry_id"]) for j in jobs] == [EU, EAST]
    assert {(j.payload["repository"], j.payload["digest"], j.payload["tag"]) for j in jobs} == {
        ("team/app", M1, "v1")
    }
    statuses = await SqlReplicationStore(database).statuses(ACCOUNT, "team/app", M1)
    assert [(s.region, s.registry_id, s.status) for s in statuses] == [
        (*EU, IN_PROGRESS),
        (*EAST, IN_PROGRESS),
    ]


async def test_a_filter_that_does_not_match_queues_only_the_rules_that_do(database: Database) -> None:
    store, repository_id = await setup(database, "other/app")
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW)
    assert [(j.payload["region"]) for j in await replication_jobs(database)] == ["eu-west-1"]


async def test_no_configuration_no_job_and_no_status(database: Database) -> None:
    store, repository_id = await setup(database)
    await SqlRepositoryStore(database).put_account_setting(ACCOUNT, "replication", None, NOW)
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW)
    assert await replication_jobs(database) == []
    assert await SqlReplicationStore(database).statuses(ACCOUNT, "team/app", M1) == []


async def test_a_push_retried_is_queued_once_and_a_tag_move_queues_again(database: Database) -> None:
    store, repository_id = await setup(database)
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW)
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW + timedelta(seconds=1))
    assert len(await replication_jobs(database)) == 2
    await store.put_manifest(repository_id, manifest(M2), ["v1"], NOW + timedelta(seconds=2))
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW + timedelta(seconds=3))
    jobs = await replication_jobs(database)
    assert [j.payload["digest"] for j in jobs].count(M1) == 4  # the tag moved back: replicated again


async def test_the_end_is_recorded_with_its_event_and_a_later_push_restarts_it(database: Database) -> None:
    store, repository_id = await setup(database)
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW)
    replication = SqlReplicationStore(database)
    event = NewEvent("ev-1", "replication.complete", ACCOUNT, "team/app", {"result": "SUCCESS"})
    await replication.finish(
        ACCOUNT, "team/app", M1, EAST, (COMPLETE, None, None), Outbox(events=[event]), NOW
    )
    await replication.finish(
        ACCOUNT, "team/app", M1, EU, (FAILED, "DESTINATION_UNREACHABLE", "refused"), Outbox(), NOW
    )
    found = {
        (s.region, s.status, s.failure_code, s.failure_reason)
        for s in await replication.statuses(ACCOUNT, "team/app", M1)
    }
    assert found == {
        ("us-east-1", COMPLETE, None, None),
        ("eu-west-1", FAILED, "DESTINATION_UNREACHABLE", "refused"),
    }
    await store.put_manifest(repository_id, manifest(M1), ["v2"], NOW + timedelta(seconds=1))
    assert {s.status for s in await replication.statuses(ACCOUNT, "team/app", M1)} == {IN_PROGRESS}


async def test_destinations_are_registered_replaced_listed_and_removed(database: Database) -> None:
    await setup(database)
    replication = SqlReplicationStore(database)
    first = Destination("us-east-1", ACCOUNT, "http://a:1", "strongroom", "AKIA1", b"sealed", NOW)
    await replication.put_destination(first)
    await replication.put_destination(
        Destination("us-east-1", ACCOUNT, "http://b:2", "oci", "AKIA2", b"x", NOW)
    )
    assert [(d.url, d.kind, d.access_key_id) for d in await replication.destinations()] == [
        ("http://b:2", "oci", "AKIA2")
    ]
    assert await replication.destination("us-east-1", ACCOUNT) is not None
    assert await replication.remove_destination("us-east-1", ACCOUNT)
    assert not await replication.remove_destination("us-east-1", ACCOUNT)
    assert await replication.destinations() == []


async def test_a_replicated_manifest_is_marked_and_a_backfill_skips_it_until_a_client_pushes_it(
    database: Database,
) -> None:
    store, repository_id = await setup(database)
    await store.put_manifest(repository_id, manifest(M1, replicated=True), ["v1"], NOW)
    await store.put_manifest(repository_id, manifest(M2), ["v2"], NOW)
    assert {job.payload["digest"] for job in await replication_jobs(database)} == {M2}  # not onward
    backfills = SqlBackfillStore(database)
    assert [(i.digest, i.tag) for i in await backfills.existing_images(ACCOUNT)] == [(M2, "v2")]
    # Replicated again (a tag moved at the source): still replicated content.
    await store.put_manifest(repository_id, manifest(M1, replicated=True), ["v3"], NOW)
    assert [(i.digest, i.tag) for i in await backfills.existing_images(ACCOUNT)] == [(M2, "v2")]
    # A client pushes the same manifest: it is the client's now.
    await store.put_manifest(repository_id, manifest(M1), ["v4"], NOW)
    assert {(i.digest, i.tag) for i in await backfills.existing_images(ACCOUNT)} == {
        (M1, "v1"), (M1, "v3"), (M1, "v4"), (M2, "v2")
    }  # fmt: skip
