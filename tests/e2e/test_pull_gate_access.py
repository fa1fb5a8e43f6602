"""The pull gate's hostile callers, against a real server: a user who may only pull cannot
accept a risk, change or delete the policy, or read the entries, through ``/admin/v1`` or
the ECR API; a user granted the gate's actions on one prefix cannot reach past it; another
account's administrator sees and changes nothing of this account's. The gate refuses
everyone alike, its administrator included, and the refusal names its rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support.aws import aws_client
from support.images import push_random_image
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer, start_server

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
OTHER_ACCOUNT = "444444444444"
ADMIN_KEY = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)
REPO = "gated/app"


def policy_of(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


PULL_ONLY = policy_of(
    {
        "Effect": "Allow",
        "Action": [
            "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
            "ecr:DescribeImages", "ecr:DescribeImageScanFindings", "ecr:GetAuthorizationToken",
        ],
        "Resource": "*",
    }
)  # fmt: skip
TEAM_GATEKEEPER = policy_of(
    {"Effect": "Allow", "Action": "strongroom:*", "Resource": "arn:aws:ecr:*:*:repository/team/*"}
)
EVERYTHING = policy_of({"Effect": "Allow", "Action": "*", "Resource": "*"})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("gate-access") / "data", args=["--workers", "1"])
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def account(server: RunningServer) -> str:
    return str(aws_client(server, "ecr").describe_registry()["registryId"])


@pytest.fixture(scope="module")
def gated(server: RunningServer) -> dict[str, Any]:
    """An unscanned image behind a policy that blocks unscanned images, and one accepted risk."""
    push_random_image(server, REPO, "v1", seed=1)
    put = call(server, "PUT", "/pull-policies", ADMIN_KEY,
               {"name": REPO, "blockUnscanned": True, "maxSeverity": "HIGH"})  # fmt: skip
    assert put.status_code == 200, put.text
    entry = {"repository": REPO, "findingId": "CVE-2024-0001", "reason": "r", "expiresAt": "30d"}
    accepted = call(server, "POST", "/accepted-risks", ADMIN_KEY, entry)
    assert accepted.status_code == 201, accepted.text
    return {"risk": accepted.json()["id"]}


def user_key(server: RunningServer, name: str, policy: str, account: str | None = None) -> tuple[str, str]:
    where = ["--account-id", account] if account else []
    server.cli("iam", "create-user", "--user-name", name, *where)
    server.cli("iam", "put-user-policy", "--user-name", name, "--policy-name", "p",
               "--policy-document", policy, *where)  # fmt: skip
    key = server.cli_json("iam", "create-access-key", "--user-name", name, *where)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def call(
    server: RunningServer, method: str, path: str, key: tuple[str, str], body: Any = None
) -> httpx.Response:
    data = json.dumps(body).encode() if body is not None else b""
    path, _, query = path.partition("?")
    url = server.url + "/admin/v1" + path + (f"?{urlencode(parse_qsl(query))}" if query else "")
    request = AWSRequest(method, url, data=data, headers={"content-type": "application/json"})
    SigV4Auth(Credentials(*key), "strongroom", REGION).add_auth(request)
    return httpx.request(method, url, headers=dict(request.headers), content=data)


def audit_events(server: RunningServer) -> list[dict[str, Any]]:
    lines = server.cli("audit", "export").stdout.splitlines()
    return [json.loads(line)["event"] for line in lines if line.strip()]


def still_in_place(server: RunningServer, risk: str) -> None:
    described = call(server, "GET", f"/pull-policies?name={REPO}", ADMIN_KEY)
    assert described.status_code == 200 and described.json()["blockUnscanned"] is True, described.text
    listed = call(server, "GET", f"/accepted-risks?repository={REPO}", ADMIN_KEY).json()["acceptedRisks"]
    assert [entry["id"] for entry in listed] == [risk]


def test_a_user_who_may_only_pull_can_change_nothing_of_the_gate(
    server: RunningServer, gated: dict[str, Any]
) -> None:
    key = user_key(server, "puller", PULL_ONLY)
    attempts = [
        ("PUT", "/pull-policies", {"name": REPO, "maxSeverity": "CRITICAL"}, "strongroom:PutPullPolicy"),
        ("PUT", "/pull-policies", {"scope": "prefix", "name": "", "maxSeverity": "CRITICAL"},
         "strongroom:PutPullPolicy"),
        ("DELETE", f"/pull-policies?name={REPO}", None, "strongroom:DeletePullPolicy"),
        ("GET", f"/pull-policies?name={REPO}", None, "strongroom:DescribePullPolicy"),
        ("POST", "/accepted-risks",
         {"repository": REPO, "findingId": "CVE-2024-0002", "reason": "mine", "expiresAt": "365d"},
         "strongroom:AcceptFindingRisk"),
        ("DELETE", f"/accepted-risks/{gated['risk']}?repository={REPO}", None,
         "strongroom:RevokeFindingRisk"),
        ("GET", f"/accepted-risks?repository={REPO}", None, "strongroom:ListAcceptedRisks"),
    ]  # fmt: skip
    for method, path, body, action in attempts:
        response = call(server, method, path, key, body)
        assert response.status_code == 403, (method, path, response.text)
        assert action in response.json()["error"]["message"]
    still_in_place(server, gated["risk"])
    # The ECR API offers no way around it: the puller's pull is refused like anyone's.
    ecr = aws_client(server, "ecr", *key)
    got = ecr.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    assert got["images"] == []
    [failure] = got["failures"]
    assert failure["failureCode"] == "ImageInaccessible"
    assert "block-unscanned" in failure["failureReason"]


def test_a_gatekeeper_of_one_prefix_cannot_reach_past_it(
    server: RunningServer, gated: dict[str, Any]
) -> None:
    key = user_key(server, "team-gatekeeper", TEAM_GATEKEEPER)
    allowed = call(server, "PUT", "/pull-policies", key, {"name": "team/app", "maxSeverity": "HIGH"})
    assert allowed.status_code == 200, allowed.text
    for method, path, body in [
        ("PUT", "/pull-policies", {"scope": "prefix", "name": "", "maxSeverity": "LOW"}),
        ("PUT", "/pull-policies", {"scope": "prefix", "name": "te", "maxSeverity": "LOW"}),
        ("DELETE", f"/pull-policies?name={REPO}", None),
        (
            "POST",
            "/accepted-risks",
            {"repository": REPO, "findingId": "CVE-1", "reason": "x", "expiresAt": "1d"},
        ),
        ("DELETE", f"/accepted-risks/{gated['risk']}?repository={REPO}", None),
        ("GET", "/accepted-risks", None),
    ]:
        response = call(server, method, path, key, body)
        assert response.status_code == 403, (method, path, response.text)
    still_in_place(server, gated["risk"])


def remote(server: RunningServer, key: tuple[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``strongroom ARGS --endpoint`` signed with ``key``: the commands' remote side."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("STRONGROOM_", "AWS_"))}
    env.update(AWS_ACCESS_KEY_ID=key[0], AWS_SECRET_ACCESS_KEY=key[1], STRONGROOM_ENDPOINT=server.url,
               STRONGROOM_DATA_DIR=str(server.data_dir.parent / "nowhere"))  # fmt: skip
    return subprocess.run([sys.executable, "-m", "strongroom", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_the_commands_act_remotely_as_the_caller_and_are_refused_as_the_api_is(
    server: RunningServer, gated: dict[str, Any]
) -> None:
    key = user_key(server, "cli-gatekeeper", TEAM_GATEKEEPER)
    done = remote(server, key, "repo", "set-pull-policy", "team/", "--prefix", "--max-severity", "critical",
                  "--block-unsafe-models", "--output", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["unsafeModelSeverity"] == "MEDIUM"
    described = remote(server, key, "repo", "describe-pull-policy", "team/cli", "--output", "json")
    assert json.loads(described.stdout)["name"] == "team/", described.stderr
    refused = remote(server, key, "repo", "delete-pull-policy", REPO)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    refused = remote(server, key, "scan", "accept", REPO, "CVE-1", "--reason", "x", "--expires", "1d")
    assert refused.returncode != 0 and "strongroom:AcceptFindingRisk" in refused.stderr
    still_in_place(server, gated["risk"])


def test_another_account_sees_and_changes_nothing(
    server: RunningServer, account: str, gated: dict[str, Any]
) -> None:
    server.cli("account", "create", "--id", OTHER_ACCOUNT)
    key = user_key(server, "intruder", EVERYTHING, account=OTHER_ACCOUNT)
    assert call(server, "GET", "/pull-policies", key).json() == {"pullPolicies": []}
    assert call(server, "GET", "/accepted-risks", key).json() == {"acceptedRisks": []}
    assert call(server, "GET", f"/pull-policies?name={REPO}", key).status_code == 404
    assert call(server, "DELETE", f"/pull-policies?name={REPO}", key).status_code == 404
    revoke = f"/accepted-risks/{gated['risk']}?repository={REPO}"
    assert call(server, "DELETE", revoke, key).status_code == 404
    for method, path, body in [
        ("GET", f"/pull-policies?name={account}/{REPO}", None),
        ("DELETE", f"/pull-policies?name={account}/{REPO}", None),
        ("PUT", "/pull-policies", {"name": f"{account}/{REPO}", "maxSeverity": "LOW"}),
        ("POST", "/accepted-risks",
         {"repository": f"{account}/{REPO}", "findingId": "CVE-1", "reason": "x", "expiresAt": "1d"}),
        ("DELETE", f"/accepted-risks/{gated['risk']}?repository={account}/{REPO}", None),
        ("GET", f"/accepted-risks?repository={account}/{REPO}", None),
    ]:  # fmt: skip
        response = call(server, method, path, key, body)
        assert response.status_code == 403, (method, path, response.text)
    still_in_place(server, gated["risk"])


def test_the_gate_refuses_its_administrator_too_and_the_audit_log_says_why(
    server: RunningServer, gated: dict[str, Any]
) -> None:
    with httpx.Client(base_url=server.url, auth=server.auth) as client:
        refused = client.get(f"/v2/{REPO}/manifests/v1")
        assert client.head(f"/v2/{REPO}/manifests/v1").status_code == 200  # a HEAD is not a pull
    assert refused.status_code == 403
    [error] = refused.json()["errors"]
    assert error["code"] == "DENIED"
    assert error["message"] == (
        "pull refused by pull policy: block-unscanned: the image has no complete scan (status: never scanned)"
    )
    denials = [e for e in audit_events(server) if e["detail"].get("refusedBy") == "pull-gate"]
    assert denials and denials[-1]["decision"] == "deny"
    assert denials[-1]["detail"]["rules"] == ["block-unscanned"]
