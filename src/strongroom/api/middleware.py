"""Pure ASGI middleware for every request.

Limits on the request line and headers are enforced here, where the client still gets an
OCI error body; the HTTP server (granian) refuses larger requests before the app sees them,
with an empty body (docs/request-limits.md lists what it sends).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strongroom.api.oci.errors import error_body

MAX_HEADER_BYTES = 16 * 1024
MAX_TARGET_BYTES = 8 * 1024
"""Path and query string together; beyond 65,534 bytes granian answers 414 itself."""
_API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


class RegistryHeaders:
    """Refuses oversized request headers (431) and request targets (414) with an OCI
    error, and marks every ``/v2/`` response with ``Docker-Distribution-API-Version``
    (clients probe it)."""

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

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), _API_VERSION]
            await send(message)

        await self._app(scope, receive, send_with_version)


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
