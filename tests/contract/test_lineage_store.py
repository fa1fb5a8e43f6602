"""The lineage stores on SQLite and PostgreSQL, driven by the real ``lineage.detect`` handler:
a push queues detection in its own transaction (an image, a moved tag; not an artifact or a
referrer), a parent is found by one lookup of prefix hashes (and a base recorded after its
dependents claims them), layers are compared by the diff ids of the image's config (a base
recompressed otherwise is still the parent; an unreadable config falls back to compressed
digests and says so), a moved tag finds the tagged images left behind and announces
them per repository, rows go with their manifests, and patch policies are kept per scope."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from strongroom.clock import RandomIdFactory
from strongroom.events.outbox import ImagePushOutbox
from strongroom.hierarchy.detection import DETECT, IMAGE_CONFIGS, LineageDetector, lineage_on_push
from strongroom.lineage.compliance import PREFIX, REPOSITORY, PatchPolicy
from strongroom.lineage.roles import ROLE_TAG
from strongroom.metadata.database import Database
from strongroom.metadata.events import SqlEventStore
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.lineage import SqlLineageStore
from strongroom.metadata.lineage_policies import SqlLineagePolicyStore
from strongroom.metadata.lineage_reads import ImageRecord
from strongroom.metadata.records import NewManifest
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.schema import lineage_prefixes
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.digest import Digest
from strongroom.oci.mediatypes import OCI_MANIFEST
from strongroom.storage.memory import MemoryBlobStore

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
L = ["sha256:" + hashlib.sha256(str(n).encode()).hexdigest() for n in range(8)]
OCI_CONFIG = sorted(IMAGE_CONFIGS)[1]


class Clock:
    def now(self) -> datetime:
        return NOW


def image(
    layers: list[str], annotations: dict[str, str] | None = None, config: dict[str, object] | None = None
) -> NewManifest:
    document = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": config or {"mediaType": OCI_CONFIG, "digest": L[7], "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": 1}
                   for d in layers],
        **({"annotations": annotations} if annotations else {}),
    }  # fmt: skip
    body = json.dumps(document).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    notes = json.dumps(annotations) if annotations else None
    return NewManifest(digest, OCI_MANIFEST, body, None, OCI_CONFIG, notes, (), ())


async def setup(
    database: Database, blobs: MemoryBlobStore | None = None
) -> tuple[SqlMetadataStore, SqlLineageStore, LineageDetector]:
    store = SqlMetadataStore(database, ImagePushOutbox(RandomIdFactory(), (), 8, lineage=lineage_on_push))
    await store.create_default_account(ACCOUNT, NOW)
    lineage = SqlLineageStore(database)
    detector = LineageDetector(
        lineage, blobs or MemoryBlobStore(), Clock(), RandomIdFactory(), dispatch_kind=None
    )
    return store, lineage, detector


async def built(blobs: MemoryBlobStore, tars: list[bytes], level: int) -> NewManifest:
    """An image of the layer ``tars`` gzipped at ``level``, its config (with their diff ids)
    stored as a blob: the same tars at another level share diff ids, not digests."""
    diff_ids = ["sha256:" + hashlib.sha256(tar).hexdigest() for tar in tars]
    layers = ["sha256:" + hashlib.sha256(gzip.compress(tar, compresslevel=level, mtime=0)).hexdigest()
              for tar in tars]  # fmt: skip
    rootfs = {"type": "layers", "diff_ids": diff_ids}
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": rootfs}).encode()
    return image(layers, config=await stored(blobs, config))


async def stored(blobs: MemoryBlobStore, data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload = hashlib.sha256(data).hexdigest()[:32]

    async def chunks():  # type: ignore[no-untyped-def]
        yield data

    await blobs.append(upload, chunks(), None)
    await blobs.commit_upload(upload, Digest.parse(digest))
    return {"mediaType": OCI_CONFIG, "digest": digest, "size": len(data)}


async def push(
    store: SqlMetadataStore, lineage: SqlLineageStore, name: str, manifest: NewManifest, tag: str | None
) -> ImageRecord:
    repository = await store.ensure_repository(ACCOUNT, name, NOW)
    await store.put_manifest(repository.id, manifest, [tag] if tag else [], NOW)
    found = await lineage.image(ACCOUNT, name, manifest.digest)
    assert found is not None
    return found


async def test_a_push_queues_detection_for_images_and_moved_tags_only(database: Database) -> None:
    store, lineage, _ = await setup(database)
    base = image(L[:1])
    await push(store, lineage, "base/os", base, "12")
    await push(store, lineage, "base/os", base, "latest")  # a tag moved to it: queued again
    repository = await store.ensure_repository(ACCOUNT, "ml/model", NOW)
    model_config = "application/vnd.cncf.model.config.v1+json"
    model = NewManifest("sha256:" + "d" * 64, OCI_MANIFEST, b"{}", None, model_config, None, (), ())
    await store.put_manifest(repository.id, model, ["1"], NOW)
    jobs = [job for job in await SqlJobStore(database).list_jobs() if job.kind == DETECT]
    assert sorted((j.payload["repository"], j.payload["tag"], j.payload["created"]) for j in jobs) == [
        ("base/os", "12", True), ("base/os", "latest", False),
    ]  # fmt: skip


async def test_the_job_keeps_the_tag_an_image_was_pushed_with_once(database: Database) -> None:
    """Pushed with a tag: detection records it (the job writes no second time for it);
    pushed by digest and tagged later: the tag's job keeps it; a later tag changes nothing."""
    store, lineage, detector = await setup(database)
    queue = SqlJobStore(database)
    tagged = await push(store, lineage, "base/os", image(L[:1]), "12")
    by_digest = await push(store, lineage, "base/os", image(L[:2]), None)

    async def run_queued() -> None:
        for job in await queue.claim("t", [DETECT], 100, NOW + timedelta(minutes=1), NOW):
            await detector(job)
            assert await queue.succeed(job.id, "t", NOW)

    await run_queued()
    await store.put_manifest(by_digest.repository_id, image(L[:2]), ["13"], NOW)
    await store.put_manifest(tagged.repository_id, image(L[:1]), ["stable"], NOW)
    await run_queued()
    rows = [await lineage.row(i.repository_id, i.digest) for i in (tagged, by_digest)]
    assert [row.pushed_tag if row else None for row in rows] == ["12", "13"]


async def test_the_longest_prefix_is_the_parent_and_a_late_base_claims_its_dependents(
    database: Database,
) -> None:
    store, lineage, detector = await setup(database)
    public = await push(store, lineage, "public/debian", image(L[:1]), "12")
    app = await push(store, lineage, "apps/web", image(L[:4]), "1")
    base = await push(store, lineage, "base/python", image(L[:2]), "3.11")
    await SqlRepositoryStore(database).tag_repository(base.repository_id, {ROLE_TAG: "base"})
    mirror = await push(store, lineage, "mirror/python", image(L[:2]), None)
    for pushed in (public, app, mirror):
        await detector.detect(pushed)
    row = await lineage.row(app.repository_id, app.digest)
    assert row is not None and (row.parent_name, row.parent_layers) == ("mirror/python", 2)
    await detector.detect(base)  # recorded last, yet claimed: same depth, and the role base wins
    row = await lineage.row(app.repository_id, app.digest)
    assert row is not None
    assert (row.parent_name, row.parent_tag, row.method) == ("base/python", "3.11", "layers")
    candidates = await lineage.candidates([h for h in _hashes(L[:4])])
    assert {(c.repository, c.role, c.tagged) for c in candidates} == {
        ("public/debian", None, True), ("base/python", "base", True), ("mirror/python", None, False),
        ("apps/web", None, True),
    }  # fmt: skip


async def test_layers_are_compared_by_diff_id_so_a_recompressed_base_is_still_the_parent(
    database: Database,
) -> None:
    blobs = MemoryBlobStore()
    store, lineage, detector = await setup(database, blobs)
    tars = [f"layer {n} ".encode() * 400 for n in range(3)]
    base_image, app_image = await built(blobs, tars[:2], 1), await built(blobs, tars, 9)
    base_layers = json.loads(base_image.content)["layers"]
    assert {d["digest"] for d in base_layers}.isdisjoint(
        d["digest"] for d in json.loads(app_image.content)["layers"]
    )
    base = await push(store, lineage, "base/python", base_image, "3.11")
    app = await push(store, lineage, "apps/web", app_image, "1")
    await detector.detect(base)
    await detector.detect(app)
    row = await lineage.row(app.repository_id, app.digest)
    assert row is not None
    assert (row.parent_name, row.parent_digest, row.parent_layers, row.layers_by) == (
        "base/python", base.digest, 2, "diff_ids",
    )  # fmt: skip
    # recorded the other way round, the base claims the application (by its diff-id chain)
    again = await push(store, lineage, "base/other", await built(blobs, tars[:2], 6), "1")
    await SqlRepositoryStore(database).tag_repository(again.repository_id, {ROLE_TAG: "base"})
    await detector.detect(again)
    row = await lineage.row(app.repository_id, app.digest)
    assert row is not None and row.parent_name == "base/other"


async def test_an_unreadable_config_falls_back_to_compressed_digests_and_says_so(database: Database) -> None:
    blobs = MemoryBlobStore()
    store, lineage, detector = await setup(database, blobs)
    base = await push(store, lineage, "base/os", await built(blobs, [b"os " * 300], 1), "12")
    await detector.detect(base)
    os_layer = json.loads((await lineage.image(ACCOUNT, "base/os", base.digest)).content)["layers"][0]  # type: ignore[union-attr]
    for name, config in (
        ("apps/broken", await stored(blobs, b'{"rootfs": {"diff_ids": "not a list"}}')),
        ("apps/missing", {"mediaType": OCI_CONFIG, "digest": L[6], "size": 10}),
        ("apps/huge", {"mediaType": OCI_CONFIG, "digest": L[6], "size": 1 << 40}),
    ):
        pushed = await push(store, lineage, name, image([os_layer["digest"], L[5]], config=config), "1")
        await detector.detect(pushed)
        row = await lineage.row(pushed.repository_id, pushed.digest)
        assert row is not None and row.layers_by == "digests", name
        # a base recorded by diff ids is still found by its compressed digests' chain
        assert (row.parent_name, row.parent_layers) == ("base/os", 1), name


def _hashes(layers: list[str]) -> list[str]:
    from strongroom.lineage.chains import prefix_hashes

    return prefix_hashes(layers)


async def test_annotations_name_the_parent_and_an_outside_base_is_kept_by_name(database: Database) -> None:
    store, lineage, detector = await setup(database)
    framework = await push(store, lineage, "framework/tf", image(L[:2]), "2.15")
    await detector.detect(framework)
    named = image(L[:3], {"org.opencontainers.image.base.name": "registry.example/framework/tf:2.15"})
    outside = image(L[4:6], {"org.opencontainers.image.base.name": "docker.io/library/debian:12"})
    for name, manifest in (("apps/api", named), ("apps/other", outside)):
        await detector.detect(await push(store, lineage, name, manifest, "1"))
    api = await lineage.row(framework.repository_id + 1, named.digest)
    assert api is not None and (api.parent_name, api.parent_digest, api.parent_tag, api.method) == (
        "framework/tf", framework.digest, "2.15", "annotation",
    )  # fmt: skip
    other = await lineage.row(framework.repository_id + 2, outside.digest)
    assert other is not None
    assert (other.parent_repository_id, other.parent_name) == (None, "docker.io/library/debian:12")


async def test_a_moved_tag_announces_the_images_left_behind_per_repository(database: Database) -> None:
    store, lineage, detector = await setup(database)
    base = await push(store, lineage, "base/os", image(L[:1]), "12")
    await detector.detect(base)
    for name in ("apps/a", "apps/b"):
        await detector.detect(await push(store, lineage, name, image([L[0], L[1]]), "1"))
    untagged = await push(store, lineage, "apps/c", image([L[0], L[2]]), None)
    await detector.detect(untagged)
    moved = await push(store, lineage, "base/os", image(L[3:4]), "12")
    assert await detector.announce_moved(moved, "12") == 2
    found = await SqlEventStore(database).find(type="lineage.base-updated")
    assert sorted((e.account_id, e.subject) for e in found) == [(ACCOUNT, "apps/a"), (ACCOUNT, "apps/b")]
    assert all(e.data["previous-base-digests"] == [base.digest] and e.data["base-digest"] == moved.digest
               for e in found)  # fmt: skip
    assert await detector.announce_moved(moved, "latest") == 0  # no such tag
    assert await detector.announce_moved(moved, "12") == 0  # told already: a retried job repeats nothing


async def test_a_base_tag_moved_before_its_dependents_were_recorded_still_announces_them(
    database: Database,
) -> None:
    """The race: the base's tag moved before the dependents' detection jobs ran, so the
    moved tag's job found nobody to tell; each dependent's detection notices instead."""
    store, lineage, detector = await setup(database)
    base = await push(store, lineage, "base/os", image(L[:1]), "12")
    by_layers = await push(store, lineage, "apps/a", image([L[0], L[1]]), "1")
    named = {"org.opencontainers.image.base.name": "base/os:12"}
    annotated = await push(store, lineage, "apps/b", image([L[0], L[2]], named), "1")
    untagged = await push(store, lineage, "apps/c", image([L[0], L[3]]), None)
    moved = await push(store, lineage, "base/os", image(L[4:5]), "12")  # before any job ran
    await detector.detect(base, "12")
    await detector.detect(moved, "12")
    assert await detector.announce_moved(moved, "12") == 0  # no dependent recorded yet
    for dependent in (by_layers, annotated, untagged):
        await detector.detect(dependent)
    found = await SqlEventStore(database).find(type="lineage.base-updated")
    assert sorted(e.subject for e in found) == ["apps/a", "apps/b"]
    assert all((e.data["previous-base-digests"], e.data["base-digest"], e.data["base-tag"])
               == ([base.digest], moved.digest, "12") for e in found)  # fmt: skip
    row = await lineage.row(by_layers.repository_id, by_layers.digest)
    assert row is not None and (row.parent_digest, row.parent_tag) == (base.digest, "12")
    # The tag-moved job, run again now (or late), does not tell them twice; nor does a
    # detection run again.
    assert await detector.announce_moved(moved, "12") == 0
    await detector.detect(by_layers)
    assert len(await SqlEventStore(database).find(type="lineage.base-updated")) == 2


async def test_a_base_pushed_by_digest_and_tagged_later_keeps_that_tag_for_late_dependents(
    database: Database,
) -> None:
    store, lineage, detector = await setup(database)
    base = await push(store, lineage, "base/os", image(L[:1]), None)
    await detector.detect(base)
    await store.put_manifest(base.repository_id, image(L[:1]), ["12"], NOW)  # tagged afterwards
    await detector.announce_moved(base, "12")
    app = await push(store, lineage, "apps/a", image([L[0], L[1]]), "1")
    await push(store, lineage, "base/os", image(L[2:3]), "12")  # moved before the app's detection
    await detector.detect(app)
    row = await lineage.row(app.repository_id, app.digest)
    assert row is not None and (row.parent_digest, row.parent_tag) == (base.digest, "12")
    (event,) = await SqlEventStore(database).find(type="lineage.base-updated")
    assert (event.subject, event.data["previous-base-digests"]) == ("apps/a", [base.digest])


async def test_a_late_base_steps_over_no_image_with_its_very_layers(database: Database) -> None:
    """Fifty rebuilds with the base's layers (same layers, another config) are its siblings,
    not its dependents: the base's lookup of its descendants must not walk them (it did:
    every prefix, the whole list too, was stored, so each detection grew with them). A
    dependent recorded the old way (its whole list among its prefixes) is still claimed."""
    store, lineage, detector = await setup(database)
    app = await push(store, lineage, "apps/web", image(L[:3]), "1")
    await detector.detect(app)
    old_layers = [*L[:2], L[5], L[6]]
    legacy = await push(store, lineage, "apps/old", image(old_layers), "1")
    await detector.detect(legacy)
    await lineage_prefix_as_before(database, legacy, old_layers)
    for n in range(50):
        sibling = image(L[:2], config={"mediaType": OCI_CONFIG, "digest": L[7], "size": 100 + n})
        await detector.detect(await push(store, lineage, "mirror/python", sibling, None))
    stored = await prefix_rows(database)
    assert stored[(app.repository_id, app.digest)] == [1, 2]  # proper prefixes only
    base = await push(store, lineage, "base/python", image(L[:2]), "3.11")
    await SqlRepositoryStore(database).tag_repository(base.repository_id, {ROLE_TAG: "base"})
    await detector.detect(base)  # the role base wins the tie with the siblings
    assert (await prefix_rows(database))[(base.repository_id, base.digest)] == [1]
    found = await lineage.shallower_descendants(_hashes(L[:2])[-1:], 2)
    assert sorted(name for _, name, _, _ in found) == ["apps/old", "apps/web"]
    for dependent in (app, legacy):
        row = await lineage.row(dependent.repository_id, dependent.digest)
        assert row is not None and (row.parent_name, row.parent_layers) == ("base/python", 2)


async def prefix_rows(database: Database) -> dict[tuple[int, str], list[int]]:
    def work() -> dict[tuple[int, str], list[int]]:
        with database.reading() as conn:
            rows = conn.execute(
                sa.select(
                    lineage_prefixes.c.repository_id, lineage_prefixes.c.digest, lineage_prefixes.c.depth
                ).order_by(lineage_prefixes.c.depth)
            ).all()
        found: dict[tuple[int, str], list[int]] = {}
        for repository_id, digest, depth in rows:
            found.setdefault((repository_id, digest), []).append(depth)
        return found

    return await database.run(work)


async def lineage_prefix_as_before(database: Database, image: ImageRecord, layers: list[str]) -> None:
    """The row of the whole list that detections before 2026-12-07 also stored."""

    def work() -> None:
        with database.writing() as conn:
            conn.execute(
                lineage_prefixes.insert().values(
                    prefix_hash=_hashes(layers)[-1], repository_id=image.repository_id, digest=image.digest,
                    depth=len(layers),
                )
            )  # fmt: skip

    await database.write(work)


async def test_a_row_and_its_prefixes_go_with_the_manifest(database: Database) -> None:
    store, lineage, detector = await setup(database)
    base = await push(store, lineage, "base/os", image(L[:1]), "12")
    await detector.detect(base)
    assert await store.delete_manifest(base.repository_id, base.digest)
    assert await lineage.row(base.repository_id, base.digest) is None
    assert await lineage.candidates(_hashes(L[:2])) == []


async def test_patch_policies_are_kept_per_scope_and_replaced(database: Database) -> None:
    await setup(database)
    policies = SqlLineagePolicyStore(database)
    first = PatchPolicy(PREFIX, "apps/", max_base_age=timedelta(days=30), allowed_bases=("framework/*",))
    await policies.put(ACCOUNT, first, "arn:aws:iam::123456789012:user/admin", NOW)
    await policies.put(ACCOUNT, PatchPolicy(REPOSITORY, "apps/web", no_inherited_critical=True), "me", NOW)
    replaced = PatchPolicy(PREFIX, "apps/", max_rebuild_delay=timedelta(days=7), enforce=True)
    await policies.put(ACCOUNT, replaced, "me", NOW)
    assert [p.policy for p in await policies.policies(ACCOUNT)] == [
        replaced, PatchPolicy(REPOSITORY, "apps/web", no_inherited_critical=True),
    ]  # fmt: skip
    assert await policies.any_enforced(ACCOUNT)
    assert await policies.delete(ACCOUNT, PREFIX, "apps/")
    assert not await policies.delete(ACCOUNT, PREFIX, "apps/")
    assert not await policies.any_enforced(ACCOUNT)


async def test_a_repository_read_says_whether_the_account_enforces_a_patch_policy(database: Database) -> None:
    """A push skips the gate's policy read when the repository's row says none is enforced."""
    store, _, _ = await setup(database)
    await store.ensure_repository(ACCOUNT, "apps/web", NOW)
    repository = await store.get_repository(ACCOUNT, "apps/web")
    assert repository is not None and repository.push_gated is False
    policies = SqlLineagePolicyStore(database)
    await policies.put(ACCOUNT, PatchPolicy(PREFIX, "other/", max_base_age=timedelta(days=30)), "me", NOW)
    repository = await store.get_repository(ACCOUNT, "apps/web")
    assert repository is not None and repository.push_gated is False  # not enforced
    await policies.put(ACCOUNT, PatchPolicy(PREFIX, "other/", enforce=True), "me", NOW)
    repository = await store.get_repository(ACCOUNT, "apps/web")
    assert repository is not None and repository.push_gated is True  # anywhere in the account: look
