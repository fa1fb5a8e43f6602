"""The scan store contract (status, findings, the layer inventory cache) and the push-time
scan decision, run against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.clock import RandomIdFactory
from strongroom.events.outbox import ImagePushOutbox
from strongroom.metadata.database import Database
from strongroom.metadata.jobs import Job, SqlJobStore
from strongroom.metadata.outbox import NewEvent, NewJob, Outbox
from strongroom.metadata.records import NewManifest
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.scans import (
    COMPLETE,
    FAILED,
    IN_PROGRESS,
    PENDING,
    NewFinding,
    ScanOutcome,
    SqlScanStore,
)
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.scanning.on_push import SCAN, scan_on_push

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
M1 = "sha256:" + "a" * 64
M2 = "sha256:" + "b" * 64
LAYER = "sha256:" + "c" * 64


def manifest(digest: str) -> NewManifest:
    return NewManifest(
        digest=digest,
        media_type="application/vnd.oci.image.manifest.v1+json",
        content=b'{"x":"' + digest.encode() + b'"}',
        subject_digest=None,
        artifact_type=None,
        annotations_json=None,
        blob_digests=(),
        child_digests=(),
    )


def finding(key: str, severity: str = "HIGH") -> NewFinding:
    return NewFinding(key, "vulnerability", f"CVE-{key}", severity, {"package_name": key})


async def metadata_with(database: Database, *, scanning: bool = False) -> tuple[SqlMetadataStore, int]:
    outbox = ImagePushOutbox(RandomIdFactory(), (), 8, scan=scan_on_push)
    store = SqlMetadataStore(database, outbox)
    await store.create_default_account(ACCOUNT, NOW)
    repository = await store.ensure_repository(ACCOUNT, "team/app", NOW)
    if scanning:
        await SqlRepositoryStore(database).update_repository(repository.id, scan_on_push=True)
    return store, repository.id


async def scan_jobs(database: Database) -> list[Job]:
    return [job for job in await SqlJobStore(database).list_jobs() if job.kind == SCAN]


async def test_a_push_queues_no_scan_when_scanning_is_off(database: Database) -> None:
    store, repository_id = await metadata_with(database)
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW)
    assert await scan_jobs(database) == []
    assert await SqlScanStore(database).scans(repository_id, [M1]) == {}


async def test_a_push_to_a_repository_scanning_on_push_queues_one_scan_and_marks_it_pending(
    database: Database,
) -> None:
    store, repository_id = await metadata_with(database, scanning=True)
    await store.put_manifest(repository_id, manifest(M1), ["v1", "latest"], NOW)
    # The same manifest again with another tag: not new, no second scan.
    await store.put_manifest(repository_id, manifest(M1), ["v2"], NOW + timedelta(seconds=1))
    [job] = await scan_jobs(database)
    assert job.payload == {
        "account_id": ACCOUNT, "repository": "team/app", "digest": M1, "reason": "push", "tag": "v1",
    }  # fmt: skip
    [scan] = (await SqlScanStore(database).scans(repository_id, [M1])).values()
    assert (scan.status, scan.requested_at) == (PENDING, NOW)


@pytest.mark.parametrize(
    ("pattern", "scanned"), [("team/*", True), ("*", True), ("team/app", True), ("other/*", False)]
)
async def test_a_registry_rule_with_a_wildcard_filter_queues_the_scan(
    database: Database, pattern: str, scanned: bool
) -> None:
    store, repository_id = await metadata_with(database)
    rules = {
        "scanType": "ENHANCED",
        "rules": [
            {
                "scanFrequency": "CONTINUOUS_SCAN",
                "repositoryFilters": [{"filter": pattern, "filterType": "WILDCARD"}],
            }
        ],
    }
    await SqlRepositoryStore(database).put_account_setting(ACCOUNT, "scanning", json.dumps(rules), NOW)
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW)
    assert len(await scan_jobs(database)) == (1 if scanned else 0)


async def test_finishing_a_scan_opens_new_findings_keeps_first_seen_and_closes_the_rest(
    database: Database,
) -> None:
    store, repository_id = await metadata_with(database)
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW)
    scans = SqlScanStore(database)
    await scans.start(repository_id, M1, NOW)
    assert (await scans.scans(repository_id, [M1]))[M1].status == IN_PROGRESS
    outcomes: list[ScanOutcome] = []

    def announce(outcome: ScanOutcome) -> Outbox:
        outcomes.append(outcome)
        return Outbox(events=[NewEvent(f"e{len(outcomes)}", "scan.complete", ACCOUNT, "team/app", {})])

    first = [finding("1"), finding("2", "LOW")]
    await scans.finish(
        repository_id, M1, NOW, status=COMPLETE, description="ok", findings=first, announce=announce
    )
    later = NOW + timedelta(hours=1)
    second = [finding("2", "LOW"), finding("3", "CRITICAL")]
    await scans.finish(
        repository_id, M1, later, status=COMPLETE, description="ok", findings=second, announce=announce
    )

    assert [f.key for f in outcomes[0].new] == ["1", "2"]
    assert ([f.key for f in outcomes[1].new], [f.key for f in outcomes[1].closed]) == (["3"], ["1"])
    found = {f.key: f for f in await scans.findings(repository_id, M1)}
    assert sorted(found) == ["2", "3"]
    assert (found["2"].first_seen, found["2"].last_seen) == (NOW, later)
    assert found["3"].first_seen == later
    scan = (await scans.scans(repository_id, [M1]))[M1]
    assert (scan.status, scan.completed_at, scan.severity_counts) == (
        COMPLETE,
        later,
        {"CRITICAL": 1, "LOW": 1},
    )

    # A failed scan says so and leaves the findings as they were.
    await scans.finish(repository_id, M1, later, status=FAILED, description="The scan failed: boom")
    assert len(await scans.findings(repository_id, M1)) == 2
    # Pages in key order.
    assert [f.key for f in await scans.findings(repository_id, M1, after="2", limit=5)] == ["3"]


async def test_a_manual_scan_is_allowed_once_a_day(database: Database) -> None:
    store, repository_id = await metadata_with(database)
    await store.put_manifest(repository_id, manifest(M1), ["v1"], NOW)
    scans = SqlScanStore(database)

    def job(key: str) -> NewJob:
        return NewJob(SCAN, {"digest": M1}, idempotency_key=key)

    since = NOW - timedelta(days=1)
    assert await scans.request(repository_id, M1, NOW, job("a"), manual_since=since)
    later = NOW + timedelta(hours=23)
    assert not await scans.request(repository_id, M1, later, job("b"), manual_since=later - timedelta(days=1))
    tomorrow = NOW + timedelta(hours=25)
    assert await scans.request(
        repository_id, M1, tomorrow, job("c"), manual_since=tomorrow - timedelta(days=1)
    )
    assert sorted(str(j.idempotency_key) for j in await scan_jobs(database)) == ["a", "c"]


async def test_layer_inventories_are_kept_per_analyser_version_and_deleting_an_image_drops_its_scan(
    database: Database,
) -> None:
    store, repository_id = await metadata_with(database)
    await store.put_manifest(repository_id, manifest(M2), ["v1"], NOW)
    scans = SqlScanStore(database)
    await scans.put_layer_inventories([(LAYER, "1", '{"a": 1}'), (LAYER, "2", '{"b": 2}')], NOW)
    await scans.put_layer_inventories([(LAYER, "1", '{"changed": true}')], NOW)
    assert scans.layer_inventory(LAYER, "1") == '{"a": 1}'
    assert scans.layer_inventory(LAYER, "3") is None
    assert await scans.count_layer_inventories(LAYER) == 2

    await scans.start(repository_id, M2, NOW)
    await scans.finish(repository_id, M2, NOW, status=COMPLETE, description="ok", findings=[finding("1")])
    # Deleting the image (the manifest row) takes its scan and findings with it.
    assert await store.delete_manifest(repository_id, M2)
    assert await scans.scans(repository_id, [M2]) == {}
    assert await scans.findings(repository_id, M2) == []
