"""The MetadataStore contract, run against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from strongroom.errors import ManifestBlobUnknown, NameUnknown
from strongroom.metadata.database import Database
from strongroom.metadata.records import NewManifest, Upload
from strongroom.metadata.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
M1 = "sha256:" + "a" * 64
M2 = "sha256:" + "b" * 64


@pytest.fixture
def store(database: Database) -> SqlMetadataStore:
    return SqlMetadataStore(database)


def manifest(
    digest: str, *, blobs: tuple[str, ...] = (), children: tuple[str, ...] = (), **kw: object
) -> NewManifest:
    return NewManifest(
        digest=digest,
        media_type=str(kw.get("media_type", "application/vnd.oci.image.manifest.v1+json")),
        content=b'{"x":"' + digest.encode() + b'"}',
        subject_digest=kw.get("subject"),  # type: ignore[arg-type]
        artifact_type=kw.get("artifact_type"),  # type: ignore[arg-type]
        annotations_json=kw.get("annotations"),  # type: ignore[arg-type]
        blob_digests=blobs,
        child_digests=children,
    )


async def repo(store: SqlMetadataStore, name: str = "team/model") -> int:
    await store.create_default_account(ACCOUNT, NOW)
    return (await store.ensure_repository(ACCOUNT, name, NOW)).id


async def test_default_account_is_created_once(store: SqlMetadataStore) -> None:
    assert await store.default_account_id() is None
    assert await store.create_default_account(ACCOUNT, NOW) == ACCOUNT
    assert await store.create_default_account("999999999999", NOW) == ACCOUNT
    assert await store.default_account_id() == ACCOUNT


async def test_repositories(store: SqlMetadataStore) -> None:
    first = await repo(store, "b/model")
    assert (await store.ensure_repository(ACCOUNT, "b/model", NOW)).id == first
    await store.ensure_repository(ACCOUNT, "a", NOW)
    await store.ensure_repository(ACCOUNT, "B", NOW)
    assert await store.list_repository_names(ACCOUNT, None, 10) == ["B", "a", "b/model"]  # byte order
    assert await store.list_repository_names(ACCOUNT, "B", 1) == ["a"]
    assert await store.get_repository(ACCOUNT, "nope") is None
    with pytest.raises(NameUnknown):
        await store.ensure_repository("000000000000", "x", NOW)


async def test_manifest_requires_linked_blobs_and_children(store: SqlMetadataStore) -> None:
    repository = await repo(store)
    with pytest.raises(ManifestBlobUnknown) as missing:
        await store.put_manifest(repository, manifest(M1, blobs=(D1, D2)), ["v1"], NOW)
    assert missing.value.missing == (D1, D2)
    await store.link_blob(repository, D1, 10, NOW)
    await store.link_blob(repository, D2, 20, NOW)
    assert await store.put_manifest(repository, manifest(M1, blobs=(D1, D2, D1)), ["v1"], NOW) is True
    assert await store.put_manifest(repository, manifest(M1, blobs=(D1, D2)), ["v1"], NOW) is False
    with pytest.raises(ManifestBlobUnknown):
        await store.put_manifest(repository, manifest(M2, children=(M2 + "0",)), [], NOW)
    assert await store.put_manifest(repository, manifest(M2, children=(M1,)), ["index"], NOW) is True
    found = await store.lookup_manifest(ACCOUNT, "team/model", tag="v1")
    assert found.repository_exists and found.manifest is not None
    assert found.manifest.digest == M1
    by_digest = await store.lookup_manifest(ACCOUNT, "team/model", digest=M2)
    assert by_digest.manifest is not None and by_digest.manifest.content == manifest(M2).content
    assert (await store.lookup_manifest(ACCOUNT, "other", tag="v1")).repository_exists is False


async def test_tags_move_and_disappear_with_their_manifest(store: SqlMetadataStore) -> None:
    repository = await repo(store)
    await store.put_manifest(repository, manifest(M1), ["latest"], NOW)
    await store.put_manifest(repository, manifest(M1), ["v1"], NOW)
    await store.put_manifest(repository, manifest(M2), ["latest"], NOW)
    latest = await store.lookup_manifest(ACCOUNT, "team/model", tag="latest")
    assert latest.manifest is not None and latest.manifest.digest == M2
    assert await store.list_tags(ACCOUNT, "team/model", None, 10) == ["latest", "v1"]
    assert await store.delete_manifest(repository, M1) is True
    assert await store.list_tags(ACCOUNT, "team/model", None, 10) == ["latest"]
    assert await store.delete_tag(repository, "latest") is True
    assert await store.delete_tag(repository, "latest") is False
    assert (await store.lookup_manifest(ACCOUNT, "team/model", digest=M2)).manifest is not None


async def test_tag_pagination_is_byte_ordered(store: SqlMetadataStore) -> None:
    repository = await repo(store)
    await store.put_manifest(repository, manifest(M1), [], NOW)
    for tag in ["b", "latest", "v1", "C", "_x", "a", "1.0"]:
        await store.put_manifest(repository, manifest(M1), [tag], NOW)
    assert await store.list_tags(ACCOUNT, "team/model", None, 100) == [
        "1.0",
        "C",
        "_x",
        "a",
        "b",
        "latest",
        "v1",
    ]
    assert await store.list_tags(ACCOUNT, "team/model", "_x", 2) == ["a", "b"]
    assert await store.list_tags(ACCOUNT, "nothing", None, 2) is None


async def test_referrers(store: SqlMetadataStore) -> None:
    repository = await repo(store)
    await store.put_manifest(repository, manifest(M1, subject=D1, artifact_type="t/sig"), [], NOW)
    await store.put_manifest(
        repository, manifest(M2, subject=D1, artifact_type="t/sbom", annotations='{"a":"b"}'), [], NOW
    )
    everything = await store.list_referrers(repository, D1, None)
    assert [r.digest for r in everything] == [M1, M2]
    only = await store.list_referrers(repository, D1, "t/sbom")
    assert [(r.digest, r.annotations_json) for r in only] == [(M2, '{"a":"b"}')]
    assert await store.list_referrers(repository, D2, None) == []


async def test_uploads_finish_into_blob_links(store: SqlMetadataStore) -> None:
    repository = await repo(store)
    upload = Upload("c" * 32, repository, "sha256", NOW, NOW)
    await store.create_upload(upload)
    assert await store.get_upload(upload.id) == upload
    assert await store.get_upload_in(upload.id, ACCOUNT, "team/model") == (upload, True)
    assert await store.get_upload_in(upload.id, ACCOUNT, "team/other") == (upload, False)
    assert await store.get_upload_in("d" * 32, ACCOUNT, "team/model") == (None, False)
    later = NOW + timedelta(hours=2)
    assert await store.claim_upload_in(upload.id, ACCOUNT, "team/model", "w", None, later, lapsed_before=NOW)
    assert await store.release_upload(upload.id, "w", 42, later) is True
    assert await store.stale_uploads(NOW + timedelta(hours=1)) == []
    assert await store.stale_uploads(NOW + timedelta(hours=3)) == [upload.id]
    assert await store.finish_upload(upload.id, D1, 42, NOW) is True
    assert await store.get_upload(upload.id) is None
    assert await store.finish_upload(upload.id, D2, 42, NOW) is False  # gone: nothing linked
    assert await store.linked_blob_size(ACCOUNT, "team/model", D2) is None
    assert await store.linked_blob_size(ACCOUNT, "team/model", D1) == 42
    assert await store.unlink_blob(repository, D1) is True
    assert await store.linked_blob_size(ACCOUNT, "team/model", D1) is None


async def test_an_upload_s_rows_are_written_on_the_event_loop_on_sqlite(
    database: Database, store: SqlMetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every push writes its upload's row three times (create, claim, finish): small
    writes, which on SQLite run on the worker's event loop, without a hand-off to a
    thread and back; on PostgreSQL in a thread, as every write."""
    repository = await repo(store)
    writing = database.writing
    ran_on: list[int] = []

    def recording(**kwargs: bool) -> Iterator[sa.Connection]:
        ran_on.append(threading.get_ident())
        return writing(**kwargs)

    monkeypatch.setattr(database, "writing", recording)
    upload = Upload("e" * 32, repository, "sha256", NOW, NOW)
    await store.create_upload(upload)
    assert await store.claim_upload_in(upload.id, ACCOUNT, "team/model", "w", None, NOW, lapsed_before=NOW)
    assert await store.renew_upload_claim(upload.id, "w", NOW)
    assert await store.release_upload(upload.id, "w", 7, NOW)
    assert await store.finish_upload(upload.id, D1, 7, NOW)
    other = Upload("f" * 32, repository, "sha256", NOW, NOW)
    await store.create_upload(other)
    assert await store.delete_upload(other.id)
    assert len(ran_on) == 7
    on_the_loop = {ident == threading.get_ident() for ident in ran_on}
    assert on_the_loop == {database.dialect == "sqlite"}
    assert await store.linked_blob_size(ACCOUNT, "team/model", D1) == 7


async def test_find_blob_answers_a_linked_blob_or_else_the_manifest(store: SqlMetadataStore) -> None:
    repository = await repo(store)
    await store.link_blob(repository, D1, 42, NOW)
    assert await store.find_blob(ACCOUNT, "team/model", D1) == (42, None)
    await store.put_manifest(repository, manifest(M1, blobs=(D1,)), ["v1"], NOW)
    size, found = await store.find_blob(ACCOUNT, "team/model", M1)
    assert size is None and found is not None and found.repository_id == repository
    assert found.manifest is not None and found.manifest.digest == M1
    size, found = await store.find_blob(ACCOUNT, "team/model", D2)
    assert size is None and found is not None and found.repository_exists and found.manifest is None
    size, found = await store.find_blob(ACCOUNT, "team/none", D1)
    assert size is None and found is not None and not found.repository_exists


async def test_an_upload_has_one_writer_at_a_time(store: SqlMetadataStore) -> None:
    repository = await repo(store)
    upload_id = "d" * 32
    await store.create_upload(Upload(upload_id, repository, "sha256", NOW, NOW))
    lapsed = NOW - timedelta(seconds=10)

    async def claim(writer: str, start: int | None, now: datetime = NOW, name: str = "team/model") -> bool:
        return await store.claim_upload_in(
            upload_id, ACCOUNT, name, writer, start, now, lapsed_before=now - timedelta(seconds=10)
        )

    # Only in its own repository (the lookup is part of the claim), and only if it exists.
    await repo(store, "team/other")
    assert await claim("one", 0, name="team/other") is False
    assert await claim("one", 0, name="team/none") is False
    assert (
        await store.claim_upload_in("e" * 32, ACCOUNT, "team/model", "one", None, NOW, lapsed_before=lapsed)
        is False
    )
    assert await claim("one", 0) is True
    # Held: nobody else, with or without a range; and only the holder renews or releases.
    assert await claim("two", 0) is False
    assert await claim("two", None) is False
    assert await store.renew_upload_claim(upload_id, "two", NOW) is False
    assert await store.release_upload(upload_id, "two", 99, NOW) is False
    assert await store.renew_upload_claim(upload_id, "one", NOW) is True
    assert await store.release_upload(upload_id, "one", 10, NOW) is True
    # Released at 10 bytes: a chunk must start there.
    assert await claim("two", 0) is False
    assert await claim("two", 10) is True
    # A claim not renewed lapses: a writer that died frees the session.
    later = NOW + timedelta(seconds=11)
    assert await claim("three", 5, later) is True
    assert await store.release_upload(upload_id, "two", 20, later) is False
    upload = await store.get_upload(upload_id)
    assert upload is not None and (upload.size, upload.writer) == (10, "three")


async def test_concurrent_tag_writers_leave_one_winner(store: SqlMetadataStore) -> None:
    repository = await repo(store)
    digests = [f"sha256:{i:064x}" for i in range(16)]
    await asyncio.gather(*(store.put_manifest(repository, manifest(d), ["race"], NOW) for d in digests))
    winner = await store.lookup_manifest(ACCOUNT, "team/model", tag="race")
    assert winner.manifest is not None and winner.manifest.digest in digests
    assert await store.list_tags(ACCOUNT, "team/model", None, 10) == ["race"]
