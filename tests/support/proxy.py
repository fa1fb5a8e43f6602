"""A loopback HTTP/1.1 proxy that counts the request bytes a server receives, and can hold
one request in the middle of its body (so a test can kill the server then).

Each connection carries one request (``Connection: close`` is set both ways), so a body
ends where its ``Content-Length`` says (or its last chunk) and a response where the
server closes. Threads, not asyncio: the tests that use it are synchronous.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

_PIECE = 64 * 1024
_MAX_HEAD = 64 * 1024


@dataclass
class Seen:
    """One request as it reached the proxy."""

    method: str
    target: str
    headers: dict[str, str]
    body_bytes: int = 0
    """Body bytes forwarded to the server."""
    complete: bool = False
    """The whole body was forwarded and the server's answer relayed."""
    status: int | None = None


@dataclass
class Hold:
    """Hold the first request ``matches`` accepts after ``after`` body bytes, until released."""

    matches: Callable[[Seen], bool]
    after: int
    held: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    used: bool = False


class CountingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.seen: list[Seen] = []
        self.hold: Hold | None = None
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        if self.hold is not None:
            self.hold.released.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            reader = client.makefile("rb")
            try:
                head = _read_head(reader)
            except (OSError, ValueError):
                return
            if head is None:
                return
            request_line, pairs = head
            method, target, _ = request_line.split(" ", 2)
            seen = Seen(method, target, {name.lower(): value for name, value in pairs})
            with self._lock:
                self.seen.append(seen)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=60)
            except OSError:
                return  # the server is down: the client sees the connection close
            with upstream:
                try:
                    upstream.sendall(_encode_head(request_line, pairs))
                    self._relay_body(reader, upstream, seen)
                    self._relay_answer(upstream, client, seen)
                except OSError:
                    return

    def _relay_body(self, reader: io.BufferedReader, upstream: socket.socket, seen: Seen) -> None:
        read = reader.read
        if seen.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = reader.readline()
                upstream.sendall(size_line)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                data = read(size + 2)
                upstream.sendall(data)
                seen.body_bytes += size
                if size == 0:
                    return
        remaining = int(seen.headers.get("content-length", "0") or 0)
        while remaining > 0:
            self._maybe_hold(seen)
            piece = read(min(_PIECE, remaining))
            if not piece:
                raise OSError("the client went away")
            upstream.sendall(piece)
            seen.body_bytes += len(piece)
            remaining -= len(piece)

    def _maybe_hold(self, seen: Seen) -> None:
        hold = self.hold
        if hold is None or hold.used or seen.body_bytes < hold.after or not hold.matches(seen):
            return
        hold.used = True
        hold.held.set()
        hold.released.wait(timeout=120)

    def _relay_answer(self, upstream: socket.socket, client: socket.socket, seen: Seen) -> None:
        reader = upstream.makefile("rb")
        head = _read_head(reader)
        if head is None:
            raise OSError("no answer")
        status_line, pairs = head
        seen.status = int(status_line.split(" ", 2)[1])
        client.sendall(_encode_head(status_line, pairs))
        while piece := reader.read1(_PIECE):
            client.sendall(piece)
        seen.complete = True


def _read_head(reader: io.BufferedReader) -> tuple[str, list[tuple[str, str]]] | None:
    """The first line and the header fields, with ``Connection: close`` in place of any
    connection header."""
    lines: list[str] = []
    total = 0
    while True:
        line = reader.readline(_MAX_HEAD)
        if not line:
            return None
        total += len(line)
        if total > _MAX_HEAD:
            raise ValueError("head too large")
        if line in (b"\r\n", b"\n"):
            break
        lines.append(line.decode("latin-1").rstrip("\r\n"))
    pairs: list[tuple[str, str]] = []
    for text in lines[1:]:
        name, _, value = text.partition(":")
        if name.strip().lower() not in ("connection", "keep-alive"):
            pairs.append((name.strip(), value.strip()))
    pairs.append(("Connection", "close"))
    return lines[0], pairs


def _encode_head(first: str, pairs: list[tuple[str, str]]) -> bytes:
    lines = [first, *(f"{name}: {value}" for name, value in pairs), "", ""]
    return "\r\n".join(lines).encode("latin-1")
