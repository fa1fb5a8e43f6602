"""The pull gate through the real application (httpx's ASGI transport, SQLite): which
policy applies (the repository's own, else the longest prefix), how an OCI client is
refused (403 DENIED naming the findings; HEAD not gated), acceptances by name and by
digest, an index judged by its own scan and its platforms by theirs, and the admin API's
pages and errors. Scan results are stored through the real scan store, as a scan would."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.conftest import app_client
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine
from strongroom.metadata.scans import COMPLETE, NewFinding, SqlScanStore
from strongroom.metadata.sql import SqlMetadataStore
from support.images import Blob, build_image, build_index

pytestmark = pytest.mark.anyio

NOW = datetime.now(UTC)
OPENSSL = {"package_name": "openssl", "package_version": "3.0.1", "aliases": ["GHSA-xxxx"]}
HIGH = NewFinding("k-high", "vulnerability", "CVE-2023-1234", "HIGH", OPENSSL)
PICKLE = NewFinding("k-pickle", "model", "pickle-code-execution", "CRITICAL", {"path": "m.pkl"})


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(tmp_path) as c:
        yield c


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(create_engine(f"sqlite:///{tmp_path / 'strongroom.db'}"))
    yield database
    database.close()


async def push(
    client: httpx.AsyncClient, name: str, tag: str, blobs: tuple[Blob, ...], manifest: Blob
) -> str:
    for blob in blobs:
        if blob is manifest or blob.media_type.endswith("manifest.v1+json"):
            continue
        done = await client.post(
            f"/v2/{name}/blobs/uploads/", params={"digest": blob.digest}, content=blob.data
        )
        assert done.status_code == 201, done.text
    put = await client.put(f"/v2/{name}/manifests/{tag}", content=manifest.data,
                           headers={"content-type": manifest.media_type})  # fmt: skip
    assert put.status_code == 201, put.text
    return manifest.digest


async def push_image(client: httpx.AsyncClient, name: str, tag: str = "v1", seed: int = 1) -> str:
    image = build_image(random.Random(seed), layers=1, files_per_layer=1, file_size=64)
    return await push(client, name, tag, image.blobs(), image.manifest)


async def scanned(database: Database, name: str, digest: str, *findings: NewFinding) -> None:
    metadata = SqlMetadataStore(database)
    account = await metadata.default_account_id()
    assert account is not None
    repository = await metadata.get_repository(account, name)
    assert repository is not None
    store = SqlScanStore(database)
    await store.start(repository.id, digest, NOW)
    await store.finish(repository.id, digest, NOW, status=COMPLETE, description=None, findings=findings)


async def policy(client: httpx.AsyncClient, name: str, **rules: Any) -> None:
    put = await client.put("/admin/v1/pull-policies", json={"name": name, **rules})
    assert put.status_code == 200, put.text


async def accept(client: httpx.AsyncClient, repository: str, finding: str, **more: Any) -> dict[str, Any]:
    body = {"repository": repository, "findingId": finding, "reason": "tested", "expiresAt": "1d", **more}
    response = await client.post("/admin/v1/accepted-risks", json=body)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def status(client: httpx.AsyncClient, name: str, reference: str = "v1") -> int:
    return (await client.get(f"/v2/{name}/manifests/{reference}")).status_code


async def test_the_repositorys_own_policy_wins_then_the_longest_prefix(client: httpx.AsyncClient) -> None:
    for name in ("team/app", "team/other", "team/deep/x", "solo"):
        await push_image(client, name)
    assert await status(client, "team/other") == 200
    await policy(client, "team/", scope="prefix", blockUnscanned=True)
    await policy(client, "team/deep/", scope="prefix", maxSeverity="CRITICAL")
    await policy(client, "team/app", maxSeverity="CRITICAL")
    assert [await status(client, n) for n in ("team/app", "team/other", "team/deep/x", "solo")] == [
        200, 403, 200, 200,
    ]  # fmt: skip
    await policy(client, "", scope="prefix", blockUnscanned=True)
    assert await status(client, "solo") == 403
    described = await client.get("/admin/v1/pull-policies", params={"name": "team/deep/x"})
    assert (described.json()["scope"], described.json()["name"]) == ("prefix", "team/deep/")
    deleted = await client.delete("/admin/v1/pull-policies", params={"name": "team/app"})
    assert deleted.status_code == 204
    assert await status(client, "team/app") == 403  # now the prefix's


async def test_an_oci_pull_is_refused_with_the_findings_named_until_the_risk_is_accepted(
    client: httpx.AsyncClient, database: Database
) -> None:
    digest = await push_image(client, "ml/app")
    other = await push_image(client, "ml/app", "v2", seed=2)
    await scanned(database, "ml/app", digest, HIGH, PICKLE)
    await policy(client, "ml/app", maxSeverity="HIGH", unsafeModelSeverity="HIGH")
    refused = await client.get(f"/v2/ml/app/manifests/{digest}")
    assert refused.status_code == 403
    assert refused.json() == {"errors": [{"code": "DENIED", "message": (
        "pull refused by pull policy: max-severity: CVE-2023-1234 (HIGH, openssl 3.0.1); "
        "unsafe-models: pickle-code-execution (CRITICAL, m.pkl)")}]}  # fmt: skip
    assert (await client.head("/v2/ml/app/manifests/v1")).status_code == 200
    # Nor can the manifest be read as a blob (containerd reads manifests either way).
    as_blob = await client.get(f"/v2/ml/app/blobs/{digest}")
    assert as_blob.status_code == 403 and as_blob.json()["errors"][0]["code"] == "DENIED"
    assert (await client.head(f"/v2/ml/app/blobs/{digest}")).status_code == 200
    assert await status(client, "ml/app", "v2") == 200  # scanned clean: nothing to hold against it
    await accept(client, "ml/app", "GHSA-xxxx")  # by alias
    await accept(client, "ml/app", "pickle-code-execution", imageDigest=other)  # another image
    refused = await client.get("/v2/ml/app/manifests/v1")
    assert refused.json()["errors"][0]["message"].endswith(
        "unsafe-models: pickle-code-execution (CRITICAL, m.pkl)"
    )
    entry = await accept(client, "ml/app", "k-pickle", imageDigest=digest)  # by key, this image
    assert await status(client, "ml/app") == 200
    revoked = await client.delete(f"/admin/v1/accepted-risks/{entry['id']}", params={"repository": "ml/app"})
    assert revoked.status_code == 200 and revoked.json()["findingId"] == "k-pickle"
    assert await status(client, "ml/app") == 403


async def test_an_index_is_judged_by_its_own_scan_and_each_platform_by_its_own(
    client: httpx.AsyncClient, database: Database
) -> None:
    index = build_index(random.Random(7))
    for image in index.images:
        await push(client, "multi/app", image.manifest.digest, image.blobs(), image.manifest)
    await push(client, "multi/app", "v1", (), index.index)
    bad, good = (image.manifest.digest for image in index.images)
    await scanned(database, "multi/app", index.index.digest, HIGH)  # the index's scan covers its platforms
    await scanned(database, "multi/app", bad, HIGH)
    await scanned(database, "multi/app", good)
    await policy(client, "multi/app", maxSeverity="HIGH", blockUnscanned=True)
    assert [await status(client, "multi/app", ref) for ref in ("v1", bad, good)] == [403, 403, 200]


async def test_the_admin_api_pages_and_refuses_in_its_own_shape(client: httpx.AsyncClient) -> None:
    for name in ("a/one", "b/two", "c/three"):
        await policy(client, name, blockUnscanned=True)
    first = (await client.get("/admin/v1/pull-policies", params={"maxResults": "2"})).json()
    assert [p["name"] for p in first["pullPolicies"]] == ["a/one", "b/two"]
    rest = await client.get("/admin/v1/pull-policies", params={"nextToken": first["nextToken"]})
    assert [p["name"] for p in rest.json()["pullPolicies"]] == ["c/three"] and "nextToken" not in rest.json()
    ids = [(await accept(client, "a/one", f"CVE-2024-000{i}"))["id"] for i in range(3)]
    page = (
        await client.get("/admin/v1/accepted-risks", params={"repository": "a/one", "maxResults": "2"})
    ).json()
    more = await client.get(
        "/admin/v1/accepted-risks", params={"repository": "a/one", "nextToken": page["nextToken"]}
    )
    assert [r["id"] for r in page["acceptedRisks"] + more.json()["acceptedRisks"]] == sorted(ids)
    for method, path, body, code in [
        ("PUT", "/admin/v1/pull-policies", {"name": "a/one", "maxSeverity": "SEVERE"}, "InvalidRequest"),
        ("PUT", "/admin/v1/pull-policies", {"name": "a/one"}, "InvalidRequest"),
        ("PUT", "/admin/v1/pull-policies", {"name": "a/one", "blockUnscanned": True, "x": 1},
         "InvalidRequest"),
        ("POST", "/admin/v1/accepted-risks",
         {"repository": "a/one", "findingId": "CVE-1", "reason": "r", "expiresAt": "2020-01-01T00:00Z"},
         "InvalidRequest"),
        ("POST", "/admin/v1/accepted-risks",
         {"repository": "a/one", "findingId": "CVE-1", "reason": "r", "expiresAt": "400d"}, "InvalidRequest"),
        ("POST", "/admin/v1/accepted-risks", {"repository": "a/one", "findingId": "CVE-1", "expiresAt": "1d"},
         "InvalidRequest"),
    ]:  # fmt: skip
        response = await client.request(method, path, json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == code
    missing = await client.delete("/admin/v1/pull-policies", params={"name": "z/none"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NotFound"
