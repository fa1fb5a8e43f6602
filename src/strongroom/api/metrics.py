"""``GET /metrics``: Prometheus text for operators.

Request metrics (count by route template, method and status; latency histograms; bytes
in and out) are kept by :class:`RequestMetricSet`, counted by the one ASGI middleware
(:class:`strongroom.api.middleware.EveryRequest`). With several
worker processes they are right only in prometheus-client's multiprocess mode: each
process writes its values to files in ``metrics_dir`` and a scrape, whichever process
answers it, merges them. That mode is chosen when prometheus-client is first imported,
from ``PROMETHEUS_MULTIPROC_DIR``, which ``strongroom serve`` sets from the settings
before anything imports it (``strongroom.cli.server.prepare_multiprocess_dir``).

Queue and upload figures (jobs by kind and state, uploads in progress) are read from
the database at scrape time, so every process reports the whole deployment's.

Access: open to loopback clients and to ``metrics_allowed_networks``; from elsewhere
only with ``Authorization: Bearer <metrics_token>``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from strongroom.services import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RequestMetricSet:
    """The request metrics of one application."""

    def __init__(self, multiprocess_dir: Path) -> None:
        self.registry = CollectorRegistry()
        # prometheus-client chose its mode when first imported; follow it.
        multiprocess = values.ValueClass is not values.MutexValue
        self.multiprocess_dir = str(multiprocess_dir) if multiprocess else None
        # In multiprocess mode the values live in files; the registry is only for the
        # single-process case (tests in one process, an embedded app).
        registry = None if self.multiprocess_dir else self.registry
        labels = ("route", "method", "status")
        self.requests = Counter("strongroom_http_requests", "HTTP requests", labels, registry=registry)
        self.latency = Histogram(
            "strongroom_http_request_duration_seconds", "Time to the last response byte", ("route", "method"),
            registry=registry,
        )  # fmt: skip
        self.bytes = Counter("strongroom_http_bytes", "HTTP body bytes", ("direction",), registry=registry)
        self._bytes_in, self._bytes_out = self.bytes.labels("in"), self.bytes.labels("out")
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def record(self, route: str, method: str, status: int, seconds: float, received: int, sent: int) -> None:
        """Count one request. ``method`` outside :data:`METHODS` is counted as ``OTHER``:
        a label per method a client invents would grow the metrics without bound. The
        labelled children are kept (looking them up cost more than counting)."""
        if method not in METHODS:
            method = "OTHER"
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
        children[0].inc()
        children[1].observe(seconds)
        self._bytes_in.inc(received)
        self._bytes_out.inc(sent)


def metrics_allowed(
    client: str | None, authorization: str | None, token: str | None, networks: Sequence[IpNetwork]
) -> bool:
    """Loopback and the allowed networks need nothing; anyone else needs the token."""
    if token and authorization and authorization[:7].lower() == "bearer ":
        return hmac.compare_digest(authorization[7:].strip().encode(), token.encode())
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return False
    return address.is_loopback or any(address in network for network in networks)


async def metrics(request: Request) -> Response:
    services: Services = request.app.state.services
    settings = services.settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    networks = [
        ipaddress.ip_network(part.strip())
        for part in settings.metrics_allowed_networks.split(",")
        if part.strip()
    ]
    client = request.client.host if request.client else None
    if not metrics_allowed(client, request.headers.get("authorization"), token, networks):
        return PlainTextResponse(
            "metrics are open to loopback, metrics_allowed_networks, or the metrics token\n", 403
        )
    request_metrics: RequestMetricSet = request.app.state.request_metrics
    registry = CollectorRegistry()
    if request_metrics.multiprocess_dir:
        MultiProcessCollector(registry, request_metrics.multiprocess_dir)  # type: ignore[no-untyped-call]
    else:
        registry = request_metrics.registry
    queue = _QueueFigures(
        await services.job_store.counts(),
        await services.metadata.count_uploads(),
        await services.webhooks.delivery_outcomes(),
    )
    body = generate_latest(registry) + generate_latest(queue)
    return Response(body, media_type=CONTENT_TYPE)


class _QueueFigures:
    """The deployment's queue and uploads, read from the database for this scrape."""

    def __init__(self, counts: dict[tuple[str, str], int], uploads: int, deliveries: dict[str, int]) -> None:
        self._counts = counts
        self._uploads = uploads
        self._deliveries = deliveries

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily(
            "strongroom_jobs", "Jobs in the queue by kind and state", labels=["kind", "state"]
        )
        for (kind, state), count in sorted(self._counts.items()):
            jobs.add_metric([kind, state], count)
        yield jobs
        yield GaugeMetricFamily(
            "strongroom_uploads_in_progress", "Blob upload sessions open", value=self._uploads
        )
        deliveries = GaugeMetricFamily(
            "strongroom_webhook_deliveries",
            "Webhook delivery attempts on record by outcome",
            labels=["outcome"],
        )
        for outcome, count in sorted(self._deliveries.items()):
            deliveries.add_metric([outcome], count)
        yield deliveries
