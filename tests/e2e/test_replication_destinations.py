"""Replication destinations through ``/admin/v1`` and ``strongroom replication destination``:
first what a hostile caller tries (a member of the operators' account whose policy allows
all of ECR, another account's administrator), then what an operator does. The secret is
never shown again once registered, to anyone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer, start_server

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
ADMIN_KEY = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)
SECRET = "destination-secret-0123456789"
PATH = "/admin/v1/replication/destinations"
DESTINATION = {
    "region": "eu-west-1",
    "registryId": "222222222222",
    "url": "https://eu.example:5000",
    "kind": "strongroom",
    "accessKeyId": "AKIAEUREPLICATOR0001",
    "secret": SECRET,
}


def policy(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("destinations") / "data", args=["--no-jobs", "--workers", "1"]
    )
    try:
        yield running
    finally:
        running.stop()


def user_key(server: RunningServer, name: str, document: str, account: str | None = None) -> tuple[str, str]:
    where = ["--account-id", account] if account else []
    server.cli("iam", "create-user", "--user-name", name, *where)
    server.cli("iam", "put-user-policy", "--user-name", name, "--policy-name", "p", "--policy-document",
               document, *where)  # fmt: skip
    key = server.cli_json("iam", "create-access-key", "--user-name", name, *where)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def signed(
    server: RunningServer, method: str, path: str, key: tuple[str, str], body: Any = None
) -> httpx.Response:
    data = b"" if body is None else json.dumps(body).encode()
    request = AWSRequest(method, server.url + path, data=data, headers={"content-type": "application/json"})
    SigV4Auth(Credentials(*key), "strongroom", REGION).add_auth(request)
    return httpx.request(method, server.url + path, headers=dict(request.headers), content=data)


def denied(response: httpx.Response) -> str:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "AccessDenied"
    return str(response.json()["error"]["message"])


# --- hostile callers ------------------------------------------------------------------------------


def test_a_member_allowed_all_of_ecr_may_not_add_list_or_remove_a_destination(server: RunningServer) -> None:
    key = user_key(server, "developer", policy("ecr:*"))
    assert "strongroom:CreateReplicationDestination" in denied(signed(server, "POST", PATH, key, DESTINATION))
    denied(signed(server, "GET", PATH, key))
    denied(signed(server, "DELETE", f"{PATH}/eu-west-1/222222222222", key))
    assert server.cli_json("replication", "destination", "list", "--output", "json")["destinations"] == []


def test_another_accounts_administrator_may_not_touch_the_deployments_destinations(
    server: RunningServer,
) -> None:
    server.cli("account", "create", "--id", "333333333333")
    key = user_key(server, "eve", policy("*"), "333333333333")
    assert "belong to the deployment" in denied(signed(server, "POST", PATH, key, DESTINATION))
    denied(signed(server, "GET", PATH, key))


def test_bad_input_is_a_clear_400_never_a_500(server: RunningServer) -> None:
    for change in ({"region": "moon"}, {"registryId": "12"}, {"url": "ftp://x"}, {"kind": "s3"},
                   {"secret": ""}, {"extra": 1}):  # fmt: skip
        answer = signed(server, "POST", PATH, ADMIN_KEY, {**DESTINATION, **change})
        assert answer.status_code == 400, (change, answer.text)
        assert answer.json()["error"]["message"]
    assert signed(server, "POST", PATH, ADMIN_KEY, ["not", "an", "object"]).status_code == 400
    assert signed(server, "DELETE", f"{PATH}/nowhere/1", ADMIN_KEY).status_code == 400


# --- operators -----------------------------------------------------------------------------------


def test_an_operator_adds_lists_and_removes_and_the_secret_is_never_shown(server: RunningServer) -> None:
    added = signed(server, "POST", PATH, ADMIN_KEY, DESTINATION)
    assert added.status_code == 201, added.text
    assert SECRET not in added.text
    # Allowed to read destinations, still never their secret.
    reader = user_key(server, "auditor", policy("strongroom:ListReplicationDestinations"))
    listed = signed(server, "GET", PATH, reader)
    assert listed.status_code == 200 and SECRET not in listed.text
    [shown] = listed.json()["destinations"]
    assert shown == {k: v for k, v in DESTINATION.items() if k != "secret"} | {
        "createdAt": shown["createdAt"]
    }
    denied(signed(server, "DELETE", f"{PATH}/eu-west-1/222222222222", reader))
    # At rest it is sealed: the database holds no copy in clear.
    for path in server.data_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert signed(server, "DELETE", f"{PATH}/eu-west-1/222222222222", ADMIN_KEY).status_code == 204
    assert signed(server, "DELETE", f"{PATH}/eu-west-1/222222222222", ADMIN_KEY).status_code == 404


def test_the_command_adds_with_the_secret_on_stdin_lists_and_removes(server: RunningServer) -> None:
    server.cli(
        "replication", "destination", "add", "--region", "us-east-2", "--registry-id", "444444444444",
        "--url", "http://127.0.0.1:9", "--kind", "oci", "--access-key-id", "robot", "--secret-stdin",
        stdin=SECRET + "\n",
    )  # fmt: skip
    listed = server.cli_json("replication", "destination", "list", "--output", "json")["destinations"]
    assert [(d["region"], d["registryId"], d["kind"]) for d in listed] == [
        ("us-east-2", "444444444444", "oci")
    ]
    assert SECRET not in server.cli("replication", "destination", "list").stdout
    server.cli(
        "replication", "destination", "remove", "--region", "us-east-2", "--registry-id", "444444444444"
    )
    assert server.cli_json("replication", "destination", "list", "--output", "json")["destinations"] == []


def test_destination_test_signs_in_and_reports_what_the_credentials_may_do(server: RunningServer) -> None:
    """The destination here is this server itself, reached over loopback: an administrator's
    key may replicate, a pull-only user's may not, a wrong secret does not sign in."""
    account = str(server.cli_json("migrate")["account_id"])
    pull_only = policy(
        "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability", "ecr:ListImages"
    )
    keys = {
        "ap-south-1": ADMIN_KEY,
        "ap-east-1": user_key(server, "puller", pull_only),
        "ap-northeast-1": (ADMIN_ACCESS_KEY_ID, "not-the-secret"),
    }
    reports = {}
    for region, (key_id, secret) in keys.items():
        server.cli(
            "replication", "destination", "add", "--region", region, "--registry-id", account,
            "--url", server.url, "--access-key-id", key_id, "--secret-stdin", stdin=secret + "\n",
        )  # fmt: skip
        ran = server.cli(
            "replication", "destination", "test", f"{region}/{account}", "--output", "json", check=False
        )
        reports[region] = (ran.returncode, json.loads(ran.stdout))
        assert secret not in ran.stdout + ran.stderr
        server.cli("replication", "destination", "remove", "--region", region, "--registry-id", account)
    code, admin = reports["ap-south-1"]
    assert code == 0 and admin["authentication"] == "bearer" and admin["signedIn"] is True, admin
    assert admin["repository"] == f"{account}/replication-test"
    assert admin["granted"] == ["pull", "push", "delete"] and admin["mayReplicate"] is True
    code, puller = reports["ap-east-1"]
    assert code == 1 and puller["signedIn"] is True and puller["granted"] == ["pull"], puller
    assert puller["mayReplicate"] is False
    code, wrong = reports["ap-northeast-1"]
    assert code == 1 and wrong["signedIn"] is False and "refused the login" in " ".join(wrong["notes"]), wrong
    # Nothing was written at the destination.
    with server.client() as http:
        assert http.get("/v2/replication-test/tags/list").status_code == 404
