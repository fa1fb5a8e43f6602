"""The OCI API, black-box through httpx's ASGI transport."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx
import pytest

from api.conftest import app_client

pytestmark = pytest.mark.anyio

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push_blob(client: httpx.AsyncClient, name: str, data: bytes) -> str:
    digest = digest_of(data)
    response = await client.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201, response.text
    return digest


def image_manifest(config: str, layers: list[tuple[str, int]], **extra: object) -> bytes:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s} for d, s in layers
        ],
        **extra,
    }
    return json.dumps(document, indent=3).encode()


async def push_image(client: httpx.AsyncClient, name: str, tag: str, **extra: object) -> tuple[str, bytes]:
    config = await push_blob(client, name, b"{}")
    layer = os.urandom(100)
    body = image_manifest(config, [(await push_blob(client, name, layer), 100)], **extra)
    response = await client.put(
        f"/v2/{name}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"], body


async def test_base_endpoint_needs_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/", auth=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="http://127.0.0.1:5000/token",service="127.0.0.1:5000"'
    )
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert (await client.get("/v2/", auth=("admin", "wrong"))).status_code == 401
    assert (await client.get("/v2/", auth=("nobody", "api-test-password"))).status_code == 401
    bad = await client.get("/v2/", auth=None, headers={"Authorization": "Basic !!!"})
    assert bad.status_code == 401
    ok = await client.get("/v2/")
    assert ok.status_code == 200 and ok.json() == {}


async def test_every_repository_route_refuses_anonymous_callers(client: httpx.AsyncClient) -> None:
    await push_image(client, "private/model", "v1")
    for method, path in [
        ("GET", "/v2/private/model/tags/list"),
        ("GET", "/v2/private/model/manifests/v1"),
        ("HEAD", "/v2/private/model/manifests/v1"),
        ("PUT", "/v2/private/model/manifests/v2"),
        ("POST", "/v2/private/model/blobs/uploads/"),
        ("GET", f"/v2/private/model/blobs/{digest_of(b'{}')}"),
        ("DELETE", "/v2/private/model/manifests/v1"),
        ("GET", "/v2/_catalog"),
    ]:
        response = await client.request(method, path, auth=None)
        assert response.status_code == 401, (method, path)
    assert (await client.get("/v2/private/model/manifests/v1")).status_code == 200


async def test_monolithic_and_chunked_uploads(client: httpx.AsyncClient) -> None:
    data = os.urandom(300_000)
    digest = digest_of(data)
    start = await client.post("/v2/team/model/blobs/uploads/")
    assert start.status_code == 202
    location = start.headers["Location"]
    assert start.headers["Range"] == "0-0"
    assert start.headers["Docker-Upload-UUID"] in location
    first = await client.patch(location, content=data[:100_000], headers={"Content-Range": "0-99999"})
    assert first.status_code == 202 and first.headers["Range"] == "0-99999"
    out_of_order = await client.patch(location, content=b"xx", headers={"Content-Range": "0-1"})
    assert out_of_order.status_code == 416
    assert out_of_order.headers["Range"] == "0-99999"
    status = await client.get(location)
    assert status.status_code == 204 and status.headers["Range"] == "0-99999"
    streamed = await client.patch(location, content=data[100_000:200_000])  # no Content-Range
    assert streamed.headers["Range"] == "0-199999"
    wrong = await client.put(location, params={"digest": digest_of(b"other")}, content=data[200_000:])
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"
    # The rejected PUT's bytes were cut off again: the retry sends them once more.
    assert (await client.get(location)).headers["Range"] == "0-199999"
    done = await client.put(location, params={"digest": digest}, content=data[200_000:])
    assert done.status_code == 201, done.text
    assert done.headers["Location"] == f"/v2/team/model/blobs/{digest}"
    assert done.headers["Docker-Content-Digest"] == digest
    blob = await client.get(f"/v2/team/model/blobs/{digest}")
    assert blob.content == data
    head = await client.head(f"/v2/team/model/blobs/{digest}")
    assert head.headers["Content-Length"] == str(len(data)) and head.content == b""
    assert (await client.get(location)).status_code == 404  # session is gone


async def test_wrong_digest_with_the_last_chunk_keeps_the_session(client: httpx.AsyncClient) -> None:
    data = b"hello world"
    start = await client.post("/v2/team/model/blobs/uploads/")
    location = start.headers["Location"]
    wrong = await client.put(location, params={"digest": digest_of(b"nope")}, content=data)
    assert wrong.status_code == 400
    ok = await client.put(location, params={"digest": digest_of(data)}, content=data)
    assert ok.status_code == 201


async def test_sha512_blobs_and_manifests(client: httpx.AsyncClient) -> None:
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    response = await client.post("/v2/t/blobs/uploads/", params={"digest": digest}, content=data)
    assert response.status_code == 201
    assert (await client.get(f"/v2/t/blobs/{digest}")).content == data
    config = await push_blob(client, "t", b"{}")
    body = image_manifest(config, [(digest, len(data))])
    manifest_digest = "sha512:" + hashlib.sha512(body).hexdigest()
    put = await client.put(
        f"/v2/t/manifests/{manifest_digest}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert put.status_code == 201 and put.headers["Docker-Content-Digest"] == manifest_digest


async def test_blob_ranges(client: httpx.AsyncClient) -> None:
    data = os.urandom(5000)
    digest = await push_blob(client, "r", data)
    part = await client.get(f"/v2/r/blobs/{digest}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == "bytes 100-199/5000"
    assert part.content == data[100:200]
    tail = await client.get(f"/v2/r/blobs/{digest}", headers={"Range": "bytes=4990-"})
    assert tail.content == data[4990:]
    beyond = await client.get(f"/v2/r/blobs/{digest}", headers={"Range": "bytes=9000-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == "bytes */5000"


async def test_manifests_round_trip_byte_identical(client: httpx.AsyncClient) -> None:
    digest, body = await push_image(client, "team/project/model", "v1")
    assert digest == digest_of(body)
    for reference in ("v1", digest):
        got = await client.get(f"/v2/team/project/model/manifests/{reference}")
        assert got.status_code == 200
        assert got.content == body
        assert got.headers["Content-Type"] == OCI_MANIFEST
        assert got.headers["Docker-Content-Digest"] == digest
        head = await client.head(f"/v2/team/project/model/manifests/{reference}")
        assert head.headers["Content-Length"] == str(len(body)) and head.content == b""
    again = await client.put(
        "/v2/team/project/model/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert again.status_code == 201  # idempotent
    assert again.headers["Location"] == f"/v2/team/project/model/manifests/{digest}"


async def test_manifest_checks(client: httpx.AsyncClient) -> None:
    config = await push_blob(client, "m", b"{}")
    missing = [digest_of(b"a"), digest_of(b"b")]
    body = image_manifest(config, [(d, 1) for d in missing])
    response = await client.put("/v2/m/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["code"] for e in errors] == ["MANIFEST_BLOB_UNKNOWN"] * 2
    assert [e["detail"]["digest"] for e in errors] == missing
    mismatch = await client.put(
        "/v2/m/manifests/v1", content=image_manifest(config, []), headers={"Content-Type": OCI_INDEX}
    )
    assert mismatch.status_code == 400 and mismatch.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    wrong_digest = await client.put(
        f"/v2/m/manifests/{digest_of(b'x')}",
        content=image_manifest(config, []),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert wrong_digest.json()["errors"][0]["code"] == "DIGEST_INVALID"
    huge = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    too_big = await client.put("/v2/m/manifests/v1", content=huge, headers={"Content-Type": OCI_MANIFEST})
    assert too_big.status_code == 413
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest_of(b"child"), "size": 5}],
    }
    orphan = await client.put(
        "/v2/m/manifests/i", content=json.dumps(index), headers={"Content-Type": OCI_INDEX}
    )
    assert orphan.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"


async def test_unknown_things_are_404_with_the_right_code(client: httpx.AsyncClient) -> None:
    await push_image(client, "known", "v1")
    cases = {
        "/v2/unknown/manifests/v1": "NAME_UNKNOWN",
        "/v2/known/manifests/v2": "MANIFEST_UNKNOWN",
        f"/v2/known/blobs/{digest_of(b'nothing')}": "BLOB_UNKNOWN",
        "/v2/known/blobs/uploads/" + "0" * 32: "BLOB_UPLOAD_UNKNOWN",
        "/v2/unknown/tags/list": "NAME_UNKNOWN",
    }
    for path, code in cases.items():
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["errors"][0]["code"] == code, path
    bad = await client.get("/v2/known/manifests/sha256:totallywrong")
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "DIGEST_INVALID"


async def test_tags_list_pagination(client: httpx.AsyncClient) -> None:
    _digest, body = await push_image(client, "paged", "v0")
    for tag in ["b", "latest", "v1", "C", "_x", "a", "1.0"]:
        await client.put(f"/v2/paged/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST})
    full = await client.get("/v2/paged/tags/list")
    assert full.json() == {"name": "paged", "tags": ["1.0", "C", "_x", "a", "b", "latest", "v0", "v1"]}
    assert "Link" not in full.headers
    first = await client.get("/v2/paged/tags/list", params={"n": 2})
    assert first.json()["tags"] == ["1.0", "C"]
    assert first.headers["Link"] == '</v2/paged/tags/list?n=2&last=C>; rel="next"'
    second = await client.get("/v2/paged/tags/list", params={"n": 2, "last": "C"})
    assert second.json()["tags"] == ["_x", "a"]
    assert (await client.get("/v2/paged/tags/list", params={"n": 0})).json()["tags"] == []
    bad = await client.get("/v2/paged/tags/list", params={"n": "-1"})
    assert bad.status_code == 400


async def test_catalog_pagination(client: httpx.AsyncClient) -> None:
    for name in ["b/x", "a", "c"]:
        await push_blob(client, name, b"x")
    assert (await client.get("/v2/_catalog")).json() == {"repositories": ["a", "b/x", "c"]}
    page = await client.get("/v2/_catalog", params={"n": 1, "last": "a"})
    assert page.json() == {"repositories": ["b/x"]}
    assert page.headers["Link"] == '</v2/_catalog?n=1&last=b%2Fx>; rel="next"'


async def test_deletes(client: httpx.AsyncClient) -> None:
    digest, _ = await push_image(client, "d", "v1")
    await client.put(
        "/v2/d/manifests/v2",
        content=(await client.get(f"/v2/d/manifests/{digest}")).content,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert (await client.delete("/v2/d/manifests/v2")).status_code == 202
    assert (await client.get("/v2/d/manifests/v2")).status_code == 404
    assert (await client.get(f"/v2/d/manifests/{digest}")).status_code == 200
    assert (await client.delete(f"/v2/d/manifests/{digest}")).status_code == 202
    assert (await client.get("/v2/d/manifests/v1")).status_code == 404
    assert (await client.get("/v2/d/tags/list")).json() == {"name": "d", "tags": []}
    blob = await push_blob(client, "d", b"blob")
    assert (await client.delete(f"/v2/d/blobs/{blob}")).status_code == 202
    assert (await client.get(f"/v2/d/blobs/{blob}")).status_code == 404
    assert (await client.delete(f"/v2/d/blobs/{blob}")).status_code == 404


async def test_referrers(client: httpx.AsyncClient) -> None:
    subject_digest, subject_body = await push_image(client, "ref", "v1")
    subject = {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": len(subject_body)}
    empty = await push_blob(client, "ref", b"{}")
    sig = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/x.sig",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [],
            "subject": subject,
            "annotations": {"org.example": "one"},
        }
    ).encode()
    put = await client.put(
        f"/v2/ref/manifests/{digest_of(sig)}", content=sig, headers={"Content-Type": OCI_MANIFEST}
    )
    assert put.headers["OCI-Subject"] == subject_digest
    _, sbom = await push_image(client, "ref", "sbom", subject=subject)
    listed = await client.get(f"/v2/ref/referrers/{subject_digest}")
    assert listed.headers["Content-Type"] == OCI_INDEX
    manifests = listed.json()["manifests"]
    assert {m["digest"] for m in manifests} == {digest_of(sig), digest_of(sbom)}
    by_digest = {m["digest"]: m for m in manifests}
    assert by_digest[digest_of(sig)]["artifactType"] == "application/x.sig"
    assert by_digest[digest_of(sig)]["annotations"] == {"org.example": "one"}
    assert by_digest[digest_of(sbom)]["artifactType"] == "application/vnd.oci.image.config.v1+json"
    filtered = await client.get(
        f"/v2/ref/referrers/{subject_digest}", params={"artifactType": "application/x.sig"}
    )
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [digest_of(sig)]
    none = await client.get(f"/v2/ref/referrers/{digest_of(b'nothing')}")
    assert none.status_code == 200 and none.json()["manifests"] == []
    assert (await client.get("/v2/ref/referrers/sha256:bad")).status_code == 400


async def test_cross_repository_mount(client: httpx.AsyncClient) -> None:
    blob = await push_blob(client, "source", b"shared layer")
    mounted = await client.post("/v2/target/blobs/uploads/", params={"mount": blob, "from": "source"})
    assert mounted.status_code == 201
    assert mounted.headers["Location"] == f"/v2/target/blobs/{blob}"
    assert (await client.get(f"/v2/target/blobs/{blob}")).content == b"shared layer"
    unknown = await client.post(
        "/v2/target/blobs/uploads/", params={"mount": digest_of(b"?"), "from": "source"}
    )
    assert unknown.status_code == 202 and "/v2/target/blobs/uploads/" in unknown.headers["Location"]
    no_from = await client.post("/v2/target/blobs/uploads/", params={"mount": blob})
    assert no_from.status_code == 201  # from a repository the caller may read: test_oci_conformance.py


async def test_upload_cancel(client: httpx.AsyncClient) -> None:
    start = await client.post("/v2/c/blobs/uploads/")
    location = start.headers["Location"]
    await client.patch(location, content=b"abc")
    assert (await client.delete(location)).status_code == 204
    assert (await client.get(location)).status_code == 404
    assert (await client.delete(location)).status_code == 404


async def test_uploads_belong_to_their_repository(client: httpx.AsyncClient) -> None:
    start = await client.post("/v2/one/blobs/uploads/")
    upload_id = start.headers["Docker-Upload-UUID"]
    await push_blob(client, "two", b"x")
    response = await client.patch(f"/v2/two/blobs/uploads/{upload_id}", content=b"abc")
    assert response.status_code == 404


async def test_other_accounts_need_their_resource_policy(client: httpx.AsyncClient) -> None:
    # The administrator's Allow * covers its own account only: across accounts the
    # resource side must allow too, and account 999999999999 has no such policy.
    response = await client.post("/v2/999999999999/team/model/blobs/uploads/")
    assert response.status_code == 403 and response.json()["errors"][0]["code"] == "DENIED"


async def test_unrouted_paths_answer_oci_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/a/nonsense")
    assert response.status_code == 404 and response.json()["errors"][0]["code"]
    method = await client.post("/v2/a/tags/list")
    assert method.status_code == 405 and method.json()["errors"][0]["code"] == "UNSUPPORTED"


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz", auth=None)).json() == {"status": "ok"}
    ready = await client.get("/readyz", auth=None)
    assert ready.status_code == 200 and ready.json()["checks"] == {"metadata": "ok", "blobs": "ok"}


async def test_repeated_failed_logins_are_refused_for_a_while(tmp_path: Path) -> None:
    async with app_client(
        tmp_path, login_slow_after=100, login_refuse_after=3, login_lockout_seconds=60
    ) as client:
        for _ in range(3):
            assert (await client.get("/v2/", auth=("admin", "guess"))).status_code == 401
        locked = await client.get("/v2/", auth=("admin", "guess"))
        assert locked.status_code == 429
        assert locked.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert int(locked.headers["Retry-After"]) > 0
        # Locked out even with the right password: guessing must not go on.
        assert (await client.get("/v2/", auth=("admin", "api-test-password"))).status_code == 429
        token = await client.get("/token", params={"scope": "repository:a:pull"}, auth=("admin", "guess"))
        assert token.status_code == 429
