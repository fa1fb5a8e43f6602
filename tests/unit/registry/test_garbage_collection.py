"""Garbage collection (registry/gc.py) on SQLite and PostgreSQL with the memory blob
store, under a clock the test moves: what goes, what stays, dry runs, and each
interleaving of a push with the collector's moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import pytest
import sqlalchemy as sa

from strongroom.errors import ManifestBlobUnknown
from strongroom.metadata.database import Database
from strongroom.metadata.gc import SqlGcStore
from strongroom.metadata.records import NewManifest, Upload
from strongroom.metadata.schema import manifest_references, manifests, repositories, repository_blobs
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.digest import Digest
from strongroom.registry.gc import RECOVERY_AGE, GarbageCollector, GcReport
from strongroom.storage.base import AsideBlob
from strongroom.storage.memory import MemoryBlobStore
from support.clocks import SteppedClock

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(hours=1)
UPLOAD_ID = "0123456789abcdef0123456789abcdef"


@dataclass
class World:
    metadata: SqlMetadataStore
    blobs: MemoryBlobStore
    clock: SteppedClock
    gc: GarbageCollector
    uploads: int = 0

    async def repository(self, name: str) -> int:
        await self.metadata.create_default_account(ACCOUNT, self.clock.now())
        return (await self.metadata.ensure_repository(ACCOUNT, name, self.clock.now())).id

    async def upload(self, repository_id: int, data: bytes) -> Digest:
        """As an upload does: commit the bytes, then link them."""
        digest = Digest.of(data)
        self.uploads += 1
        upload_id = f"{self.uploads:032x}"
        await self.blobs.append(upload_id, _stream(data), None)
        await self.blobs.commit_upload(upload_id, digest)
        await self.metadata.link_blob(repository_id, str(digest), len(data), self.clock.now())
        return digest

    async def manifest(self, repository_id: int, name: str, *blobs: Digest) -> str:
        digest = "sha256:" + name.encode().hex().ljust(64, "0")[:64]
        await self.metadata.put_manifest(
            repository_id,
            NewManifest(digest, "application/vnd.oci.image.manifest.v1+json", name.encode(), None, None,
                        None, tuple(str(b) for b in blobs), ()),
            [name],
            self.clock.now(),
        )  # fmt: skip
        return digest


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
def world(database: Database) -> World:
    clock = SteppedClock(START)
    blobs = MemoryBlobStore(clock)
    return World(
        SqlMetadataStore(database), blobs, clock, GarbageCollector(SqlGcStore(database), blobs, clock, GRACE)
    )


async def test_what_goes_and_what_stays(world: World) -> None:
    app = await world.repository("team/app")
    other = await world.repository("team/other")
    used = await world.upload(app, b"used by a manifest")
    garbage = await world.upload(app, b"unreferenced garbage!")
    shared = await world.upload(app, b"shared")
    await world.upload(other, b"shared")
    await world.manifest(app, "v1", used)
    await world.manifest(other, "v1", Digest.of(b"shared"))
    world.clock.advance(GRACE + timedelta(seconds=1))
    young = await world.upload(app, b"young, manifest not pushed yet")

    report = await world.gc.collect()

    assert (report.links_removed, report.blobs_deleted) == (2, 1)  # garbage; shared's link in app
    assert report.bytes_freed == len(b"unreferenced garbage!")
    assert await world.blobs.stat(garbage) is None
    for kept in (used, shared, young):
        assert await world.blobs.stat(kept) is not None
    assert await world.metadata.linked_blob_size(ACCOUNT, "team/app", str(young)) is not None
    assert await world.metadata.linked_blob_size(ACCOUNT, "team/app", str(shared)) is None
    assert await world.metadata.linked_blob_size(ACCOUNT, "team/other", str(shared)) is not None


async def test_a_dry_run_reports_what_a_run_then_does(world: World) -> None:
    app = await world.repository("team/app")
    for i in range(3):
        await world.upload(app, f"garbage {i}".encode())
    world.clock.advance(GRACE * 2)

    dry = await world.gc.collect(dry_run=True)
    assert (dry.dry_run, dry.links_removed, dry.blobs_deleted, dry.bytes_freed) == (True, 3, 3, 27)
    assert len([blob async for blob in world.blobs.list_blobs()]) == 3
    assert await world.metadata.linked_blob_size(ACCOUNT, "team/app", str(Digest.of(b"garbage 0"))) == 9

    real = await world.gc.collect()
    assert (real.links_removed, real.blobs_deleted, real.bytes_freed) == (3, 3, 27)
    assert [blob async for blob in world.blobs.list_blobs()] == []


async def test_an_open_upload_protects_its_repository_links(world: World) -> None:
    app = await world.repository("team/app")
    blob = await world.upload(app, b"checked with HEAD by a push under way")
    await world.metadata.create_upload(Upload(UPLOAD_ID, app, "sha256", world.clock.now(), world.clock.now()))
    world.clock.advance(GRACE * 2)
    assert (await world.gc.collect()).links_removed == 0
    await world.metadata.delete_upload(UPLOAD_ID)
    assert (await world.gc.collect()).links_removed == 1
    assert await world.blobs.stat(blob) is None


async def test_linking_again_refreshes_the_link(world: World) -> None:
    app = await world.repository("team/app")
    blob = await world.upload(app, b"pushed again before its manifest")
    world.clock.advance(GRACE * 2)
    await world.upload(app, b"pushed again before its manifest")  # the same blob, uploaded again
    assert (await world.gc.collect()).links_removed == 0
    await world.manifest(app, "v1", blob)  # the push completes


async def test_a_manifest_after_unlinking_is_refused_not_stored_broken(world: World) -> None:
    app = await world.repository("team/app")
    blob = await world.upload(app, b"unlinked before its manifest came")
    world.clock.advance(GRACE * 2)
    await world.gc.collect()
    with pytest.raises(ManifestBlobUnknown):
        await world.manifest(app, "v1", blob)


async def test_grace_zero_still_spares_files_written_this_second(world: World) -> None:
    app = await world.repository("team/app")
    blob = await world.upload(app, b"just committed")
    await world.metadata.unlink_blob(app, str(blob))
    assert (await world.gc.collect(grace=timedelta(0))).blobs_deleted == 0
    world.clock.advance(timedelta(seconds=2))
    assert (await world.gc.collect(grace=timedelta(0))).blobs_deleted == 1


class RacingStore(MemoryBlobStore):
    """A memory store that lets a push run just before or just after the collector
    moves a blob aside."""

    def __init__(self, clock: SteppedClock) -> None:
        super().__init__(clock)
        self.before_move: list[object] = []
        self.after_move: list[object] = []

    async def set_aside(self, digest: Digest, now: datetime) -> AsideBlob | None:
        for push in self.before_move:
            await push()  # type: ignore[operator]
        aside = await super().set_aside(digest, now)
        for push in self.after_move:
            await push()  # type: ignore[operator]
        return aside


@pytest.fixture
def racing(database: Database) -> World:
    clock = SteppedClock(START)
    blobs = RacingStore(clock)
    return World(
        SqlMetadataStore(database), blobs, clock, GarbageCollector(SqlGcStore(database), blobs, clock, GRACE)
    )


@pytest.mark.parametrize("when", ["before_move", "after_move"])
async def test_a_deduplicated_upload_racing_the_collector_keeps_its_blob(racing: World, when: str) -> None:
    source = await racing.repository("team/source")
    target = await racing.repository("team/target")
    data = b"garbage in source, pushed again to target"
    digest = await racing.upload(source, data)
    await racing.metadata.unlink_blob(source, str(digest))
    racing.clock.advance(GRACE * 2)
    blobs = racing.blobs
    assert isinstance(blobs, RacingStore)

    async def push() -> None:
        racing.clock.advance(timedelta(milliseconds=5))
        await racing.upload(target, data)  # touches the stored copy, or publishes its own

    getattr(blobs, when).append(push)
    report = await racing.gc.collect()

    assert report.blobs_deleted == 0
    assert report.blobs_kept == 1  # before: the time changed; after: the link exists
    assert await blobs.stat(digest) == len(data)
    assert b"".join([c async for c in blobs.read(digest)]) == data
    assert await blobs.list_set_aside() == []
    await racing.manifest(target, "v1", digest)


async def test_a_mount_racing_the_collector_either_links_a_kept_blob_or_fails(racing: World) -> None:
    source = await racing.repository("team/source")
    target = await racing.repository("team/target")
    digest = await racing.upload(source, b"mounted")
    await racing.metadata.unlink_blob(source, str(digest))
    racing.clock.advance(GRACE * 2)
    blobs = racing.blobs
    assert isinstance(blobs, RacingStore)
    outcomes: list[bool] = []

    async def mount() -> None:
        touched = await blobs.touch(digest)  # touch, then link: as Uploads.mount does
        if touched:
            await racing.metadata.link_blob(target, str(digest), 7, racing.clock.now())
        outcomes.append(touched)

    blobs.after_move.append(mount)
    report = await racing.gc.collect()
    assert outcomes == [False]  # the file was aside: the mount fails, the client uploads
    assert report.blobs_deleted == 1
    assert await blobs.stat(digest) is None


async def test_leftovers_of_a_crashed_collector_are_recovered(world: World) -> None:
    app = await world.repository("team/app")
    linked = await world.upload(app, b"linked, left aside")
    unlinked = await world.upload(app, b"unlinked, left aside")
    recent = await world.upload(app, b"recently aside")
    await world.manifest(app, "v1", linked)
    await world.metadata.unlink_blob(app, str(unlinked))
    await world.metadata.unlink_blob(app, str(recent))
    await world.blobs.set_aside(linked, world.clock.now())
    await world.blobs.set_aside(unlinked, world.clock.now())
    world.clock.advance(RECOVERY_AGE + timedelta(minutes=1))
    await world.blobs.set_aside(recent, world.clock.now())  # a running collector's

    report = await world.gc.collect()
    assert report.recovered == 2
    assert await world.blobs.stat(linked) is not None
    assert await world.blobs.stat(unlinked) is None
    assert [aside.digest for aside in await world.blobs.list_set_aside()] == [recent]


ONLY_POSTGRESQL = [pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("database_url", ONLY_POSTGRESQL, indirect=True)
async def test_unlinking_waits_for_a_manifest_push_that_checked_its_blobs(
    world: World, database: Database
) -> None:
    """PostgreSQL runs transactions side by side: the collector must not unlink a blob a
    push has found and is about to reference (SQLite has one writer, so is safe as is)."""
    assert database.dialect == "postgresql"
    app = await world.repository("team/app")
    blob = await world.upload(app, b"checked by a push in progress")
    world.clock.advance(GRACE * 2)
    manifest = "sha256:" + "c" * 64
    with database.engine.connect() as push:
        transaction = push.begin()
        # What put_manifest does first, then it checks the blob is linked...
        push.execute(
            sa.select(repositories.c.id)
            .where(repositories.c.id == app)
            .with_for_update(read=True, key_share=True)
        )
        assert push.scalar(sa.select(sa.func.count()).select_from(repository_blobs)) == 1
        reports: list[GcReport] = []
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lambda: _collect_into(world.gc, reports))
            await anyio.sleep(0.5)
            assert reports == []  # the collector waits for the push
            push.execute(
                manifests.insert().values(
                    repository_id=app, digest=manifest, media_type="application/json", size=2,
                    content=b"{}", created_at=world.clock.now(),
                )
            )  # fmt: skip
            push.execute(
                manifest_references.insert().values(
                    repository_id=app, manifest_digest=manifest, child_digest=str(blob), kind="blob"
                )
            )
            transaction.commit()
    assert reports[0].links_removed == 0
    assert await world.metadata.linked_blob_size(ACCOUNT, "team/app", str(blob)) is not None


async def _collect_into(gc: GarbageCollector, reports: list[GcReport]) -> None:
    reports.append(await gc.collect())
