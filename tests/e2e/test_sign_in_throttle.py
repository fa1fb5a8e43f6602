"""Failed sign-ins are slowed and refused per source address and credential, never the
credential itself: an attacker guessing a known access key id or user name from another
address cannot lock its owner out. Clients connect from distinct loopback addresses."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support.server import ADMIN_PASSWORD, ADMIN_USER, RunningServer, start_server

pytestmark = pytest.mark.e2e

OWNER = "127.0.0.1"
REFUSE_AFTER = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"STRONGROOM_LOGIN_SLOW_AFTER": "3", "STRONGROOM_LOGIN_REFUSE_AFTER": str(REFUSE_AFTER)}
    # One process: counters are per process (docs/adr), and this test counts exactly.
    running = start_server(tmp_path_factory.mktemp("throttle") / "data", env=env, args=["--workers", "1"])
    try:
        yield running
    finally:
        running.stop()


def from_address(server: RunningServer, address: str, user: str, password: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, auth=(user, password), transport=transport, timeout=30)


def sign_in(server: RunningServer, address: str, user: str, password: str) -> int:
    with from_address(server, address, user, password) as client:
        return client.get("/v2/").status_code


def guess_until_refused(server: RunningServer, attacker: str, user: str) -> list[int]:
    statuses = [sign_in(server, attacker, user, f"wrong-{n}") for n in range(REFUSE_AFTER + 3)]
    assert statuses[:REFUSE_AFTER] == [401] * REFUSE_AFTER
    assert statuses[REFUSE_AFTER:] == [429] * 3
    return statuses


def new_key(server: RunningServer, user: str) -> tuple[str, str]:
    server.cli("iam", "create-user", "--user-name", user)
    key = server.cli_json("iam", "create-access-key", "--user-name", user)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_guessing_an_access_key_from_elsewhere_does_not_lock_its_owner_out(server: RunningServer) -> None:
    attacker = "127.0.0.2"
    key_id, secret = new_key(server, "victim")
    guess_until_refused(server, attacker, key_id)
    assert sign_in(server, OWNER, key_id, secret) == 200
    # Even from the attacker's own address (a shared NAT): a right secret is cheap to
    # check and always let through; the wrong ones stay refused.
    assert sign_in(server, attacker, key_id, secret) == 200
    assert sign_in(server, attacker, key_id, "wrong-again") == 429


def test_guessing_a_password_from_elsewhere_does_not_lock_its_owner_out(server: RunningServer) -> None:
    attacker = "127.0.0.3"
    assert sign_in(server, attacker, ADMIN_USER, ADMIN_PASSWORD) == 200  # the owner, earlier, there
    guess_until_refused(server, attacker, ADMIN_USER)
    assert sign_in(server, OWNER, ADMIN_USER, ADMIN_PASSWORD) == 200
    # From the locked address a password is not hashed again; one verified a moment ago
    # (remembered by an HMAC of it) still gets through, a guess does not.
    assert sign_in(server, attacker, ADMIN_USER, ADMIN_PASSWORD) == 200
    assert sign_in(server, attacker, ADMIN_USER, "wrong-again") == 429
    # A password not verified recently is not hashed for a locked address: refused.
    assert sign_in(server, "127.0.0.3", ADMIN_USER + "-other", ADMIN_PASSWORD) == 429


def test_the_token_endpoint_follows_the_same_rule(server: RunningServer) -> None:
    attacker = "127.0.0.4"
    key_id, secret = new_key(server, "victim2")
    for n in range(REFUSE_AFTER + 1):
        with from_address(server, attacker, key_id, f"bad-{n}") as client:
            client.get("/token", params={"service": server.registry})
    with from_address(server, OWNER, key_id, secret) as client:
        assert client.get("/token", params={"service": server.registry}).status_code == 200
    with from_address(server, attacker, key_id, "bad") as client:
        refused = client.get("/token", params={"service": server.registry})
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
