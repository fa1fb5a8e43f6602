"""The model index store on SQLite and PostgreSQL: a model push queues its indexing in the
push's transaction, a record replaces the last and announces itself in its own, the filters
and pages, and a row that goes with its manifest however the manifest goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from strongroom.clock import RandomIdFactory
from strongroom.events.outbox import ImagePushOutbox
from strongroom.metadata.database import Database
from strongroom.metadata.images import SqlImageStore
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.models import ModelCursor, ModelFilter, NewModel, SqlModelStore
from strongroom.metadata.outbox import NewEvent, Outbox
from strongroom.metadata.records import NewManifest
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.schema import events
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.mlmodels.indexing import INDEX, index_on_push
from strongroom.modelformats import mediatypes as mt

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DIGESTS = ["sha256:" + c * 64 for c in "abcdef"]


def manifest(digest: str, artifact_type: str | None = mt.MODEL_MANIFEST) -> NewManifest:
    return NewManifest(digest, mt.OCI_MANIFEST, b"{}", None, artifact_type, None, (), ())


def model(repository_id: int, digest: str, pushed: datetime = NOW, **values: object) -> NewModel:
    fields: dict[str, object] = {
        "name": "llama", "version": "1", "format": "safetensors", "architecture": "LlamaForCausalLM",
        "parameter_count": 1_000_000_000, "licenses": ("Apache-2.0",), "document": {"dtypes": ["BF16"]},
        **values,
    }  # fmt: skip
    return NewModel(repository_id, digest, pushed_at=pushed, **fields)  # type: ignore[arg-type]


def announced(name: str = "model.indexed") -> Outbox:
    return Outbox(events=[NewEvent(RandomIdFactory().new_id(), name, ACCOUNT, "ml/a", {})])


async def setup(database: Database) -> tuple[SqlMetadataStore, dict[str, int]]:
    store = SqlMetadataStore(database, ImagePushOutbox(RandomIdFactory(), (), 8, index=index_on_push))
    await store.create_default_account(ACCOUNT, NOW)
    ids = {}
    for name in ("ml/a", "ml/b", "team/c"):
        ids[name] = (await store.ensure_repository(ACCOUNT, name, NOW)).id
    return store, ids


async def test_a_model_push_queues_its_indexing_once_and_an_image_push_none(database: Database) -> None:
    store, ids = await setup(database)
    await store.put_manifest(ids["ml/a"], manifest(DIGESTS[0]), ["1", "latest"], NOW)
    await store.put_manifest(ids["ml/a"], manifest(DIGESTS[0]), ["again"], NOW)  # a tag moved: no new job
    await store.put_manifest(
        ids["ml/a"], manifest(DIGESTS[1], "application/vnd.oci.image.config.v1+json"), [], NOW
    )
    await store.put_manifest(ids["ml/b"], manifest(DIGESTS[2], mt.KITOPS_CONFIG), ["kit"], NOW)
    jobs = [job for job in await SqlJobStore(database).list_jobs() if job.kind == INDEX]
    assert sorted((job.payload["repository"], job.payload["digest"]) for job in jobs) == [
        ("ml/a", DIGESTS[0]), ("ml/b", DIGESTS[2]),
    ]  # fmt: skip


async def test_recording_replaces_the_row_and_announces_in_the_same_transaction(database: Database) -> None:
    store, ids = await setup(database)
    await store.put_manifest(ids["ml/a"], manifest(DIGESTS[0]), ["1"], NOW)
    models = SqlModelStore(database)
    assert await models.record(model(ids["ml/a"], DIGESTS[0]), NOW, announced)
    assert await models.record(
        model(ids["ml/a"], DIGESTS[0], name="llama-2", licenses=("MIT",)), NOW, announced
    )
    [found] = await models.page(ModelFilter(), [ids["ml/a"]], after=None, limit=10)
    assert (found.name, found.licenses, found.tags, found.document) == (
        "llama-2",
        ("mit",),
        ("1",),
        {"dtypes": ["BF16"]},
    )
    with database.engine.connect() as conn:
        assert (
            conn.scalar(
                sa.select(sa.func.count()).select_from(events).where(events.c.type == "model.indexed")
            )
            == 2
        )


async def test_a_manifest_gone_records_nothing_and_announces_nothing(database: Database) -> None:
    _, ids = await setup(database)
    assert await SqlModelStore(database).record(model(ids["ml/a"], DIGESTS[0]), NOW, announced) is False
    with database.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(events)) == 0


async def test_filters_and_pages(database: Database) -> None:
    store, ids = await setup(database)
    models = SqlModelStore(database)
    rows = [
        ("ml/a", DIGESTS[0], {"name": "llama-7b", "parameter_count": 7_000_000_000}, ["7b"]),
        ("ml/a", DIGESTS[1], {"name": "tiny_gguf", "format": "gguf", "architecture": "llama",
                              "parameter_count": 136, "licenses": ("MIT",)}, ["q8"]),
        ("ml/b", DIGESTS[2], {"name": None, "parameter_count": None, "licenses": ()}, []),
        ("team/c", DIGESTS[3], {"name": "50%_off", "format": "onnx"}, ["v1"]),
    ]  # fmt: skip
    for hours, (repository, digest, values, tags) in enumerate(rows):
        await store.put_manifest(ids[repository], manifest(digest), tags, NOW)
        await models.record(
            model(ids[repository], digest, NOW + timedelta(hours=hours), **values), NOW, announced
        )
    everywhere = list(ids.values())

    async def names(where: ModelFilter, repositories: list[int] = everywhere) -> list[str]:
        return [found.digest for found in await models.page(where, repositories, after=None, limit=10)]

    assert await names(ModelFilter()) == [DIGESTS[3], DIGESTS[2], DIGESTS[1], DIGESTS[0]]  # newest first
    assert await names(ModelFilter(format="GGUF")) == [DIGESTS[1]]
    assert await names(ModelFilter(architecture="llamaforcausallm")) == [DIGESTS[3], DIGESTS[2], DIGESTS[0]]
    assert await names(ModelFilter(min_parameters=1_000_000_000)) == [DIGESTS[3], DIGESTS[0]]
    assert await names(ModelFilter(max_parameters=1_000)) == [DIGESTS[1]]  # unknown counts are not "small"
    assert await names(ModelFilter(license="mit")) == [DIGESTS[1]]
    assert await names(ModelFilter(license="apache-2.0")) == [DIGESTS[3], DIGESTS[0]]
    assert await names(ModelFilter(tag="q8")) == [DIGESTS[1]]
    assert await names(ModelFilter(name="ml/b", name_prefix=True)) == [DIGESTS[2]]  # the repository's name
    assert await names(ModelFilter(name="LLAMA")) == [DIGESTS[0]]
    assert await names(ModelFilter(name="%")) == [DIGESTS[3]]  # LIKE's wildcards are literal
    assert await names(ModelFilter(name="llama_7b")) == []  # "_" matches only itself
    assert await names(ModelFilter(pushed_since=NOW + timedelta(hours=2))) == [DIGESTS[3], DIGESTS[2]]
    assert await names(ModelFilter(pushed_before=NOW + timedelta(hours=1))) == [DIGESTS[0]]
    assert await names(ModelFilter(), [ids["ml/a"]]) == [DIGESTS[1], DIGESTS[0]]
    assert await names(ModelFilter(), []) == []
    assert [r.name for r in await models.repositories(ModelFilter(format="safetensors"))] == ["ml/a", "ml/b"]
    # Pages follow the last model shown, whatever rows other repositories hold between them.
    first = await models.page(ModelFilter(), [ids["ml/a"], ids["team/c"]], after=None, limit=2)
    cursor = ModelCursor(first[-1].pushed_at, first[-1].account_id, first[-1].repository, first[-1].digest)
    rest = await models.page(ModelFilter(), [ids["ml/a"], ids["team/c"]], after=cursor, limit=2)
    assert [m.digest for m in first + rest] == [DIGESTS[3], DIGESTS[1], DIGESTS[0]]


async def test_the_row_goes_with_its_manifest_however_the_manifest_goes(database: Database) -> None:
    store, ids = await setup(database)
    models = SqlModelStore(database)
    for digest, repository in ((DIGESTS[0], "ml/a"), (DIGESTS[1], "ml/a"), (DIGESTS[2], "ml/b")):
        await store.put_manifest(ids[repository], manifest(digest), [digest[-4:]], NOW)
        await models.record(model(ids[repository], digest), NOW, announced)
    images = SqlImageStore(database)
    await images.delete_image(ids["ml/a"], DIGESTS[0], now=NOW)
    await images.delete_image_tag(ids["ml/a"], DIGESTS[1][-4:], now=NOW)  # its last tag: the image goes
    await SqlRepositoryStore(database).delete_repository(ACCOUNT, "ml/b", force=True, now=NOW)
    assert await models.page(ModelFilter(), list(ids.values()), after=None, limit=10) == []
    with database.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM model_licenses")) == 0
