"""The registry's challenge decides how the client signs in; a login goes to a token realm
only on the registry's own host or over HTTPS. The registry here is a stand-in (httpx's
MockTransport) playing a third-party registry's challenges, which Strongroom's server
cannot be made to send."""

from __future__ import annotations

import base64

import httpx
import pytest

from strongroom.client.admin import Login
from strongroom.client.transport import RegistryHttp

pytestmark = pytest.mark.anyio
LOGIN = Login("ci", "s3cret")
BASIC = "Basic " + base64.b64encode(b"ci:s3cret").decode()


def registry(realm: str, seen: list[tuple[str, str | None]]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": "tok-" + request.url.params.get("scope", "")})
        if request.headers.get("authorization", "").startswith("Bearer tok-"):
            return httpx.Response(200)
        return httpx.Response(401, headers={"www-authenticate": f'Bearer realm="{realm}",service="reg"'})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    ("realm", "login_sent"),
    [
        ("http://127.0.0.1:5000/token", True),  # the registry's own host
        ("https://auth.example/token", True),  # another host, but over TLS
        ("http://auth.example/token", False),  # another host in clear: the login stays home
    ],
)
async def test_the_login_goes_to_a_realm_only_on_the_same_host_or_over_https(
    realm: str, login_sent: bool
) -> None:
    seen: list[tuple[str, str | None]] = []
    async with httpx.AsyncClient(transport=registry(realm, seen)) as client:
        http = RegistryHttp("http://127.0.0.1:5000", LOGIN, client)
        response = await http.request("GET", "/v2/ml/m/manifests/1", ["repository:ml/m:pull"])
        assert response.status_code == 200
        second = await http.request("HEAD", "/v2/ml/m/blobs/x", ["repository:ml/m:pull,push"])
        assert second.status_code == 200
    token_requests = [auth for url, auth in seen if "/token" in url]
    assert token_requests == [BASIC if login_sent else None] * 2
    # The second scope's token was fetched before its request: no request went out twice.
    assert [url for url, _ in seen if "/v2/" in url].count("http://127.0.0.1:5000/v2/ml/m/blobs/x") == 1


async def test_basic_challenges_get_the_login_on_every_later_request() -> None:
    seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization") == BASIC:
            return httpx.Response(200)
        return httpx.Response(401, headers={"www-authenticate": 'Basic realm="registry"'})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        http = RegistryHttp("http://127.0.0.1:5000", LOGIN, client)
        for path in ("/v2/a", "/v2/b"):
            assert (await http.request("GET", path, ["repository:a:pull"])).status_code == 200
    assert seen == [None, BASIC, BASIC]


async def test_5xx_and_dropped_connections_are_retried_then_reported() -> None:
    answers = iter([httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200)])

    def handle(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        http = RegistryHttp("http://127.0.0.1:5000", None, client, backoff=0.001)
        assert (await http.request("GET", "/v2/", [])).status_code == 200
        failing = RegistryHttp("http://127.0.0.1:5000", None, client, attempts=2, backoff=0.001)
        answers = iter([httpx.Response(502), httpx.Response(502)])
        assert (await failing.request("GET", "/v2/", [])).status_code == 502
