"""``/admin/v1`` end to end: first what a hostile caller sends (no credentials, forged
ones, a user without policy, another account's administrator), then what operators do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support.images import push_random_image
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer, start_server

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
OTHER_ACCOUNT = "222222222222"
ADMIN_KEY = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # No job runner: the queue stays as the tests leave it.
    running = start_server(tmp_path_factory.mktemp("admin") / "data", args=["--no-jobs", "--workers", "1"])
    try:
        # A subscription, so each push also queues a webhook dispatch job (never run here).
        running.cli("webhook", "create", "--url", "https://hooks.example.com/in", "--events", "image.push")
        push_random_image(running, "team/app", "v1", seed=7)
        push_random_image(running, "team/app", "v2", seed=8)
        yield running
    finally:
        running.stop()


def user_key(
    server: RunningServer, name: str, account: str | None = None, policy: str | None = None
) -> tuple[str, str]:
    where = ["--account-id", account] if account else []
    server.cli("iam", "create-user", "--user-name", name, *where)
    if policy is not None:
        server.cli(
            "iam",
            "put-user-policy",
            "--user-name",
            name,
            "--policy-name",
            "all",
            "--policy-document",
            policy,
            *where,
        )
    key = server.cli_json("iam", "create-access-key", "--user-name", name, *where)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def signed(
    server: RunningServer, method: str, path: str, key: tuple[str, str], service: str = "strongroom"
) -> httpx.Response:
    request = AWSRequest(method, server.url + path, data=b"")
    SigV4Auth(Credentials(*key), service, REGION).add_auth(request)
    return httpx.request(method, server.url + path, headers=dict(request.headers))


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == code and body["message"]
    return body


# --- hostile callers ------------------------------------------------------------------------------


def test_no_or_forged_credentials_get_401(server: RunningServer) -> None:
    error(httpx.get(server.url + "/admin/v1/jobs"), 401, "AuthenticationRequired")
    error(httpx.get(server.url + "/admin/v1/events", headers={"Authorization": "Bearer forged.token.x"}), 401,
          "AuthenticationRequired")  # fmt: skip
    error(
        signed(server, "GET", "/admin/v1/jobs", (ADMIN_ACCESS_KEY_ID, "wrong-secret")),
        401,
        "AuthenticationRequired",
    )
    error(signed(server, "GET", "/admin/v1/jobs", ADMIN_KEY, service="ecr"), 401, "AuthenticationRequired")
    error(
        httpx.post(server.url + "/admin/v1/jobs/1/cancel", auth=(server.user, "wrong")),
        401,
        "AuthenticationRequired",
    )


def test_a_user_without_policy_is_denied_and_audited(server: RunningServer) -> None:
    key = user_key(server, "nobody")
    body = error(signed(server, "GET", "/admin/v1/jobs", key), 403, "AccessDenied")
    assert "strongroom:ListJobs" in body["message"]
    error(signed(server, "POST", "/admin/v1/jobs/1/cancel", key), 403, "AccessDenied")
    error(signed(server, "GET", "/admin/v1/events", key), 403, "AccessDenied")
    exported = [
        json.loads(line)["event"]
        for line in server.cli("audit", "export").stdout.splitlines()
        if line.strip()
    ]
    denied = [e for e in exported if e["decision"] == "deny" and e["principal"].endswith(":user/nobody")]
    assert {e["action"] for e in denied} == {
        "strongroom:ListJobs",
        "strongroom:CancelJob",
        "strongroom:ListEvents",
    }


def test_another_accounts_administrator_sees_no_jobs_and_only_its_own_events(server: RunningServer) -> None:
    server.cli("account", "create", "--id", OTHER_ACCOUNT)
    key = user_key(server, "eve", OTHER_ACCOUNT, ALLOW_ALL)
    for method, path in (
        ("GET", "/admin/v1/jobs"),
        ("GET", "/admin/v1/jobs/1"),
        ("POST", "/admin/v1/jobs/1/retry"),
    ):
        body = error(signed(server, method, path, key), 403, "AccessDenied")
        assert "belong to the deployment" in body["message"]
    events = signed(server, "GET", "/admin/v1/events?since=1d", key)
    assert events.status_code == 200 and events.json()["events"] == []


# --- operators -----------------------------------------------------------------------------------


def test_operators_page_through_events_and_steer_jobs(server: RunningServer) -> None:
    first = signed(server, "GET", "/admin/v1/events?type=image.push&maxResults=1", ADMIN_KEY).json()
    [event] = first["events"]
    assert (event["type"], event["subject"], event["data"]["image-tag"]) == ("image.push", "team/app", "v1")
    second = signed(
        server,
        "GET",
        f"/admin/v1/events?type=image.push&maxResults=1&nextToken={first['nextToken']}",
        ADMIN_KEY,
    ).json()
    assert "events" in second, second
    assert [e["data"]["image-tag"] for e in second["events"]] == ["v2"]

    jobs = signed(server, "GET", "/admin/v1/jobs?kind=webhook.dispatch", ADMIN_KEY).json()["jobs"]
    assert [job["state"] for job in jobs] == ["queued", "queued"]  # the pushes' dispatch jobs, newest first
    newest = jobs[0]["jobId"]
    page = signed(server, "GET", "/admin/v1/jobs?maxResults=1", ADMIN_KEY).json()
    assert len(page["jobs"]) == 1 and page["nextToken"]
    assert signed(server, "POST", f"/admin/v1/jobs/{newest}/cancel", ADMIN_KEY).json()["state"] == "cancelled"
    error(signed(server, "POST", f"/admin/v1/jobs/{newest}/cancel", ADMIN_KEY), 409, "Conflict")
    token = httpx.get(server.url + "/token", params={"service": server.registry}, auth=server.auth).json()[
        "token"
    ]
    retried = httpx.post(
        server.url + f"/admin/v1/jobs/{newest}/retry", headers={"Authorization": f"Bearer {token}"}
    )
    assert retried.status_code == 200 and retried.json()["state"] == "queued"
    basic = httpx.get(server.url + f"/admin/v1/jobs/{newest}", auth=server.auth)
    assert basic.status_code == 200 and basic.json()["jobId"] == newest


@pytest.mark.parametrize(
    "path",
    [
        "/admin/v1/jobs?maxResults=0", "/admin/v1/jobs?maxResults=abc", "/admin/v1/jobs?nextToken=x1",
        "/admin/v1/jobs?state=exploded", "/admin/v1/jobs/abc", "/admin/v1/jobs/99999999999999999999999",
        "/admin/v1/events?since=forever", "/admin/v1/events?type=no.such",
        "/admin/v1/events?nextToken=bm90LWEtdG9rZW4",
        "/admin/v1/events?nextToken=MjAyNi0wMS0wMVQwMDowMDowMHx4",
        "/admin/v1/jobs?maxResults=%C2%B2", "/admin/v1/jobs?nextToken=%C2%B2", "/admin/v1/jobs/%C2%B2",
        "/admin/v1/jobs?nextToken=9999999999999999999999",
    ],
)  # fmt: skip
def test_bad_input_is_a_400_in_the_admin_error_shape(server: RunningServer, path: str) -> None:
    error(signed(server, "GET", path, ADMIN_KEY), 400, "InvalidRequest")


def test_unknown_jobs_are_404(server: RunningServer) -> None:
    error(signed(server, "GET", "/admin/v1/jobs/999999", ADMIN_KEY), 404, "NotFound")
