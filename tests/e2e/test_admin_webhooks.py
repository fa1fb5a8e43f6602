"""``/admin/v1/webhooks`` end to end: first the hostile callers (a user without policy, a
user of another account with every permission), then operators creating, paging, testing
and deleting subscriptions against a real receiver on loopback."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer, start_server

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
OTHER_ACCOUNT = "333333333333"
ADMIN_KEY = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
ENV = {"STRONGROOM_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8", "STRONGROOM_JOB_POLL_SECONDS": "0.1"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A receiver on loopback that takes every event (204) and keeps the headers it saw."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/in", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("hooks") / "data", env=ENV, args=["--workers", "1"])
    try:
        yield running
    finally:
        running.stop()


def user_key(
    server: RunningServer, name: str, account: str | None = None, policy: str | None = None
) -> tuple[str, str]:
    where = ["--account-id", account] if account else []
    server.cli("iam", "create-user", "--user-name", name, *where)
    if policy is not None:
        server.cli("iam", "put-user-policy", "--user-name", name, "--policy-name", "all",
                   "--policy-document", policy, *where)  # fmt: skip
    key = server.cli_json("iam", "create-access-key", "--user-name", name, *where)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def call(
    server: RunningServer, method: str, path: str, key: tuple[str, str], body: Any = None, raw: bytes = b""
) -> httpx.Response:
    """A SigV4-signed request (service ``strongroom``), as botocore signs it."""
    data = json.dumps(body).encode() if body is not None else raw
    url = server.url + "/admin/v1" + path
    request = AWSRequest(method, url, data=data, headers={"content-type": "application/json"})
    SigV4Auth(Credentials(*key), "strongroom", REGION).add_auth(request)
    return httpx.request(method, url, headers=dict(request.headers), content=data)


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == code and body["message"]
    return body


def create(server: RunningServer, key: tuple[str, str], url: str, **fields: Any) -> dict[str, Any]:
    created = call(server, "POST", "/webhooks", key, {"url": url, "events": ["image.push"], **fields})
    assert created.status_code == 201, created.text
    document: dict[str, Any] = created.json()
    return document


# --- hostile callers ------------------------------------------------------------------------------


def test_a_user_without_policy_is_denied_every_webhook_route(server: RunningServer) -> None:
    hook = create(server, ADMIN_KEY, "https://hooks.example.com/a")["webhookId"]
    key = user_key(server, "nohooks")
    routes = [
        ("POST", "/webhooks", "strongroom:CreateWebhook"),
        ("GET", "/webhooks", "strongroom:ListWebhooks"),
        ("GET", f"/webhooks/{hook}", "strongroom:DescribeWebhook"),
        ("DELETE", f"/webhooks/{hook}", "strongroom:DeleteWebhook"),
        ("POST", f"/webhooks/{hook}/enable", "strongroom:UpdateWebhook"),
        ("POST", f"/webhooks/{hook}/test", "strongroom:TestWebhook"),
        ("GET", f"/webhooks/{hook}/deliveries", "strongroom:ListWebhookDeliveries"),
    ]
    for method, path, action in routes:
        body = {"url": "https://evil.example.com/", "events": ["image.push"]} if method == "POST" else None
        assert action in error(call(server, method, path, key, body), 403, "AccessDenied")["message"]
    assert call(server, "GET", f"/webhooks/{hook}", ADMIN_KEY).status_code == 200  # still there
    error(httpx.get(server.url + "/admin/v1/webhooks"), 401, "AuthenticationRequired")
    denied = {
        event["action"]
        for event in (json.loads(line)["event"] for line in server.cli("audit", "export").stdout.splitlines())
        if event["decision"] == "deny" and event["principal"].endswith(":user/nohooks")
    }
    assert denied == {action for _, _, action in routes}


def test_another_account_never_sees_or_touches_this_accounts_webhooks(server: RunningServer) -> None:
    mine = create(server, ADMIN_KEY, "https://hooks.example.com/mine")["webhookId"]
    server.cli("account", "create", "--id", OTHER_ACCOUNT)
    eve = user_key(server, "eve", OTHER_ACCOUNT, ALLOW_ALL)

    assert call(server, "GET", "/webhooks", eve).json() == {"webhooks": []}
    for method, path in (
        ("GET", f"/webhooks/{mine}"),
        ("DELETE", f"/webhooks/{mine}"),
        ("POST", f"/webhooks/{mine}/enable"),
        ("POST", f"/webhooks/{mine}/test"),
        ("GET", f"/webhooks/{mine}/deliveries"),
    ):
        error(call(server, method, path, eve), 404, "NotFound")
    theirs = create(server, eve, "https://hooks.example.com/theirs")
    assert theirs["accountId"] == OTHER_ACCOUNT
    assert [w["webhookId"] for w in call(server, "GET", "/webhooks", eve).json()["webhooks"]] == [
        theirs["webhookId"]
    ]
    listed = call(server, "GET", "/webhooks?maxResults=1000", ADMIN_KEY).json()["webhooks"]
    ours = {w["webhookId"] for w in listed}
    assert mine in ours and theirs["webhookId"] not in ours
    error(call(server, "DELETE", f"/webhooks/{theirs['webhookId']}", ADMIN_KEY), 404, "NotFound")
    assert call(server, "GET", f"/webhooks/{mine}", ADMIN_KEY).status_code == 200


# --- operators -----------------------------------------------------------------------------------


def test_operators_create_page_test_and_delete_webhooks(
    server: RunningServer, receiver: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = receiver
    generated = create(server, ADMIN_KEY, url)
    assert generated["secret"].startswith("whsec_") and generated["enabled"] is True
    given = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    chosen = create(server, ADMIN_KEY, "https://hooks.example.com/b", secret=given, repositoryPrefix="ml/")
    assert "secret" not in chosen and chosen["repositoryPrefix"] == "ml/"

    shown = call(server, "GET", f"/webhooks/{generated['webhookId']}", ADMIN_KEY).json()
    assert "secret" not in shown and shown["url"] == url  # the generated secret was shown once

    pages, token = [], None
    while True:
        query = "?maxResults=1" + (f"&nextToken={token}" if token else "")
        page = call(server, "GET", "/webhooks" + query, ADMIN_KEY).json()
        pages.append([w["webhookId"] for w in page["webhooks"]])
        assert all("secret" not in w for w in page["webhooks"])
        token = page.get("nextToken")
        if token is None:
            break
    listed = [hook for page in pages for hook in page]
    assert len(listed) == len(set(listed)) and {generated["webhookId"], chosen["webhookId"]} <= set(listed)
    assert all(len(page) <= 1 for page in pages)

    tested = call(server, "POST", f"/webhooks/{generated['webhookId']}/test", ADMIN_KEY)
    assert tested.status_code == 200
    event_id = tested.json()["eventId"]
    deadline = time.monotonic() + 60
    while not any(h.get("webhook-id") == event_id for h in seen):
        assert time.monotonic() < deadline, "the test event was not delivered"
        time.sleep(0.1)
    path = f"/webhooks/{generated['webhookId']}/deliveries"
    deadline = time.monotonic() + 10
    while not (log := call(server, "GET", path, ADMIN_KEY).json()["deliveries"]):
        assert time.monotonic() < deadline, "the delivery was not logged"
        time.sleep(0.1)
    [delivery] = log
    assert (delivery["eventId"], delivery["statusCode"], delivery["attempt"]) == (event_id, 204, 1)
    assert isinstance(delivery["latencyMs"], int)
    paged = call(server, "GET", path + f"?maxResults=1&nextToken={delivery['deliveryId']}", ADMIN_KEY)
    assert paged.json() == {"deliveries": []}

    for hook in (generated["webhookId"], chosen["webhookId"]):
        deleted = call(server, "DELETE", f"/webhooks/{hook}", ADMIN_KEY)
        assert deleted.status_code == 204 and deleted.content == b""
        error(call(server, "GET", f"/webhooks/{hook}", ADMIN_KEY), 404, "NotFound")
        error(call(server, "DELETE", f"/webhooks/{hook}", ADMIN_KEY), 404, "NotFound")
    audited = [
        json.loads(line)["event"]["action"]
        for line in server.cli("audit", "export").stdout.splitlines()
        if '"allow"' in line
    ]
    assert {"strongroom:CreateWebhook", "strongroom:DeleteWebhook", "strongroom:TestWebhook"} <= set(audited)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/webhooks", b"not json"),
        ("POST", "/webhooks", b"[1, 2]"),
        ("POST", "/webhooks", b'{"events": ["image.push"]}'),
        ("POST", "/webhooks", b'{"url": "https://x.example.com/", "events": "image.push"}'),
        ("POST", "/webhooks", b'{"url": "https://x.example.com/", "events": []}'),
        ("POST", "/webhooks", b'{"url": "https://x.example.com/", "events": ["no.such"]}'),
        ("POST", "/webhooks", b'{"url": "ftp://x.example.com/", "events": ["image.push"]}'),
        ("POST", "/webhooks", b'{"url": "https://x.example.com/", "events": ["image.push"], "secret": "x"}'),
        ("POST", "/webhooks", b'{"url": "https://x.example.com/", "events": ["image.push"], "colour": 1}'),
        ("POST", "/webhooks", b'{"url": 7, "events": ["image.push"]}'),
        ("GET", "/webhooks?maxResults=0", b""),
        ("GET", "/webhooks?nextToken=bm90LWEtdG9rZW4", b""),
        ("GET", "/webhooks/not-a-webhook", b""),
        ("GET", "/webhooks/WH-../deliveries", b""),
        ("GET", "/webhooks/wh-abc/deliveries?nextToken=x", b""),
        ("GET", "/webhooks/wh-abc/deliveries?nextToken=%C2%B2", b""),
        ("GET", "/webhooks?maxResults=%C2%B2", b""),
        ("POST", "/webhooks", b"[" * 5000 + b"]" * 5000),
        ("POST", "/webhooks", b'{"url": "https://x.example.com/", "url": "https://y.example.com/"}'),
        ("POST", "/webhooks", b"\xff\xfe"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_in_the_admin_error_shape(
    server: RunningServer, method: str, path: str, body: bytes
) -> None:
    error(call(server, method, path, ADMIN_KEY, raw=body), 400, "InvalidRequest")
