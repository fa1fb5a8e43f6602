"""Pure ASGI middleware for every request."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strongroom.api.oci.errors import error_body

MAX_HEADER_BYTES = 16 * 1024
_API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


class RegistryHeaders:
    """Refuses oversized request headers with an OCI error (431), and marks every
    ``/v2/`` response with ``Docker-Distribution-API-Version`` (clients probe it)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            await _send_error(send, 431, "request headers too large", scope["method"] == "HEAD")
            return
        if not scope["path"].startswith("/v2"):
            await self._app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), _API_VERSION]
            await send(message)

        await self._app(scope, receive, send_with_version)


async def _send_error(send: Send, status: int, message: str, head: bool) -> None:
    body = error_body("UNSUPPORTED", message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})
