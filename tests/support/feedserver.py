"""A local HTTP server for feed downloads: ETag/If-None-Match, Range/If-Range, and a way
to cut a response short, so sync can be tested without the internet."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Feed:
    body: bytes = b""
    cut_after: int | None = None
    requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@contextmanager
def serving(feed: Feed) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            feed.requests.append(dict(self.headers))
            if self.headers.get("If-None-Match") == feed.etag:
                self.send_response(304)
                self.end_headers()
                return
            start = 0
            ranged = self.headers.get("Range")
            if ranged and self.headers.get("If-Range", feed.etag) == feed.etag:
                start = int(ranged.removeprefix("bytes=").split("-")[0])
                if start >= len(feed.body):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(feed.body) - 1}/{len(feed.body)}")
            else:
                self.send_response(200)
            payload = feed.body[start:]
            self.send_header("ETag", feed.etag)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if feed.cut_after is not None:
                payload, feed.cut_after = payload[: feed.cut_after], None
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/osv/all.zip"
    finally:
        server.shutdown()
        server.server_close()
