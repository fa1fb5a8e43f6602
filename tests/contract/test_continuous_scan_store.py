"""What continuous scanning reads and writes (the accounts' scanning configurations, the
images a re-evaluation covers, eligibility expiring, a re-evaluation yielding to a newer
scan) and the vulnerability database's state, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from contract.test_scan_store import ACCOUNT, NOW, finding, manifest, metadata_with
from strongroom.metadata.continuous_scans import SqlContinuousScanStore
from strongroom.metadata.database import Database
from strongroom.metadata.outbox import NewJob
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.scans import (
    COMPLETE,
    FAILED,
    PENDING,
    REGISTRY_SBOM,
    SCAN_ELIGIBILITY_EXPIRED,
    SqlScanStore,
)
from strongroom.metadata.vulndb import SqlVulnStore
from strongroom.scanning.vulndb import to_row
from support import osv

pytestmark = pytest.mark.anyio

DIGESTS = ["sha256:" + c * 64 for c in "123456"]


async def test_complete_images_are_listed_in_pages_with_their_tags_and_dates(database: Database) -> None:
    store, repository_id = await metadata_with(database)
    scans = SqlScanStore(database)
    for index, digest in enumerate(DIGESTS):
        await store.put_manifest(repository_id, manifest(digest), [f"t{index}", f"u{index}"], NOW)
        await scans.start(repository_id, digest, NOW)
        status = FAILED if index == 5 else COMPLETE
        await scans.finish(repository_id, digest, NOW, status=status, description="x")
    await store.put_manifest(repository_id, manifest("sha256:" + "f" * 64), ["unscanned"], NOW)
    pulled = NOW + timedelta(days=3)
    await store.record_pull(ACCOUNT, "team/app", DIGESTS[1], pulled, unless_since=pulled)

    continuous = SqlContinuousScanStore(database)
    first = await continuous.complete_images(repository_id, limit=3)
    rest = await continuous.complete_images(repository_id, after=first[-1].digest, limit=3)
    assert [i.digest for i in first + rest] == DIGESTS[:5]  # not FAILED, not unscanned
    assert first[0].tags == ("t0", "u0")
    assert (first[1].pushed_at, first[1].last_pulled_at) == (NOW, pulled)
    assert first[0].last_pulled_at is None
    assert await continuous.complete_images(repository_id, after=DIGESTS[4]) == []

    [repository] = await continuous.repositories(ACCOUNT)
    assert (repository.id, repository.name, repository.scan_on_push) == (repository_id, "team/app", False)
    assert await continuous.scanning_configurations() == {}
    rules = json.dumps({"scanType": "ENHANCED", "rules": []})
    await SqlRepositoryStore(database).put_account_setting(ACCOUNT, "scanning", rules, NOW)
    assert await continuous.scanning_configurations() == {ACCOUNT: rules}


async def test_the_registrys_own_sbom_is_recorded_as_scanned_and_never_re_evaluated(
    database: Database,
) -> None:
    store, repository_id = await metadata_with(database)
    sbom = dataclasses.replace(manifest(DIGESTS[0]), made_by_registry=True)
    assert await store.put_manifest(repository_id, sbom, [], NOW)
    await store.put_manifest(repository_id, manifest(DIGESTS[1]), [], NOW)  # a client's: no record

    scans = await SqlScanStore(database).scans(repository_id, DIGESTS[:2])
    assert list(scans) == [DIGESTS[0]]
    record = scans[DIGESTS[0]]
    assert (record.status, record.description, record.completed_at) == (COMPLETE, REGISTRY_SBOM, NOW)
    assert record.severity_counts == {}
    assert await SqlContinuousScanStore(database).complete_images(repository_id) == []


async def test_expiry_applies_only_to_a_complete_scan_and_keeps_its_findings(database: Database) -> None:
    store, repository_id = await metadata_with(database)
    scans, continuous = SqlScanStore(database), SqlContinuousScanStore(database)
    await store.put_manifest(repository_id, manifest(DIGESTS[0]), ["v1"], NOW)
    await scans.start(repository_id, DIGESTS[0], NOW)
    await scans.finish(
        repository_id, DIGESTS[0], NOW, status=COMPLETE, description="ok", findings=[finding("1")]
    )

    later = NOW + timedelta(days=20)
    assert await continuous.expire(repository_id, DIGESTS[0], later, "expired")
    scan = (await scans.scans(repository_id, [DIGESTS[0]]))[DIGESTS[0]]
    assert (scan.status, scan.description, scan.completed_at) == (SCAN_ELIGIBILITY_EXPIRED, "expired", NOW)
    assert scan.severity_counts == {"HIGH": 1}
    assert not await continuous.expire(repository_id, DIGESTS[0], later, "again")
    assert await continuous.complete_images(repository_id) == []


async def test_a_re_evaluation_yields_to_a_scan_queued_since(database: Database) -> None:
    store, repository_id = await metadata_with(database)
    scans = SqlScanStore(database)
    await store.put_manifest(repository_id, manifest(DIGESTS[0]), ["v1"], NOW)
    await scans.start(repository_id, DIGESTS[0], NOW)
    await scans.finish(
        repository_id, DIGESTS[0], NOW, status=COMPLETE, description="ok", findings=[finding("1")]
    )
    later = NOW + timedelta(hours=1)
    again = await scans.finish(
        repository_id, DIGESTS[0], later, status=COMPLETE, description="ok",
        findings=[finding("2")], only_if_status=COMPLETE,
    )  # fmt: skip
    assert again is not None and [f.key for f in again.new] == ["2"]
    # A re-evaluation that matched older data than the one stored since changes nothing.
    newer, older = NOW + timedelta(minutes=2), NOW + timedelta(minutes=1)
    await scans.finish(
        repository_id, DIGESTS[0], later, status=COMPLETE, description="ok",
        findings=[finding("2")], source_updated_at=newer, only_if_status=COMPLETE,
    )  # fmt: skip
    stale = await scans.finish(
        repository_id, DIGESTS[0], later, status=COMPLETE, description="ok",
        findings=[], source_updated_at=older, only_if_status=COMPLETE,
    )  # fmt: skip
    assert stale is None

    await scans.request(repository_id, DIGESTS[0], later, NewJob("scan.image", {}, idempotency_key="k"))
    skipped = await scans.finish(
        repository_id, DIGESTS[0], later, status=COMPLETE, description="ok",
        findings=[], only_if_status=COMPLETE,
    )  # fmt: skip
    assert skipped is None
    assert (await scans.scans(repository_id, [DIGESTS[0]]))[DIGESTS[0]].status == PENDING
    assert [f.key for f in await scans.findings(repository_id, DIGESTS[0])] == ["2"]


async def test_the_vulnerability_database_state_changes_with_every_change_and_only_then(
    database: Database,
) -> None:
    store = SqlVulnStore(database)
    empty = await store.state()
    assert (empty.records, empty.withdrawn, empty.last_imported) == (0, 0, None)
    documents = osv.records()
    rows = [to_row(d) for d in documents]
    await store.import_batch(rows, NOW)  # type: ignore[arg-type]
    first = await store.state()
    assert (first.records, first.withdrawn, first.last_imported) == (len(documents), 1, NOW)
    await store.import_batch(rows, NOW + timedelta(hours=1))  # type: ignore[arg-type]
    assert (await store.state()).key == first.key  # the same data: the same state

    lodash = next(d for d in documents if d["id"] == "GHSA-35jh-r3h4-6jhm")
    withdrawn = {**lodash, "modified": "2030-01-01T00:00:00Z", "withdrawn": "2030-01-01T00:00:00Z"}
    await store.import_batch([to_row(withdrawn)], NOW + timedelta(hours=2))  # type: ignore[list-item]
    second = await store.state()
    assert second.withdrawn == 2
    assert second.newest_modified == datetime(2030, 1, 1, tzinfo=UTC)
    assert second.key != first.key
