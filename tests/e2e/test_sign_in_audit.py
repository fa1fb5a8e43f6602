"""Fifty wrong credentials do not write fifty audit events: failed sign-ins are recorded
as the first one and, when its window closes, one event with the count (per source
address and claimed identity), on ``/v2/``, ``/token`` and the SigV4 front doors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.aws import aws_client, error_of
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

GUESSES = 50
WINDOW = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "STRONGROOM_SIGN_IN_AUDIT_WINDOW_SECONDS": str(WINDOW),
        # Every guess must be a failure that is checked, not a refusal of a locked address.
        "STRONGROOM_LOGIN_SLOW_AFTER": "1000",
        "STRONGROOM_LOGIN_REFUSE_AFTER": "1000",
    }
    running = start_server(tmp_path_factory.mktemp("audit") / "data", env=env, args=["--workers", "1"])
    try:
        yield running
    finally:
        running.stop()


def denials_claiming(server: RunningServer, claimed: str) -> list[dict[str, Any]]:
    lines = server.cli("audit", "export").stdout.splitlines()
    events = [json.loads(line)["event"] for line in lines]
    return [e for e in events if e["decision"] == "deny" and e["detail"].get("claimed") == claimed]


def counted(events: list[dict[str, Any]]) -> int:
    """Failures the events account for: one per first event, plus each summary's count."""
    return sum(int(event["detail"].get("repeated", 1)) for event in events)


def wait_for_all(server: RunningServer, claimed: str, failures: int) -> list[dict[str, Any]]:
    """The events once the last window has closed and every failure is accounted for."""
    deadline = time.monotonic() + WINDOW + 15
    while time.monotonic() < deadline:
        events = denials_claiming(server, claimed)
        if counted(events) >= failures:
            assert counted(events) == failures
            return events
        time.sleep(1)
    raise AssertionError(
        f"{failures} failures of {claimed} not accounted for: {denials_claiming(server, claimed)}"
    )


def guess_quickly(server: RunningServer, claimed: str) -> None:
    with httpx.Client(base_url=server.url) as client:
        for n in range(GUESSES):
            assert client.get("/v2/", auth=(claimed, f"guess-{n}")).status_code == 401


def test_wrong_basic_credentials_are_audited_once_with_a_count(server: RunningServer) -> None:
    claimed = "AKIAGUESSED000000001"
    started = time.monotonic()
    guess_quickly(server, claimed)
    windows = int((time.monotonic() - started) / WINDOW) + 1
    events = wait_for_all(server, claimed, GUESSES)
    assert len(events) <= 2 * windows < GUESSES
    assert {event["source_ip"] for event in events} == {"127.0.0.1"}
    assert any(event["detail"].get("repeated", 0) > 1 for event in events)


def test_the_token_endpoint_aggregates_too(server: RunningServer) -> None:
    claimed = "someone-guessing"
    started = time.monotonic()
    with httpx.Client(base_url=server.url) as client:
        for n in range(GUESSES):
            assert client.get("/token", auth=(claimed, f"guess-{n}")).status_code == 401
    windows = int((time.monotonic() - started) / WINDOW) + 1
    events = wait_for_all(server, claimed, GUESSES)
    assert len(events) <= 2 * windows < GUESSES


def test_wrong_sigv4_secrets_are_aggregated(server: RunningServer) -> None:
    key_id = "AKIAE2EADMIN0000KEY1"  # the administrator's key id, with wrong secrets
    started = time.monotonic()
    for n in range(GUESSES // 5):
        ecr = aws_client(server, "ecr", key_id=key_id, secret=f"wrong-{n}")
        assert error_of(ecr.describe_repositories)[0] == "InvalidSignatureException"
    windows = int((time.monotonic() - started) / WINDOW) + 1
    events = wait_for_all(server, key_id, GUESSES // 5)
    assert len(events) <= 2 * windows
