"""IAM roles and STS AssumeRole against a real server, driven by boto3: a user assumes a
role its trust policy names, and the temporary credentials act as the role's session with
the role's policies. (Expiry is tested on a stepped clock in the contract tests.)"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support.server import RunningServer

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def client(server: RunningServer, service: str, key_id: str, secret: str, token: str | None = None) -> Any:
    return boto3.client(
        service, endpoint_url=server.url, region_name=REGION, config=NO_RETRIES,
        aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
    )  # fmt: skip


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trust(principal_arn: str) -> str:
    return document({"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": "sts:AssumeRole"})


@pytest.fixture(scope="module")
def iam(shared_server: RunningServer) -> Any:
    output = shared_server.cli("iam", "create-access-key", "--user-name", "admin").stdout
    key = json.loads(output)["AccessKey"]
    return client(shared_server, "iam", key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture(scope="module")
def account(iam: Any) -> str:
    return str(iam.get_user()["User"]["Arn"].split(":")[4])


@pytest.fixture(scope="module")
def ci(iam: Any) -> tuple[str, str, str]:
    """A user whose only permission is to assume the ``deployer`` role: (arn, key id, secret)."""
    user = iam.create_user(UserName="ci")["User"]
    key = iam.create_access_key(UserName="ci")["AccessKey"]
    role_arn = user["Arn"].replace(":user/ci", ":role/deployer")
    own = document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn})
    iam.put_user_policy(UserName="ci", PolicyName="assume", PolicyDocument=own)
    return user["Arn"], key["AccessKeyId"], key["SecretAccessKey"]


def test_a_user_assumes_a_role_its_trust_policy_names(
    shared_server: RunningServer, iam: Any, account: str, ci: tuple[str, str, str]
) -> None:
    ci_arn, key_id, secret = ci
    role = iam.create_role(
        RoleName="deployer", AssumeRolePolicyDocument=trust(ci_arn), Description="pushes images"
    )["Role"]
    assert role["Arn"] == f"arn:aws:iam::{account}:role/deployer"
    assert role["RoleId"].startswith("AROA") and role["MaxSessionDuration"] == 3600
    assert iam.get_role(RoleName="deployer")["Role"]["AssumeRolePolicyDocument"] == json.loads(trust(ci_arn))
    assert "deployer" in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    ecr = document(
        {"Effect": "Allow", "Action": "ecr:*", "Resource": f"arn:aws:ecr:*:{account}:repository/app"}
    )
    policy = iam.create_policy(PolicyName="app-push", PolicyDocument=ecr)["Policy"]
    iam.attach_role_policy(RoleName="deployer", PolicyArn=policy["Arn"])
    listable = document({"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"})
    iam.put_role_policy(RoleName="deployer", PolicyName="list-roles", PolicyDocument=listable)
    assert iam.list_role_policies(RoleName="deployer")["PolicyNames"] == ["list-roles"]
    assert iam.get_role_policy(RoleName="deployer", PolicyName="list-roles")["PolicyDocument"] == json.loads(
        listable
    )
    attached = iam.list_attached_role_policies(RoleName="deployer")["AttachedPolicies"]
    assert attached == [{"PolicyName": "app-push", "PolicyArn": policy["Arn"]}]

    sts = client(shared_server, "sts", key_id, secret)
    before = datetime.now(UTC)
    assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="build-42", DurationSeconds=900)
    credentials, user = assumed["Credentials"], assumed["AssumedRoleUser"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    session_arn = f"arn:aws:sts::{account}:assumed-role/deployer/build-42"
    assert user == {"AssumedRoleId": f"{role['RoleId']}:build-42", "Arn": session_arn}
    expiry = credentials["Expiration"]
    assert before + timedelta(seconds=890) <= expiry <= datetime.now(UTC) + timedelta(seconds=910)

    temporary = (credentials["AccessKeyId"], credentials["SecretAccessKey"])
    session_sts = client(shared_server, "sts", *temporary, credentials["SessionToken"])
    identity = session_sts.get_caller_identity()
    assert (identity["Arn"], identity["Account"]) == (session_arn, account)
    assert identity["UserId"] == f"{role['RoleId']}:build-42"

    # The session acts with the role's policies, not the user's.
    session_iam = client(shared_server, "iam", *temporary, credentials["SessionToken"])
    assert "deployer" in [r["RoleName"] for r in session_iam.list_roles()["Roles"]]
    assert error_of(session_iam.list_users) == ("AccessDenied", 403)
    assert error_of(client(shared_server, "iam", key_id, secret).list_roles) == ("AccessDenied", 403)

    # Without its session token, or with another, the key is refused.
    assert error_of(client(shared_server, "sts", *temporary).get_caller_identity) == (
        "InvalidClientTokenId", 403,
    )  # fmt: skip
    wrong = client(shared_server, "sts", *temporary, credentials["SessionToken"] + "x")
    assert error_of(wrong.get_caller_identity) == ("InvalidClientTokenId", 403)
    # A user's long-term key with a session token is refused too.
    assert error_of(client(shared_server, "sts", key_id, secret, "token").get_caller_identity) == (
        "InvalidClientTokenId", 403,
    )  # fmt: skip

    # Longer than the role allows: refused (botocore itself refuses under 900 seconds).
    too_long = {"RoleArn": role["Arn"], "RoleSessionName": "s2", "DurationSeconds": 3601}
    assert error_of(sts.assume_role, **too_long) == ("ValidationError", 400)

    # A role with policies cannot be deleted; its sessions end with it.
    assert error_of(iam.delete_role, RoleName="deployer") == ("DeleteConflict", 409)
    iam.detach_role_policy(RoleName="deployer", PolicyArn=policy["Arn"])
    iam.delete_role_policy(RoleName="deployer", PolicyName="list-roles")
    assert iam.list_attached_role_policies(RoleName="deployer")["AttachedPolicies"] == []
    iam.delete_role(RoleName="deployer")
    assert error_of(iam.get_role, RoleName="deployer") == ("NoSuchEntity", 404)
    assert error_of(session_sts.get_caller_identity) == ("InvalidClientTokenId", 403)


def test_the_trust_policy_must_name_the_caller(
    shared_server: RunningServer, iam: Any, account: str, ci: tuple[str, str, str]
) -> None:
    ci_arn, key_id, secret = ci
    # ci's own policy allows sts:AssumeRole on role/deployer; the trust policy must still name ci.
    admin_arn = f"arn:aws:iam::{account}:user/admin"
    role = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust(admin_arn))["Role"]
    sts = client(shared_server, "sts", key_id, secret)
    assert error_of(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="s1") == ("AccessDenied", 403)
    iam.update_assume_role_policy(RoleName="deployer", PolicyDocument=trust(ci_arn))
    assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/deployer/s1"
    # A role that does not exist is refused as AccessDenied, as in STS.
    missing = f"arn:aws:iam::{account}:role/nobody"
    assert error_of(sts.assume_role, RoleArn=missing, RoleSessionName="s1") == ("AccessDenied", 403)
    # A trust policy without a Principal is malformed.
    no_principal = document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    assert error_of(iam.create_role, RoleName="odd", AssumeRolePolicyDocument=no_principal) == (
        "MalformedPolicyDocument", 400,
    )  # fmt: skip
    iam.delete_role(RoleName="deployer")


def test_a_role_made_with_the_cli_signs_its_sessions_into_the_registry(
    shared_server: RunningServer, account: str, ci: tuple[str, str, str]
) -> None:
    """Role sessions reach ``/v2/`` as on ECR: GetAuthorizationToken with the temporary
    credentials, then ``AWS`` + the password; the role's policies decide each request."""
    ci_arn, key_id, secret = ci
    made = shared_server.cli_json(
        "iam", "create-role", "--role-name", "puller", "--assume-role-policy-document", trust(ci_arn),
        "--description", "pulls reports",
    )["Role"]  # fmt: skip
    assert made["Arn"] == f"arn:aws:iam::{account}:role/puller"
    pull = document(
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "ecr:ListImages",
            "Resource": f"arn:aws:ecr:*:{account}:repository/reports",
        },
    )
    shared_server.cli("iam", "put-role-policy", "--role-name", "puller", "--policy-name", "pull",
                      "--policy-document", pull)  # fmt: skip
    assert "puller" in [r["RoleName"] for r in shared_server.cli_json("iam", "list-roles")["Roles"]]
    own = document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": made["Arn"]})
    shared_server.cli("iam", "put-user-policy", "--user-name", "ci", "--policy-name", "assume-puller",
                      "--policy-document", own)  # fmt: skip
    credentials = client(shared_server, "sts", key_id, secret).assume_role(
        RoleArn=made["Arn"], RoleSessionName="nightly"
    )["Credentials"]
    session = client(
        shared_server, "ecr", credentials["AccessKeyId"], credentials["SecretAccessKey"],
        credentials["SessionToken"],
    )  # fmt: skip
    token = session.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    assert user == "AWS"
    with httpx.Client(base_url=shared_server.url, auth=shared_server.auth) as admin:
        started = admin.post("/v2/reports/blobs/uploads/")  # creates the repository
        assert started.status_code == 202
    with httpx.Client(base_url=shared_server.url, auth=("AWS", password)) as registry:
        assert registry.get("/v2/reports/tags/list").status_code == 200
        assert registry.get("/v2/app/tags/list").status_code == 403
        denied = registry.post("/v2/reports/blobs/uploads/")
        assert denied.status_code == 403
    shared_server.cli("iam", "delete-role-policy", "--role-name", "puller", "--policy-name", "pull")
    with httpx.Client(base_url=shared_server.url, auth=("AWS", password)) as registry:
        assert registry.get("/v2/reports/tags/list").status_code == 403  # policy decides every request
