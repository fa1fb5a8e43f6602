"""``GET /metrics`` from a server with two worker processes, parsed with
prometheus-client's own parser: request counters cover both processes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.images import push_random_image
from support.server import start_server

pytestmark = pytest.mark.e2e


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for found, v in samples.get(name, []) if all(found.get(k) == w for k, w in labels.items()))


def test_counters_move_across_two_server_processes(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=["--workers", "2", "--no-jobs"])
    try:
        before = _samples(httpx.get(server.url + "/metrics").text)
        start = value(before, "strongroom_http_requests_total", route="/v2/", method="GET", status="200")
        for _ in range(40):
            assert httpx.get(server.url + "/v2/", auth=server.auth).status_code == 200
        server.cli("webhook", "create", "--url", "https://hooks.example.com/in", "--events", "image.push")
        push_random_image(server, "metrics/app", "v1", seed=3)  # queues one dispatch job
        for _ in range(4):  # whichever process answers, it reports both processes' requests
            samples = _samples(httpx.get(server.url + "/metrics").text)
            assert (
                value(samples, "strongroom_http_requests_total", route="/v2/", method="GET", status="200")
                - start
                == 40
            )
            assert (
                value(samples, "strongroom_http_request_duration_seconds_count", route="/v2/", method="GET")
                >= 40
            )
            manifest_route = "/v2/{name:path}/manifests/{reference}"
            put = value(
                samples, "strongroom_http_requests_total", route=manifest_route, method="PUT", status="201"
            )
            assert put == 1
            assert value(samples, "strongroom_http_bytes_total", direction="in") > 0
            assert value(samples, "strongroom_jobs", kind="webhook.dispatch", state="queued") == 1
            assert "strongroom_uploads_in_progress" in samples
        pids = {path.name for path in (server.data_dir / "metrics").glob("counter_*.db")}
        assert len(pids) == 2, pids  # both workers served requests and wrote their counts
    finally:
        server.stop()


def test_methods_a_client_invents_are_counted_as_one_label(tmp_path: Path) -> None:
    """A label per request method would let any client add series without bound (each
    a file entry in every process, and a line in every scrape): invented ones count as
    ``OTHER``."""
    server = start_server(tmp_path / "data", args=["--workers", "1", "--no-jobs"])
    try:
        with httpx.Client(base_url=server.url) as client:
            for n in range(5):
                assert client.request(f"BREW{n}", "/v2/").status_code in (401, 405)
        samples = _samples(httpx.get(server.url + "/metrics").text)
        methods = {labels["method"] for labels, _ in samples["strongroom_http_requests_total"]}
        assert not any(method.startswith("BREW") for method in methods), methods
        assert value(samples, "strongroom_http_requests_total", method="OTHER") == 5
    finally:
        server.stop()
