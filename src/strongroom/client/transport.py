"""HTTP to one registry's ``/v2/`` API: authentication and retries, nothing else.

Authentication follows the registry's challenge: ``Basic`` sends the login on every
request; ``Bearer realm=…`` fetches a token for the request's scopes (with the login, or
anonymously) and caches it per scope. The login is sent to a token realm only on the
registry's own host or over HTTPS, never in clear to a third party a challenge names.

Idempotent requests are retried with exponential backoff on 5xx, 429 and dropped
connections; an upload's PATCH is not (the uploader asks the server where it stopped).
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterable, Iterable, Mapping
from urllib.parse import urljoin, urlsplit

import anyio
import httpx

from strongroom.client.admin import Login

_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
RETRYABLE = frozenset({429, 500, 502, 503, 504})
TIMEOUT = httpx.Timeout(120.0, connect=15.0)


class RegistryError(Exception):
    """The registry refused a request: status, OCI error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class RegistryHttp:
    def __init__(
        self,
        base_url: str,
        login: Login | None,
        client: httpx.AsyncClient,
        *,
        attempts: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._login = login
        self._client = client
        self._attempts, self._backoff = attempts, backoff
        self._basic = False
        self._tokens: dict[str, str] = {}
        self._challenge: dict[str, str] | None = None
        """The Bearer challenge once seen: later scopes get their token before the request,
        so no body (a manifest, a chunk) is sent twice."""

    def url(self, path_or_url: str) -> str:
        """A path under the registry, or a (possibly relative) ``Location`` it answered."""
        return urljoin(self.base_url + "/", path_or_url)

    async def request(
        self,
        method: str,
        path: str,
        scopes: Iterable[str],
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        params: Mapping[str, str] | None = None,
        stream: bool = False,
        retry: bool = True,
    ) -> httpx.Response:
        """Send, authenticating on a challenge; with ``stream`` the caller closes the response."""
        scope_key = " ".join(sorted(scopes))
        if self._challenge is not None and scope_key not in self._tokens:
            await self._fetch_token(self._challenge, scope_key)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send(method, path, scope_key, headers, content, params, stream)
                if response.status_code == 401 and await self._answer(response, scope_key):
                    await response.aclose()
                    response = await self._send(method, path, scope_key, headers, content, params, stream)
            except httpx.TransportError:
                if not retry or attempt >= self._attempts:
                    raise
                await anyio.sleep(self._backoff * 2 ** (attempt - 1))
                continue
            if retry and response.status_code in RETRYABLE and attempt < self._attempts:
                await response.aclose()
                await anyio.sleep(self._backoff * 2 ** (attempt - 1))
                continue
            return response

    async def _send(
        self,
        method: str,
        path: str,
        scope_key: str,
        headers: Mapping[str, str] | None,
        content: bytes | AsyncIterable[bytes] | None,
        params: Mapping[str, str] | None,
        stream: bool,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if scope_key in self._tokens:
            all_headers["authorization"] = f"Bearer {self._tokens[scope_key]}"
        elif self._basic and self._login is not None:
            all_headers["authorization"] = _basic(self._login)
        request = self._client.build_request(
            method, self.url(path), headers=all_headers, content=content, params=params
        )
        return await self._client.send(request, stream=stream)

    async def _answer(self, response: httpx.Response, scope_key: str) -> bool:
        """Whether the challenge could be answered (so the request is worth sending again)."""
        challenge = response.headers.get("www-authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic" and self._login is not None and not self._basic:
            self._basic = True
            return True
        if scheme != "bearer":
            return False
        # A token held for this scope was refused: expired in a long push; fetch a new one.
        self._tokens.pop(scope_key, None)
        fields = dict(_CHALLENGE.findall(challenge))
        if not fields.get("realm"):
            return False
        self._challenge = fields
        await self._fetch_token(fields, scope_key)
        return True

    async def _fetch_token(self, challenge: dict[str, str], scope_key: str) -> None:
        realm = challenge["realm"]
        params = httpx.QueryParams([("scope", scope) for scope in scope_key.split()])
        if "service" in challenge:
            params = params.add("service", challenge["service"])
        headers = {}
        if self._login is not None and self._may_send_login(realm):
            headers["authorization"] = _basic(self._login)
        answer = await self._client.get(realm, params=params, headers=headers)
        if answer.status_code != 200:
            raise RegistryError(answer.status_code, "UNAUTHORIZED", "the token endpoint refused the login")
        document = answer.json()
        self._tokens[scope_key] = str(document.get("token") or document.get("access_token"))

    def _may_send_login(self, realm: str) -> bool:
        target, own = urlsplit(realm), urlsplit(self.base_url)
        return target.scheme == "https" or target.hostname == own.hostname


def _basic(login: Login) -> str:
    return "Basic " + base64.b64encode(f"{login.user}:{login.password}".encode()).decode("ascii")


async def raise_for(response: httpx.Response, what: str) -> None:
    """Raise :class:`RegistryError` with the OCI error body of a failed response."""
    if response.status_code < 400:
        return
    await response.aread()
    code, message = "HTTP_ERROR", f"{what}: the registry answered {response.status_code}"
    try:
        error = response.json()["errors"][0]
        code, message = str(error.get("code", code)), f"{what}: {error.get('message', '')}"
    except (ValueError, KeyError, IndexError, TypeError):
        pass
    raise RegistryError(response.status_code, code, message)
