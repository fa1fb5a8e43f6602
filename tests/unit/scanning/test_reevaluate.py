"""Re-evaluation in process, on a real SQLite store and the real scan job: which images
it covers, that it reads no blob (the blobs are gone from the store when it runs),
eligibility expiring on a stepped clock, and the refusing reader itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from strongroom.clock import RandomIdFactory
from strongroom.events.outbox import ImagePushOutbox
from strongroom.metadata.continuous_scans import SqlContinuousScanStore
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from strongroom.metadata.events import SqlEventStore
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.records import NewManifest
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.scans import COMPLETE, PENDING, SCAN_ELIGIBILITY_EXPIRED, SqlScanStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.metadata.vulndb import SqlVulnStore
from strongroom.oci.digest import Digest
from strongroom.scanning import vulndb
from strongroom.scanning.engine import InProcessAnalyser
from strongroom.scanning.on_push import SCAN, ImageScanner, scan_on_push
from strongroom.scanning.reevaluate import BlobReadRefused, Reevaluator, RefusingBlobs
from strongroom.storage.memory import MemoryBlobStore
from support import layers as img
from support import osv
from support.clocks import SteppedClock
from support.images import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from support.scans import APP, BASE, NEW_ADVISORY, new_advisory

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
START = datetime(2026, 12, 1, tzinfo=UTC)


def rules(scan_type: str, frequency: str, pattern: str) -> str:
    filters = [{"filter": pattern, "filterType": "WILDCARD"}]
    return json.dumps(
        {"scanType": scan_type, "rules": [{"scanFrequency": frequency, "repositoryFilters": filters}]}
    )


@dataclass
class Registry:
    database: Database
    metadata: SqlMetadataStore
    blobs: MemoryBlobStore
    clock: SteppedClock
    scans: SqlScanStore
    jobs: SqlJobStore
    scanner: ImageScanner
    tmp: Path

    def reevaluator(self, duration: str = "LIFETIME") -> Reevaluator:
        return Reevaluator(
            SqlContinuousScanStore(self.database),
            self.scans,
            self.metadata,
            self.scanner,
            self.clock,
            duration,
        )

    async def push(self, name: str, layers: list[bytes], tag: str = "v1") -> tuple[int, str]:
        repository = await self.metadata.ensure_repository(ACCOUNT, name, self.clock.now())
        config = await self.blob(b'{"os": "linux"}')
        descriptors = [{"mediaType": img.media_type("gzip"), **await self.blob(data)} for data in layers]
        content = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": OCI_CONFIG, **config},
             "layers": descriptors}
        ).encode()  # fmt: skip
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        manifest = NewManifest(digest, OCI_MANIFEST, content, None, None, None, (), ())
        await self.metadata.put_manifest(repository.id, manifest, [tag], self.clock.now())
        return repository.id, digest

    async def blob(self, data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        upload = digest[7:39]

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        await self.blobs.append(upload, chunks(), None)
        await self.blobs.commit_upload(upload, Digest.parse(digest))
        return {"digest": digest, "size": len(data)}

    async def import_records(self, *documents: dict[str, object]) -> None:
        path = self.tmp / f"import-{self.clock.now().timestamp()}.json"
        path.write_text(json.dumps(list(documents)))
        self.clock.advance(timedelta(seconds=1))
        await vulndb.import_paths(SqlVulnStore(self.database), [path], self.clock.now())


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    engine = create_engine(f"sqlite:///{tmp_path / 'strongroom.db'}")
    migrate(engine)
    database = Database(engine)
    ids = RandomIdFactory()
    metadata = SqlMetadataStore(database, ImagePushOutbox(ids, (), 8, scan=scan_on_push))
    clock = SteppedClock(START)
    scans, blobs = SqlScanStore(database), MemoryBlobStore()
    scanner = ImageScanner(
        metadata, scans, SqlVulnStore(database), blobs, InProcessAnalyser(), clock, ids, dispatch_kind=None
    )
    try:
        yield Registry(database, metadata, blobs, clock, scans, SqlJobStore(database), scanner, tmp_path)
    finally:
        database.close()


async def setup_images(registry: Registry) -> dict[str, tuple[int, str]]:
    await registry.metadata.create_default_account(ACCOUNT, START)
    await vulndb.import_paths(SqlVulnStore(registry.database), [osv.RECORDS_DIR], START)
    settings = SqlRepositoryStore(registry.database)
    # ENHANCED: continuous for team/*, on push only for push/*.
    document = json.loads(rules("ENHANCED", "CONTINUOUS_SCAN", "team/*"))
    document["rules"].append(json.loads(rules("ENHANCED", "SCAN_ON_PUSH", "push/*"))["rules"][0])
    await settings.put_account_setting(ACCOUNT, "scanning", json.dumps(document), START)
    pushed = {
        "team/app": await registry.push("team/app", [BASE, APP]),
        "team/base": await registry.push("team/base", [BASE]),
        "push/app": await registry.push("push/app", [BASE]),
    }
    for job in await registry.jobs.list_jobs(kind=SCAN):
        await registry.scanner(job)
    return pushed


async def open_names(registry: Registry, image: tuple[int, str]) -> set[str]:
    return {f.name for f in await registry.scans.findings(*image)}


async def test_a_new_advisory_reaches_covered_images_without_a_blob_and_a_withdrawn_one_closes(
    registry: Registry,
) -> None:
    pushed = await setup_images(registry)
    for image in pushed.values():
        assert (await registry.scans.scans(*[image[0]], [image[1]]))[image[1]].status == COMPLETE
        assert NEW_ADVISORY not in await open_names(registry, image)
    registry.blobs._blobs.clear()  # re-evaluation must not need a single layer

    await registry.import_records(new_advisory())
    tally = await registry.reevaluator().run()
    assert (tally.reevaluated, tally.changed, tally.rescanned, tally.expired) == (2, 2, 0, 0)
    assert NEW_ADVISORY in await open_names(registry, pushed["team/app"])
    assert NEW_ADVISORY in await open_names(registry, pushed["team/base"])
    assert NEW_ADVISORY not in await open_names(registry, pushed["push/app"])  # SCAN_ON_PUSH only
    # The model-file finding of team/app's layer stays open.
    assert "pickle-code-execution" in await open_names(registry, pushed["team/app"])
    events = await SqlEventStore(registry.database).find(type="scan.finding.new")
    newest = [e for e in events if e.data["findings"][0]["name"] == NEW_ADVISORY]
    assert sorted(e.subject or "" for e in newest) == ["team/app", "team/base"]
    [complete] = [
        e for e in await SqlEventStore(registry.database).find(type="scan.complete")
        if e.subject == "team/app" and e.data["layers-analysed"] == 0
    ]  # fmt: skip
    assert complete.data["layers-from-cache"] == 2  # its scan analysed both; re-evaluation none

    await registry.import_records(new_advisory(withdrawn=True))
    tally = await registry.reevaluator().run()
    assert (tally.reevaluated, tally.changed) == (2, 2)
    assert NEW_ADVISORY not in await open_names(registry, pushed["team/app"])
    closed = await SqlEventStore(registry.database).find(type="scan.finding.closed")
    assert sorted(e.subject or "" for e in closed) == ["team/app", "team/base"]
    assert {e.data["findings"][0]["name"] for e in closed} == {NEW_ADVISORY}

    # Nothing changed: evaluated again, nothing announced but scan.complete.
    again = await registry.reevaluator().run()
    assert (again.reevaluated, again.changed) == (2, 0)


async def test_a_basic_registry_is_not_re_evaluated(registry: Registry) -> None:
    await registry.metadata.create_default_account(ACCOUNT, START)
    await SqlRepositoryStore(registry.database).put_account_setting(
        ACCOUNT, "scanning", rules("BASIC", "CONTINUOUS_SCAN", "*"), START
    )
    image = await registry.push("team/app", [BASE])
    for job in await registry.jobs.list_jobs(kind=SCAN):
        await registry.scanner(job)
    await registry.import_records(new_advisory())
    tally = await registry.reevaluator().run()
    assert (tally.reevaluated, tally.expired) == (0, 0)
    assert NEW_ADVISORY not in await open_names(registry, image)


async def test_an_image_without_a_stored_inventory_is_queued_for_a_full_scan(registry: Registry) -> None:
    pushed = await setup_images(registry)
    with registry.database.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM layer_inventories")  # as after an analyser version bump
    await registry.import_records(new_advisory())
    tally = await registry.reevaluator().run(state="s1")
    assert (tally.reevaluated, tally.rescanned) == (0, 2)
    queued = [
        j
        for j in await registry.jobs.list_jobs(kind=SCAN, state="queued")
        if j.payload["reason"] == "reevaluate"
    ]
    assert sorted(j.payload["repository"] for j in queued) == ["team/app", "team/base"]
    status = (await registry.scans.scans(pushed["team/base"][0], [pushed["team/base"][1]]))[
        pushed["team/base"][1]
    ]
    assert status.status == PENDING
    for job in queued:  # the full scan reads the layers again and finds the new advisory
        await registry.scanner(job)
    assert NEW_ADVISORY in await open_names(registry, pushed["team/base"])


async def test_eligibility_expires_after_the_rescan_duration_unless_pulled(registry: Registry) -> None:
    pushed = await setup_images(registry)
    registry.clock.advance(timedelta(days=10))
    app_repository, app = pushed["team/app"]
    await registry.metadata.record_pull(
        ACCOUNT, "team/app", app, registry.clock.now(), unless_since=registry.clock.now()
    )
    registry.clock.advance(timedelta(days=5))  # 15 days after the push, 5 after team/app's pull
    tally = await registry.reevaluator("DAYS_14").run(expire_only=True)
    assert (tally.expired, tally.reevaluated) == (1, 0)
    base_repository, base = pushed["team/base"]
    expired = (await registry.scans.scans(base_repository, [base]))[base]
    assert expired.status == SCAN_ELIGIBILITY_EXPIRED
    assert "DAYS_14" in (expired.description or "")
    assert expired.severity_counts  # its findings stay as last evaluated
    assert (await registry.scans.scans(app_repository, [app]))[app].status == COMPLETE

    await registry.import_records(new_advisory())
    tally = await registry.reevaluator("DAYS_14").run()
    assert (tally.reevaluated, tally.expired) == (1, 0)  # team/app only; team/base is no longer
    assert NEW_ADVISORY not in await open_names(registry, pushed["team/base"])
    assert (await registry.reevaluator("LIFETIME").run(expire_only=True)).expired == 0


def test_the_refusing_reader_serves_manifests_and_refuses_everything_else() -> None:
    manifest = b'{"schemaVersion": 2}'
    refusing = RefusingBlobs({"sha256:m": manifest})
    with refusing.open("sha256:m") as opened:
        assert opened.read() == manifest
    with pytest.raises(BlobReadRefused, match="sha256:l"):
        refusing.open("sha256:l")
    with pytest.raises(BlobReadRefused):
        refusing.layer(opened)
    assert refusing.refused == ["sha256:l", "a layer"]


async def test_an_index_is_re_evaluated_per_platform_from_its_children_in_the_store(
    registry: Registry,
) -> None:
    await registry.metadata.create_default_account(ACCOUNT, START)
    await vulndb.import_paths(SqlVulnStore(registry.database), [osv.RECORDS_DIR], START)
    await SqlRepositoryStore(registry.database).put_account_setting(
        ACCOUNT, "scanning", rules("ENHANCED", "CONTINUOUS_SCAN", "*"), START
    )
    repository_id, child = await registry.push("multi/app", [BASE], tag="amd64")
    stored = await registry.metadata.lookup_manifest(ACCOUNT, "multi/app", digest=child)
    assert stored.manifest is not None
    descriptor = {"mediaType": OCI_MANIFEST, "digest": child, "size": len(stored.manifest.content)}
    platforms = [{**descriptor, "platform": {"os": "linux", "architecture": a}} for a in ("amd64", "arm64")]
    content = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": platforms}).encode()
    index = "sha256:" + hashlib.sha256(content).hexdigest()
    manifest = NewManifest(index, OCI_INDEX, content, None, None, None, (), (child,))
    await registry.metadata.put_manifest(repository_id, manifest, ["v1"], registry.clock.now())
    for job in await registry.jobs.list_jobs(kind=SCAN):
        await registry.scanner(job)
    registry.blobs._blobs.clear()

    await registry.import_records(new_advisory())
    tally = await registry.reevaluator().run()
    assert (tally.reevaluated, tally.rescanned) == (2, 0)  # the index and its child image
    found = await registry.scans.findings(repository_id, index)
    assert {f.document["platform"] for f in found if f.name == NEW_ADVISORY} == {"linux/amd64", "linux/arm64"}
