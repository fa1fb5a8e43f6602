"""Webhooks end to end: a real receiver on loopback checks Standard Webhooks signatures
on CloudEvents bodies, answers 500 to see retries with the same ``webhook-id``, and a
subscription that keeps failing is disabled; addresses that are not public are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from support.images import push_random_image
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

FAST_RETRIES = {
    "STRONGROOM_JOB_RETRY_BASE_SECONDS": "0.2",
    "STRONGROOM_JOB_POLL_SECONDS": "0.1",
    "STRONGROOM_WEBHOOK_DISABLE_AFTER_FAILURES": "3",
}


@dataclass
class Receiver:
    """An HTTP receiver: ``/flaky`` fails twice then takes events, ``/down`` always fails."""

    port: int = 0
    requests: list[tuple[str, dict[str, str], bytes, int]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[tuple[dict[str, str], bytes, int]]:
        return [(headers, body, status) for p, headers, body, status in list(self.requests) if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            status = 500
            if self.path == "/flaky" and len(state.to("/flaky")) >= 2:
                status = 204
            state.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body, status))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification, written from the specification."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [
        part.split(",", 1)[1] for part in headers["webhook-signature"].split(" ") if part.startswith("v1,")
    ]
    return any(hmac.compare_digest(expected, signature) for signature in given)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def webhooks(server: RunningServer) -> dict[str, dict[str, Any]]:
    return {w["webhookId"]: w for w in server.cli_json("webhook", "list", "--output", "json")["webhooks"]}


def test_deliveries_are_signed_retried_with_one_id_and_a_failing_subscription_is_disabled(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = {**FAST_RETRIES, "STRONGROOM_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}
    server = start_server(tmp_path / "data", env=env, args=["--workers", "1"])
    try:
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        created = server.cli(
            "webhook", "create", "--url", receiver.url("/flaky"), "--events", "image.push",
            "--repository-prefix", "ml/", "--secret-stdin", "--output", "json", stdin=secret + "\n",
        )  # fmt: skip
        flaky = json.loads(created.stdout)
        assert "secret" not in flaky  # given, so not shown back
        down = server.cli_json("webhook", "create", "--url", receiver.url("/down"), "--events", "image.push")
        assert down["secret"].startswith("whsec_")  # generated, shown once

        push_random_image(server, "ml/model", "v1", seed=1)
        push_random_image(server, "other/app", "v1", seed=2)
        wait_for(lambda: any(status == 204 for _, _, status in receiver.to("/flaky")), 60, "a delivery")
        wait_for(lambda: not webhooks(server)[down["webhookId"]]["enabled"], 60, "the failing one disabled")

        attempts = receiver.to("/flaky")
        assert [status for _, _, status in attempts] == [500, 500, 204]  # only ml/ events, retried
        assert len({headers["webhook-id"] for headers, _, _ in attempts}) == 1
        assert all(verify(secret, headers, body) for headers, body, _ in attempts)
        assert not verify(down["secret"], *attempts[0][:2])
        event = json.loads(attempts[0][1])
        assert attempts[0][0]["content-type"] == "application/cloudevents+json"
        assert (event["specversion"], event["type"], event["subject"], event["id"]) == (
            "1.0", "io.strongroom.image.push", "ml/model", attempts[0][0]["webhook-id"]
        )  # fmt: skip
        assert event["data"]["repository-name"] == "ml/model" and event["data"]["image-tag"] == "v1"

        log = server.cli_json("webhook", "deliveries", flaky["webhookId"], "--output", "json")["deliveries"]
        assert [(d["attempt"], d["statusCode"]) for d in log] == [(3, 204), (2, 500), (1, 500)]
        assert all(isinstance(d["latencyMs"], int) for d in log)
        disabled = webhooks(server)[down["webhookId"]]
        assert disabled["disabledReason"] == "disabled after 3 failed deliveries in a row"
        # Two events went to /down, delivered concurrently: the third failure in a row
        # disables it, and one attempt may already be on the wire at that moment.
        sent = len(receiver.to("/down"))
        assert sent in (3, 4)
        time.sleep(2)  # ten retry intervals: nothing more once disabled
        assert len(receiver.to("/down")) == sent
        assert webhooks(server)[flaky["webhookId"]]["consecutiveFailures"] == 0
    finally:
        server.stop()


def test_private_addresses_and_bad_urls_are_refused(tmp_path: Path, receiver: Receiver) -> None:
    server = start_server(tmp_path / "data", env=FAST_RETRIES, args=["--workers", "1"])
    try:
        for url in ("ftp://example.com/hook", "http://user:pw@example.com/hook", "not a url"):
            refused = server.cli("webhook", "create", "--url", url, "--events", "image.push", check=False)
            assert refused.returncode != 0 and "webhook URL" in refused.stderr, url
        unknown = server.cli(
            "webhook", "create", "--url", receiver.url("/x"), "--events", "no.such", check=False
        )
        assert unknown.returncode != 0 and "unknown event types" in unknown.stderr
        hooks = [
            server.cli_json("webhook", "create", "--url", url, "--events", "image.push")["webhookId"]
            for url in (receiver.url("/flaky"), "http://169.254.169.254/latest/meta-data/")
        ]
        for hook in hooks:
            server.cli("webhook", "test", hook)
        for hook in hooks:
            wait_for(
                lambda hook=hook: bool(server.cli_json("webhook", "deliveries", hook)["deliveries"]),
                60,
                "an attempt",
            )
            [attempt, *_] = server.cli_json("webhook", "deliveries", hook)["deliveries"]
            assert attempt["statusCode"] is None and "not a public address" in attempt["error"]
        assert receiver.requests == []
    finally:
        server.stop()
