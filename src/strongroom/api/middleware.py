"""Pure ASGI middleware for every request.

Limits on the request line and headers are enforced here, where the client still gets an
OCI error body; the HTTP server (granian) refuses larger requests before the app sees them,
with an empty body (docs/request-limits.md lists what it sends).
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strongroom.api.metrics import UNMATCHED, RequestMetricSet
from strongroom.api.oci.errors import error_body

DRAIN_LIMIT = 64 * 1024 * 1024
"""How much of a refused request's body is read and dropped before the error is sent."""
MAX_HEADER_BYTES = 16 * 1024
MAX_TARGET_BYTES = 8 * 1024
"""Path and query string together; beyond 65,534 bytes granian answers 414 itself."""
_API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


class EveryRequest:
    """The one ASGI middleware, for every HTTP request: one place each request passes
    through, with the request's ``receive`` and ``send`` wrapped once. In order:

    - notes that a request began (:mod:`strongroom.activity`: the job runner yields to
      requests);
    - refuses oversized request headers (431) and request targets (414) with an OCI
      error;
    - marks every ``/v2/`` response with ``Docker-Distribution-API-Version`` (clients
      probe it);
    - drains a refused ``/v2/`` upload: a request refused while its client is still
      sending (a manifest over the limit, a blob on a full disk) has the rest of its body
      read and dropped, up to :data:`DRAIN_LIMIT`, before the error goes out (answered
      mid-upload, the connection is closed under a client that is still writing, which
      then sees a reset instead of the error);
    - counts the request into the :class:`RequestMetricSet` (route template, method,
      status, time to the last byte, body bytes in and out), refused ones included."""

    def __init__(self, app: ASGIApp, metric_set: RequestMetricSet) -> None:
        self._app = app
        self._metrics = metric_set

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        scope["app"].state.services.activity.note_request()
        started = time.perf_counter()
        method = scope["method"]
        registry = scope["path"].startswith("/v2")
        body = _BodyTracker(receive)
        status, sent = 500, 0

        async def send_counted(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                if registry:
                    message["headers"] = [*message.get("headers", []), _API_VERSION]
                    if status >= 400 and method in ("POST", "PUT", "PATCH"):
                        await body.drain(DRAIN_LIMIT)
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
                await _send_error(send_counted, 431, "request headers too large", method == "HEAD")
            elif len(scope.get("raw_path") or scope["path"]) + len(scope["query_string"]) > MAX_TARGET_BYTES:
                message = f"request target longer than {MAX_TARGET_BYTES} bytes"
                await _send_error(send_counted, 414, message, method == "HEAD")
            else:
                await self._app(scope, body.receive, send_counted)
        finally:
            route = getattr(scope.get("route"), "path", UNMATCHED)
            self._metrics.record(route, method, status, time.perf_counter() - started, body.received, sent)


class _BodyTracker:
    """The request's ``receive``, remembering whether the body has been read to its end."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._complete = False
        self.received = 0
        """Body bytes read so far."""

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request":
            self._complete = True
        else:
            self.received += len(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        return message

    async def drain(self, limit: int) -> None:
        read = 0
        while not self._complete and read <= limit:
            read += len((await self.receive()).get("body", b""))


async def _send_error(send: Send, status: int, message: str, head: bool) -> None:
    """The refusal, before routing (``send`` adds the API version header under ``/v2/``
    and drains what the client still sends)."""
    body = error_body("UNSUPPORTED", message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
