"""OCI distribution-spec conformance (v1.1.1 suite and the 1.1 features it does not
test yet), black-box through httpx's ASGI transport. Each test names the check it mirrors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from api.conftest import app_client
from api.test_oci_api import OCI_INDEX, OCI_MANIFEST, digest_of, push_blob, push_image
from strongroom.registry.repositories import TagMutability
from strongroom.services import Services

pytestmark = pytest.mark.anyio

AS_MANIFEST = {"Content-Type": OCI_MANIFEST}


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


async def test_reading_what_cannot_be_a_tag_is_manifest_unknown(
    client: httpx.AsyncClient,
) -> None:
    # Conformance "Pull: GET/HEAD nonexistent manifest" with `.INVALID_MANIFEST_NAME`.
    await push_image(client, "conf", "v1")
    for reference in [".INVALID_MANIFEST_NAME", "-dash", "x" * 300, "a%20b", "%00", "t%C3%A4g"]:
        get = await client.get(f"/v2/conf/manifests/{reference}")
        assert (get.status_code, error_code(get)) == (404, "MANIFEST_UNKNOWN"), reference
        head = await client.head(f"/v2/conf/manifests/{reference}")
        assert head.status_code == 404 and head.content == b"", reference
        delete = await client.delete(f"/v2/conf/manifests/{reference}")
        assert (delete.status_code, error_code(delete)) == (404, "MANIFEST_UNKNOWN"), reference
    unknown_repository = await client.get("/v2/nothing-here/manifests/.INVALID_MANIFEST_NAME")
    assert (unknown_repository.status_code, error_code(unknown_repository)) == (404, "NAME_UNKNOWN")
    # Storing under such a name stays refused.
    _digest, body = await push_image(client, "conf", "v2")
    put = await client.put("/v2/conf/manifests/.INVALID_MANIFEST_NAME", content=body, headers=AS_MANIFEST)
    assert (put.status_code, error_code(put)) == (400, "TAG_INVALID")


async def test_one_push_may_name_several_tags(client: httpx.AsyncClient) -> None:
    digest, body = await push_image(client, "multi", "first")
    response = await client.put(
        f"/v2/multi/manifests/{digest}?tag=1.2.3&tag=latest&tag=1.2.3",
        content=body,
        headers=AS_MANIFEST,
    )
    assert response.status_code == 201, response.text
    assert response.headers.get_list("OCI-Tag") == ["1.2.3", "latest"]
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Location"] == f"/v2/multi/manifests/{digest}"
    tags = (await client.get("/v2/multi/tags/list")).json()["tags"]
    assert tags == ["1.2.3", "first", "latest"]
    for tag in ["1.2.3", "latest"]:
        pulled = await client.get(f"/v2/multi/manifests/{tag}")
        assert pulled.content == body and pulled.headers["Docker-Content-Digest"] == digest
    # A tag by reference and by query: both.
    by_tag = await client.put("/v2/multi/manifests/stable?tag=lts", content=body, headers=AS_MANIFEST)
    assert by_tag.headers.get_list("OCI-Tag") == ["stable", "lts"]
    # A push without ?tag= carries no OCI-Tag header (clients take it as "not supported").
    plain = await client.put("/v2/multi/manifests/plain", content=body, headers=AS_MANIFEST)
    assert "OCI-Tag" not in plain.headers


async def test_a_bad_tag_among_several_stores_nothing(client: httpx.AsyncClient) -> None:
    digest, body = await push_image(client, "multibad", "v1")
    response = await client.put(
        f"/v2/multibad/manifests/{digest}?tag=ok&tag=.bad",
        content=body,
        headers=AS_MANIFEST,
    )
    assert (response.status_code, error_code(response)) == (400, "TAG_INVALID")
    too_many = "&".join(f"tag=t{i}" for i in range(101))
    crowded = await client.put(
        f"/v2/multibad/manifests/{digest}?{too_many}", content=body, headers=AS_MANIFEST
    )
    assert (crowded.status_code, error_code(crowded)) == (414, "TAG_INVALID")
    assert (await client.get("/v2/multibad/tags/list")).json()["tags"] == ["v1"]


async def test_one_immutable_tag_refuses_the_whole_multi_tag_push(tmp_path: Path) -> None:
    async with app_client(tmp_path) as client:
        first, _ = await push_image(client, "locked", "v1")
        await _make_immutable(client, "locked")
        second, body = await push_image(client, "scratch", "x")
        config = json.loads(body)["config"]["digest"]
        layer = json.loads(body)["layers"][0]["digest"]
        for blob in (config, layer):
            mounted = await client.post(
                "/v2/locked/blobs/uploads/", params={"mount": blob, "from": "scratch"}
            )
            assert mounted.status_code == 201
        response = await client.put(
            f"/v2/locked/manifests/{second}?tag=new&tag=v1",
            content=body,
            headers=AS_MANIFEST,
        )
        assert (response.status_code, error_code(response)) == (400, "TAG_INVALID")
        assert response.json()["errors"][0]["message"] == (
            "The image tag 'v1' already exists in the 'locked' repository and cannot be overwritten "
            "because the repository is immutable."
        )
        assert (await client.get("/v2/locked/tags/list")).json()["tags"] == ["v1"]
        assert (await client.get("/v2/locked/manifests/v1")).headers["Docker-Content-Digest"] == first


async def _make_immutable(client: httpx.AsyncClient, name: str) -> None:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    services: Services = transport.app.state.services  # type: ignore[attr-defined]
    account = services.default_account_id
    await services.repositories.set_tag_mutability(account, name, TagMutability("IMMUTABLE"))


async def test_manifests_are_readable_as_blobs(client: httpx.AsyncClient) -> None:
    digest, body = await push_image(client, "asblob", "v1")
    blob = await client.get(f"/v2/asblob/blobs/{digest}")
    assert blob.status_code == 200 and blob.content == body
    assert blob.headers["Docker-Content-Digest"] == digest
    assert blob.headers["Content-Length"] == str(len(body))
    head = await client.head(f"/v2/asblob/blobs/{digest}")
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(body))
    part = await client.get(f"/v2/asblob/blobs/{digest}", headers={"Range": "bytes=2-9"})
    assert part.status_code == 206 and part.content == body[2:10]
    # Only in its own repository.
    await push_image(client, "other", "v1")
    elsewhere = await client.get(f"/v2/other/blobs/{digest}")
    assert (elsewhere.status_code, error_code(elsewhere)) == (404, "BLOB_UNKNOWN")


async def test_if_none_match_answers_304(client: httpx.AsyncClient) -> None:
    digest, body = await push_image(client, "cache", "v1")
    etag = f'"{digest}"'
    for path in ["/v2/cache/manifests/v1", f"/v2/cache/manifests/{digest}", f"/v2/cache/blobs/{digest}"]:
        for method in ["GET", "HEAD"]:
            cached = await client.request(method, path, headers={"If-None-Match": etag})
            assert cached.status_code == 304, (method, path)
            assert cached.content == b"" and cached.headers["ETag"] == etag
        listed = await client.get(path, headers={"If-None-Match": f'"sha256:{"0" * 64}", W/{etag}'})
        assert listed.status_code == 304, path
        stale = await client.get(path, headers={"If-None-Match": f'"sha256:{"0" * 64}"'})
        assert stale.status_code == 200 and stale.content == body, path
    layer = json.loads(body)["layers"][0]["digest"]
    cached_layer = await client.get(f"/v2/cache/blobs/{layer}", headers={"If-None-Match": "*"})
    assert cached_layer.status_code == 304
    missing = await client.get("/v2/cache/manifests/v9", headers={"If-None-Match": "*"})
    assert missing.status_code == 404


async def test_mount_without_from_uses_a_readable_repository(client: httpx.AsyncClient) -> None:
    # Conformance "Push: cross-mount without from" (OCI_AUTOMATIC_CROSSMOUNT=1).
    blob = await push_blob(client, "somewhere/else", b"automatic mount")
    mounted = await client.post("/v2/target/blobs/uploads/", params={"mount": blob})
    assert mounted.status_code == 201, mounted.text
    assert mounted.headers["Location"] == f"/v2/target/blobs/{blob}"
    assert mounted.headers["Docker-Content-Digest"] == blob
    assert (await client.get(f"/v2/target/blobs/{blob}")).content == b"automatic mount"
    # Unknown digest: a normal upload session (conformance: 202 + Location).
    unknown = await client.post("/v2/target/blobs/uploads/", params={"mount": digest_of(b"never pushed")})
    assert unknown.status_code == 202 and unknown.headers["Location"].startswith("/v2/target/blobs/uploads/")


async def test_deleting_a_manifest_an_index_lists_is_refused(client: httpx.AsyncClient) -> None:
    child, child_body = await push_image(client, "idx", "child")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": len(child_body)}],
        }
    ).encode()
    pushed = await client.put("/v2/idx/manifests/multi", content=index, headers={"Content-Type": OCI_INDEX})
    index_digest = pushed.headers["Docker-Content-Digest"]
    refused = await client.delete(f"/v2/idx/manifests/{child}")
    assert (refused.status_code, error_code(refused)) == (405, "UNSUPPORTED")
    assert (
        refused.json()["errors"][0]["message"]
        == f"Requested image referenced by manifest list: [{index_digest}]"
    )
    assert refused.json()["errors"][0]["detail"] == {"digest": child, "index": index_digest}
    assert (await client.get(f"/v2/idx/manifests/{child}")).status_code == 200
    assert (await client.get("/v2/idx/manifests/child")).status_code == 200
    # Removing the tag only is fine, and so is the child once the index is gone.
    assert (await client.delete("/v2/idx/manifests/child")).status_code == 202
    assert (await client.delete(f"/v2/idx/manifests/{index_digest}")).status_code == 202
    assert (await client.delete(f"/v2/idx/manifests/{child}")).status_code == 202
    assert (await client.get(f"/v2/idx/manifests/{child}")).status_code == 404
