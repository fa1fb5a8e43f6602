"""The Docker token flow: /token, bearer tokens on /v2/, challenges."""

from __future__ import annotations

import hashlib
import json

import httpx
import jwt
import pytest

pytestmark = pytest.mark.anyio

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


async def fetch_token(client: httpx.AsyncClient, *scopes: str, auth: object = "default") -> dict[str, object]:
    params = [("service", "127.0.0.1:5000"), *(("scope", s) for s in scopes)]
    kwargs = {} if auth == "default" else {"auth": auth}
    response = await client.get("/token", params=params, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] >= 60
    return body  # type: ignore[no-any-return]


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_challenges_name_the_scope(client: httpx.AsyncClient) -> None:
    cases = {
        ("GET", "/v2/team/model/manifests/v1"): 'scope="repository:team/model:pull"',
        ("PUT", "/v2/team/model/manifests/v1"): 'scope="repository:team/model:pull,push"',
        ("DELETE", "/v2/team/model/manifests/v1"): 'scope="repository:team/model:delete"',
        ("GET", "/v2/_catalog"): 'scope="registry:catalog:*"',
    }
    for (method, path), scope in cases.items():
        response = await client.request(method, path, auth=None)
        assert response.status_code == 401
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="http://127.0.0.1:5000/token",service="127.0.0.1:5000"')
        assert scope in challenge


async def test_a_token_carries_what_policy_allows_and_nothing_else(client: httpx.AsyncClient) -> None:
    body = await fetch_token(client, "repository:team/model:pull,push", "registry:catalog:*")
    claims = jwt.decode(str(body["token"]), options={"verify_signature": False})
    assert claims["access"] == [
        {"type": "repository", "name": "team/model", "actions": ["pull", "push"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    headers = bearer(body["token"])
    data = b"{}"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    pushed = await client.post(
        "/v2/team/model/blobs/uploads/", params={"digest": digest}, content=data, headers=headers, auth=None
    )
    assert pushed.status_code == 201
    assert (await client.get("/v2/_catalog", headers=headers, auth=None)).status_code == 200
    # Allowed by policy but not in this token: ask for a new one.
    other = await client.get("/v2/other/repo/tags/list", headers=headers, auth=None)
    assert other.status_code == 401
    assert 'error="insufficient_scope"' in other.headers["WWW-Authenticate"]


async def test_anonymous_tokens_grant_nothing_private(client: httpx.AsyncClient) -> None:
    body = await fetch_token(client, "repository:team/model:pull,push", auth=None)
    claims = jwt.decode(str(body["token"]), options={"verify_signature": False})
    assert claims["access"] == []
    response = await client.get("/v2/team/model/tags/list", headers=bearer(body["token"]), auth=None)
    assert response.status_code == 401


async def test_bad_credentials_and_bad_tokens(client: httpx.AsyncClient) -> None:
    refused = await client.get("/token", params={"scope": "repository:a:pull"}, auth=("admin", "nope"))
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == "UNAUTHORIZED"
    body = await fetch_token(client, "repository:team/model:pull")
    token = str(body["token"])
    head, payload, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["ecr"] = {"team/model": ["ecr:PutImage"]}
    forged = ".".join([head, jwt.utils.base64url_encode(json.dumps(claims).encode()).decode(), signature])
    for value in (forged, "not-a-jwt", token + "x"):
        response = await client.get("/v2/", headers=bearer(value), auth=None)
        assert response.status_code == 401, value
    assert (await client.get("/v2/", headers=bearer(token), auth=None)).status_code == 200


async def test_oauth2_form_post(client: httpx.AsyncClient) -> None:
    form = {
        "grant_type": "password",
        "username": "admin",
        "password": "api-test-password",
        "service": "127.0.0.1:5000",
        "scope": "repository:team/model:pull repository:team/other:pull",
        "client_id": "containerd-client",
    }
    response = await client.post("/token", data=form, auth=None)
    assert response.status_code == 200
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert [entry["name"] for entry in claims["access"]] == ["team/model", "team/other"]
    refresh = await client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": "x"}, auth=None
    )
    assert refresh.status_code == 400
    wrong = await client.post("/token", data={**form, "password": "nope"}, auth=None)
    assert wrong.status_code == 401
