"""Pure ASGI middleware for every request.

Limits on the request line and headers are enforced here, where the client still gets an
OCI error body; the HTTP server (granian) refuses larger requests before the app sees them,
with an empty body (docs/request-limits.md lists what it sends).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strongroom.api.oci.errors import error_body

DRAIN_LIMIT = 64 * 1024 * 1024
"""How much of a refused request's body is read and dropped before the error is sent."""
MAX_HEADER_BYTES = 16 * 1024
MAX_TARGET_BYTES = 8 * 1024
"""Path and query string together; beyond 65,534 bytes granian answers 414 itself."""
_API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


class NoteActivity:
    """Notes when each request begins (strongroom.activity): the job runner yields to them."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["app"].state.services.activity.note_request()
        await self._app(scope, receive, send)


class RegistryHeaders:
    """Refuses oversized request headers (431) and request targets (414) with an OCI
    error, and marks every ``/v2/`` response with ``Docker-Distribution-API-Version``
    (clients probe it).

    A ``/v2/`` request refused while its client is still sending (a manifest over the
    limit, a blob on a full disk) has the rest of its body read and dropped, up to
    :data:`DRAIN_LIMIT`, before the error goes out: answered mid-upload, the connection
    is closed under a client that is still writing, which then sees a reset instead of
    the error."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        registry = scope["path"].startswith("/v2")
        head = scope["method"] == "HEAD"
        if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            await _send_error(send, 431, "request headers too large", head, registry)
            return
        if len(scope.get("raw_path") or scope["path"]) + len(scope["query_string"]) > MAX_TARGET_BYTES:
            await _send_error(
                send, 414, f"request target longer than {MAX_TARGET_BYTES} bytes", head, registry
            )
            return
        if not registry:
            await self._app(scope, receive, send)
            return

        body = _BodyTracker(receive)

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), _API_VERSION]
                if message["status"] >= 400 and scope["method"] in ("POST", "PUT", "PATCH"):
                    await body.drain(DRAIN_LIMIT)
            await send(message)

        await self._app(scope, body.receive, send_with_version)


class _BodyTracker:
    """The request's ``receive``, remembering whether the body has been read to its end."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._complete = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._complete = True
        return message

    async def drain(self, limit: int) -> None:
        read = 0
        while not self._complete and read <= limit:
            read += len((await self.receive()).get("body", b""))


async def _send_error(send: Send, status: int, message: str, head: bool, registry: bool) -> None:
    body = error_body("UNSUPPORTED", message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, _API_VERSION] if registry else headers,
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})
