"""The SqlImageStore contract (images as ECR sees them), run against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.metadata.database import Database
from strongroom.metadata.events import SqlEventStore
from strongroom.metadata.image_deletions import Deletion
from strongroom.metadata.images import SqlImageStore
from strongroom.metadata.outbox import Expiry, ImageDeletion, NewEvent, Outbox
from strongroom.metadata.records import NewManifest
from strongroom.metadata.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_1, LAYER_1, LAYER_2 = ("sha256:" + c * 64 for c in "123")
IMAGE_A, IMAGE_B, INDEX, LONELY = ("sha256:" + c * 64 for c in "abcd")


@pytest.fixture
def core(database: Database) -> SqlMetadataStore:
    return SqlMetadataStore(database)


@pytest.fixture
def store(database: Database) -> SqlImageStore:
    return SqlImageStore(database)


def image(digest: str, config: str, *layers: str, subject: str | None = None) -> NewManifest:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 1},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer, "size": 1} for layer in layers],
    }
    return NewManifest(
        digest, OCI_MANIFEST, json.dumps(document).encode(), subject, None, None, (config, *layers), ()
    )


def index(digest: str, *children: str) -> NewManifest:
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(children)}
    return NewManifest(digest, OCI_INDEX, json.dumps(document).encode(), None, None, None, (), children)


async def populated(core: SqlMetadataStore) -> int:
    """IMAGE_A tagged v1 and latest, IMAGE_B tagged v2 (a referrer of A), INDEX of both
    tagged multi, LONELY untagged."""
    await core.create_default_account(ACCOUNT, NOW)
    repository = (await core.ensure_repository(ACCOUNT, "team/model", NOW)).id
    for digest, size in ((CONFIG_1, 100), (LAYER_1, 1000), (LAYER_2, 5000)):
        await core.link_blob(repository, digest, size, NOW)
    await core.put_manifest(repository, image(IMAGE_A, CONFIG_1, LAYER_1), ["v1"], NOW)
    await core.put_manifest(repository, image(IMAGE_A, CONFIG_1, LAYER_1), ["latest"], NOW)
    later = NOW + timedelta(minutes=1)
    await core.put_manifest(
        repository, image(IMAGE_B, CONFIG_1, LAYER_1, LAYER_2, subject=IMAGE_A), ["v2"], later
    )
    await core.put_manifest(repository, index(INDEX, IMAGE_A, IMAGE_B), ["multi"], later)
    await core.put_manifest(repository, image(LONELY, CONFIG_1), [], later)
    return repository


async def test_image_ids_are_one_per_digest_and_tag_in_order(
    core: SqlMetadataStore, store: SqlImageStore
) -> None:
    repository = await populated(core)
    everything = [(IMAGE_A, "latest"), (IMAGE_A, "v1"), (IMAGE_B, "v2"), (INDEX, "multi"), (LONELY, None)]
    assert await store.list_image_ids(repository, tag_status="ANY", after=None, limit=10) == everything
    assert await store.list_image_ids(repository, tag_status="TAGGED", after=None, limit=10) == everything[:4]
    assert await store.list_image_ids(repository, tag_status="UNTAGGED", after=None, limit=10) == [
        (LONELY, None)
    ]
    first = await store.list_image_ids(repository, tag_status="ANY", after=None, limit=1)
    assert first == [(IMAGE_A, "latest")]
    rest = await store.list_image_ids(repository, tag_status="ANY", after=(IMAGE_A, "latest"), limit=2)
    assert rest == [(IMAGE_A, "v1"), (IMAGE_B, "v2")]
    assert await store.list_image_ids(repository, tag_status="ANY", after=(INDEX, "multi"), limit=5) == [
        (LONELY, None)
    ]


async def test_summaries_carry_tags_sizes_and_media_types(
    core: SqlMetadataStore, store: SqlImageStore
) -> None:
    repository = await populated(core)
    found = {image.digest: image for image in await store.describe_images(repository)}
    assert list(found) == [IMAGE_A, IMAGE_B, INDEX, LONELY]
    a, b, multi, lonely = found.values()
    assert (a.tags, a.size, a.media_type, a.config_media_type) == (
        ("latest", "v1"),
        1100,
        OCI_MANIFEST,
        OCI_CONFIG,
    )
    assert (a.pushed_at, a.last_pulled_at, a.subject_digest) == (NOW, None, None)
    assert (b.tags, b.size, b.subject_digest) == (("v2",), 6100, IMAGE_A)
    # An index is as large as its largest child and has no config.
    assert (multi.tags, multi.size, multi.media_type, multi.config_media_type) == (
        ("multi",),
        6100,
        OCI_INDEX,
        None,
    )
    assert (lonely.tags, lonely.size) == ((), 100)


async def test_summaries_are_filtered_paged_and_chosen(core: SqlMetadataStore, store: SqlImageStore) -> None:
    repository = await populated(core)

    async def digests(**kwargs: object) -> list[str]:
        return [image.digest for image in await store.describe_images(repository, **kwargs)]  # type: ignore[arg-type]

    assert await digests(tag_status="TAGGED") == [IMAGE_A, IMAGE_B, INDEX]
    assert await digests(tag_status="UNTAGGED") == [LONELY]
    assert await digests(after=IMAGE_A, limit=2) == [IMAGE_B, INDEX]
    assert await digests(digests=[LONELY, IMAGE_B, "sha256:" + "f" * 64]) == [IMAGE_B, LONELY]
    assert await store.describe_images(repository, digests=[]) == []


async def test_tags_are_described_in_name_order_with_their_image(
    core: SqlMetadataStore, store: SqlImageStore
) -> None:
    repository = await populated(core)
    found = await store.describe_tags(repository, after=None, limit=10)
    later = NOW + timedelta(minutes=1)
    assert [(t.tag, t.image.digest, t.tagged_at) for t in found] == [
        ("latest", IMAGE_A, NOW),
        ("multi", INDEX, later),
        ("v1", IMAGE_A, NOW),
        ("v2", IMAGE_B, later),
    ]
    assert (found[0].image.size, found[0].image.tags) == (1100, ("latest", "v1"))
    assert [t.tag for t in await store.describe_tags(repository, after="latest", limit=2)] == ["multi", "v1"]
    assert await store.describe_tags(repository, after="v2", limit=10) == []


async def test_resolve_finds_tags_and_digests(core: SqlMetadataStore, store: SqlImageStore) -> None:
    repository = await populated(core)
    pointed, existing = await store.resolve(
        repository, tag_names=["v1", "nope", "multi"], digests=[LONELY, "sha256:" + "f" * 64]
    )
    assert pointed == {"v1": IMAGE_A, "multi": INDEX}
    assert existing == {LONELY}
    assert await store.resolve(repository) == ({}, set())


async def test_deleting_an_image_removes_its_tags_unless_an_index_lists_it(
    core: SqlMetadataStore, store: SqlImageStore
) -> None:
    repository = await populated(core)
    assert await store.delete_image(repository, "sha256:" + "f" * 64) == Deletion(None)
    assert await store.delete_image(repository, IMAGE_A) == Deletion(IMAGE_A, index=INDEX)
    assert await store.delete_image(repository, INDEX) == Deletion(INDEX, ("multi",), manifest_deleted=True)
    assert await store.delete_image(repository, IMAGE_A) == Deletion(
        IMAGE_A, ("latest", "v1"), manifest_deleted=True
    )
    ids = await store.list_image_ids(repository, tag_status="ANY", after=None, limit=10)
    assert ids == [(IMAGE_B, "v2"), (LONELY, None)]


async def test_deleting_the_last_tag_deletes_the_image(core: SqlMetadataStore, store: SqlImageStore) -> None:
    repository = await populated(core)
    assert await store.delete_image_tag(repository, "nope") == Deletion(None)
    assert await store.delete_image_tag(repository, "latest") == Deletion(IMAGE_A, ("latest",), index=INDEX)
    assert await store.delete_image_tag(repository, "multi") == Deletion(
        INDEX, ("multi",), manifest_deleted=True
    )
    # IMAGE_A's last tag: no index lists it any more, so the image goes too.
    assert await store.delete_image_tag(repository, "v1") == Deletion(IMAGE_A, ("v1",), manifest_deleted=True)
    assert [i.digest for i in await store.describe_images(repository)] == [IMAGE_B, LONELY]


async def test_deletions_write_their_outbox_in_their_own_transaction(
    core: SqlMetadataStore, database: Database
) -> None:
    """What the outbox is given, it writes with the deletion; an outbox that fails
    leaves the deletion undone. Nothing found, nothing announced."""
    seen: list[ImageDeletion] = []

    def outbox(change: ImageDeletion) -> Outbox:
        seen.append(change)
        if change.tags == ("v2",):
            raise RuntimeError("the outbox failed")
        return Outbox(
            events=[NewEvent(f"e{len(seen)}", "image.delete", change.account_id, change.repository, {})]
        )

    store = SqlImageStore(database, outbox)
    repository = await populated(core)
    assert await store.untag(repository, "nope", now=NOW) == Deletion(None)
    assert await store.untag(repository, "latest", now=NOW) == Deletion(IMAGE_A, ("latest",))
    assert await store.delete_image(repository, LONELY, now=NOW, expiry=Expiry(1, "old")) == Deletion(
        LONELY, (), manifest_deleted=True
    )
    with pytest.raises(RuntimeError):
        await store.delete_image_tag(repository, "v2", now=NOW)
    assert [(c.repository, c.digest, c.tags, c.manifest_deleted, c.expiry) for c in seen] == [
        ("team/model", IMAGE_A, ("latest",), False, None),
        ("team/model", LONELY, (), True, Expiry(1, "old")),
        ("team/model", IMAGE_B, ("v2",), False, None),  # INDEX lists it: it stays
    ]
    assert (await store.resolve(repository, tag_names=["v2", "latest"]))[0] == {"v2": IMAGE_B}
    found = await SqlEventStore(database).find(account_id=ACCOUNT)
    assert [(e.id, e.subject) for e in found] == [("e1", "team/model"), ("e2", "team/model")]


async def test_linked_layers_know_size_and_media_type(core: SqlMetadataStore, store: SqlImageStore) -> None:
    repository = await populated(core)
    unreferenced = "sha256:" + "9" * 64
    await core.link_blob(repository, unreferenced, 7, NOW)
    missing = "sha256:" + "8" * 64
    found = await store.linked_layers(repository, [LAYER_2, CONFIG_1, unreferenced, missing])
    assert {d: (layer.size, layer.media_type) for d, layer in found.items()} == {
        LAYER_2: (5000, OCI_LAYER),
        CONFIG_1: (100, OCI_CONFIG),
        unreferenced: (7, None),
    }
    assert await store.linked_layers(repository, []) == {}
    assert await store.blob_is_known(unreferenced)
    assert not await store.blob_is_known(missing)
