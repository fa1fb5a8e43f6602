"""Requests refused before routing: what a client gets for an oversized request line or
header block (docs/request-limits.md). Raw sockets, because HTTP clients refuse to send
some of these."""

from __future__ import annotations

import json
import socket

import pytest

from support.server import RunningServer

pytestmark = pytest.mark.e2e


def exchange(server: RunningServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request (``Connection: close``) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def request(target: bytes, headers: bytes = b"", method: bytes = b"GET") -> bytes:
    return (
        method + b" " + target + b" HTTP/1.1\r\nHost: registry\r\n" + headers + b"Connection: close\r\n\r\n"
    )


def oci_error(body: bytes) -> str:
    return str(json.loads(body)["errors"][0]["code"])


def test_long_request_targets_get_an_oci_414(shared_server: RunningServer) -> None:
    for target in [b"/v2/" + b"a" * 9000 + b"/tags/list", b"/v2/_catalog?n=1&last=" + b"z" * 9000]:
        status, headers, body = exchange(shared_server, request(target))
        assert status == 414, target[:30]
        assert headers["content-type"] == "application/json"
        assert headers["docker-distribution-api-version"] == "registry/2.0"
        assert oci_error(body) == "UNSUPPORTED"
    status, headers, body = exchange(shared_server, request(b"/v2/" + b"a" * 9000, method=b"HEAD"))
    assert (status, body) == (414, b"")


def test_large_header_blocks_get_an_oci_431(shared_server: RunningServer) -> None:
    status, headers, body = exchange(
        shared_server, request(b"/v2/", b"X-Padding: " + b"p" * 20_000 + b"\r\n")
    )
    assert status == 431
    assert headers["docker-distribution-api-version"] == "registry/2.0"
    assert oci_error(body) == "UNSUPPORTED"


def test_what_the_http_server_answers_before_the_app(shared_server: RunningServer) -> None:
    """granian's own limits, documented: an empty body, no OCI error. A granian upgrade
    that changes them must change docs/request-limits.md too."""
    cases = {
        "target of 65,534 bytes or more": (request(b"/v2/" + b"a" * 65_534), 414),
        "more than 100 header fields": (
            request(b"/v2/", b"".join(b"X-H%d: v\r\n" % i for i in range(99))),
            431,
        ),
    }
    for name, (raw, expected) in cases.items():
        status, headers, body = exchange(shared_server, raw)
        assert (status, body) == (expected, b""), name
        assert "docker-distribution-api-version" not in headers, name
    # A header block over granian's buffer is refused by granian (empty body) or, when the
    # bytes arrive in pieces small enough for it to pass them on, by the app (OCI error):
    # always 431, never anything else.
    status, _, body = exchange(shared_server, request(b"/v2/", b"X-Padding: " + b"p" * 500_000 + b"\r\n"))
    assert status == 431
    assert body == b"" or oci_error(body) == "UNSUPPORTED"
    # One field fewer than granian's limit still reaches the app.
    fields = b"".join(b"X-H%d: v\r\n" % i for i in range(98))
    assert exchange(shared_server, request(b"/v2/", fields))[0] == 401
