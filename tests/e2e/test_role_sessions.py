"""Role sessions against a real server: what a session's credentials lead to ends with the
session, a trust policy's ``sts:ExternalId`` condition is honoured, and IAM and STS
changes are audited with the address they came from."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from support.aws import aws_client, error_of
from support.server import RunningServer

pytestmark = pytest.mark.e2e


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user_allowed_to_assume(server: RunningServer, iam: Any, user: str, role_arn: str) -> tuple[str, str, str]:
    """A user whose own policy allows ``sts:AssumeRole`` on ``role_arn``: (arn, key id, secret)."""
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    own = document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn})
    iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=own)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return arn, key["AccessKeyId"], key["SecretAccessKey"]


def test_a_sessions_registry_password_expires_with_the_session(shared_server: RunningServer) -> None:
    iam = aws_client(shared_server, "iam")
    account = aws_client(shared_server, "sts").get_caller_identity()["Account"]
    role_arn = f"arn:aws:iam::{account}:role/short-lived"
    user_arn, key_id, secret = user_allowed_to_assume(shared_server, iam, "short", role_arn)
    trust = document({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="short-lived", AssumeRolePolicyDocument=trust)
    login = document({"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"})
    iam.put_role_policy(RoleName="short-lived", PolicyName="login", PolicyDocument=login)
    sts = aws_client(shared_server, "sts", key_id=key_id, secret=secret)
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="ci", DurationSeconds=900)["Credentials"]
    session = aws_client(
        shared_server, "ecr", key_id=credentials["AccessKeyId"], secret=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )  # fmt: skip
    data = session.get_authorization_token()["authorizationData"][0]
    # Not 12 hours later: the password is worth what the session is.
    assert abs(data["expiresAt"] - credentials["Expiration"]) <= timedelta(seconds=1)
    assert data["expiresAt"] < datetime.now(UTC) + timedelta(minutes=16)
    _, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    with httpx.Client(base_url=shared_server.url, auth=("AWS", password)) as registry:
        assert registry.get("/v2/").status_code == 200
        token = registry.get("/token", params={"service": shared_server.registry}).json()
    assert token["expires_in"] <= 300


@pytest.mark.parametrize(
    ("external_id", "allowed"),
    [("expected-4711", True), (None, False), ("wrong-4711", False), ("EXPECTED-4711", False)],
)
def test_a_trust_policys_external_id_condition_is_honoured(
    shared_server: RunningServer, external_id: str | None, allowed: bool
) -> None:
    iam = aws_client(shared_server, "iam")
    account = aws_client(shared_server, "sts").get_caller_identity()["Account"]
    name = f"vendor-{external_id or 'none'}-{allowed}".lower().replace("expected", "exp")
    name += "-upper" if external_id and external_id.isupper() else ""
    role_arn = f"arn:aws:iam::{account}:role/{name}"
    user_arn, key_id, secret = user_allowed_to_assume(shared_server, iam, f"u-{name}", role_arn)
    trust = document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": user_arn},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "expected-4711"}},
        }
    )
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    sts = aws_client(shared_server, "sts", key_id=key_id, secret=secret)
    arguments = {"RoleArn": role_arn, "RoleSessionName": "vendor"}
    if external_id is not None:
        arguments["ExternalId"] = external_id
    if allowed:
        assert sts.assume_role(**arguments)["AssumedRoleUser"]["Arn"].endswith(f"/{name}/vendor")
    else:
        assert error_of(sts.assume_role, **arguments)[:1] == ("AccessDenied",)


def test_a_malformed_external_id_is_refused(shared_server: RunningServer) -> None:
    sts = aws_client(shared_server, "sts")
    account = sts.get_caller_identity()["Account"]
    code, _, status = error_of(
        sts.assume_role, RoleArn=f"arn:aws:iam::{account}:role/any", RoleSessionName="probe", ExternalId="x y"
    )
    assert (code, status) in {("ValidationError", 400), ("InvalidParameterValue", 400)}


def test_iam_and_sts_events_carry_the_source_address(shared_server: RunningServer) -> None:
    iam = aws_client(shared_server, "iam")
    iam.create_user(UserName="audited-from-here")
    lines = shared_server.cli("audit", "export", "--action", "iam:CreateUser").stdout.splitlines()
    events = [json.loads(line)["event"] for line in lines]
    (created,) = [event for event in events if event["resource"].endswith(":user/audited-from-here")]
    assert created["source_ip"] == "127.0.0.1"
    account = aws_client(shared_server, "sts").get_caller_identity()["Account"]
    error_of(aws_client(shared_server, "sts").assume_role, RoleArn=f"arn:aws:iam::{account}:role/none",
             RoleSessionName="probe")  # fmt: skip
    lines = shared_server.cli("audit", "export", "--action", "sts:AssumeRole").stdout.splitlines()
    denied = [json.loads(line)["event"] for line in lines]
    assert denied and all(event["source_ip"] == "127.0.0.1" for event in denied)
