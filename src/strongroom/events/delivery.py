"""Sending one webhook request: a CloudEvents 1.0 JSON body, signed as Standard
Webhooks asks, to an address checked against server-side request forgery.

The receiver's host is resolved once, here; every address it resolves to must be
globally routable (not loopback, private, link-local — cloud metadata lives there —
multicast or reserved) unless an allowed network holds it, and the request goes to
that address, so a DNS answer that changes between check and connect (rebinding)
cannot redirect it. Redirects are never followed; connecting and reading time out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import anyio

from strongroom.errors import InvalidRequest

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks secret format's prefix)
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class DeliveryRefused(Exception):
    """The target may not be reached (its address is not allowed, or it cannot be resolved)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int
    latency_ms: int

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300


def check_url(url: str) -> str:
    """An http(s) URL with a host and no credentials, else InvalidRequest."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("a webhook URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise InvalidRequest("a webhook URL must not carry credentials")
    return url


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (Standard Webhooks)."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidRequest("a webhook secret looks like whsec_<base64 of 24 to 64 bytes>")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        raise InvalidRequest("a webhook secret looks like whsec_<base64 of 24 to 64 bytes>") from None
    if not 24 <= len(key) <= 64:
        raise InvalidRequest("a webhook secret looks like whsec_<base64 of 24 to 64 bytes>")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: ``v1,<base64 HMAC-SHA256>`` over
    ``<id>.<timestamp>.<body>``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def cloudevent(
    *, event_id: str, source: str, type: str, subject: str | None, time: datetime, data: Mapping[str, Any]
) -> bytes:
    """A CloudEvents 1.0 structured-mode JSON body."""
    document = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": type,
        "time": time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": dict(data),
    }
    if subject is not None:
        document["subject"] = subject
    return json.dumps(document, sort_keys=True).encode()


class WebhookSender:
    def __init__(self, allowed_networks: Sequence[IpNetwork]) -> None:
        self._allowed = tuple(allowed_networks)

    async def send(self, url: str, message_id: str, key: bytes, body: bytes) -> Outcome:
        parts = urlsplit(check_url(url))
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await self._resolve(host, port)
        timestamp = int(time.time())
        headers = {
            "host": parts.netloc,
            "content-type": "application/cloudevents+json",
            "user-agent": "strongroom-webhooks/1",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(key, message_id, timestamp, body),
        }
        # Imported here: a server that delivers no webhook never loads an HTTP client (with
        # its optional command-line extras it costs each worker several MB).
        import httpx

        target = httpx.URL(url).copy_with(host=address)
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        started = time.monotonic()
        async with (
            httpx.AsyncClient(follow_redirects=False, timeout=timeout, trust_env=False) as client,
            # Streamed and never read: only the status matters, whatever the receiver sends.
            client.stream("POST", target, content=body, headers=headers, extensions=extensions) as response,
        ):
            return Outcome(response.status_code, round((time.monotonic() - started) * 1000))

    async def _resolve(self, host: str, port: int) -> str:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise DeliveryRefused(f"cannot resolve {host}: {error}") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        for address in addresses:
            if not address.is_global and not any(address in network for network in self._allowed):
                raise DeliveryRefused(
                    f"{host} resolves to {address}, which is not a public address "
                    "(allow its network with webhook_allowed_networks)"
                )
        if not addresses:
            raise DeliveryRefused(f"cannot resolve {host}")
        return str(addresses[0])


def parse_networks(text: str) -> list[IpNetwork]:
    """``webhook_allowed_networks``: comma-separated CIDR blocks."""
    return [ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip()]
