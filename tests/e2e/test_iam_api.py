"""The IAM and STS query APIs against a real server, driven by boto3 (and the AWS CLI
when it is installed): users, access keys, inline and managed policies, SigV4 errors,
and a key made through IAM working on STS and on the OCI API."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from support.aws import REGION, error_of
from support.aws import aws_client as client
from support.server import RunningServer
from support.tools import require

pytestmark = pytest.mark.e2e

PULL_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["ecr:BatchGetImage"], "Resource": "*"}],
    }
)


def strongroom_output(server: RunningServer, *args: str) -> str:
    return server.cli(*args).stdout


def strongroom(server: RunningServer, *args: str) -> Any:
    return server.cli_json(*args)


@pytest.fixture(scope="module")
def admin_key(shared_server: RunningServer) -> tuple[str, str]:
    key = strongroom(shared_server, "iam", "create-access-key", "--user-name", "admin")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def iam(shared_server: RunningServer, admin_key: tuple[str, str]) -> Any:
    return client(shared_server, "iam", *admin_key)


@pytest.fixture(scope="module")
def account(shared_server: RunningServer) -> str:
    return str(strongroom(shared_server, "migrate")["account_id"])


def test_a_user_made_through_iam_signs_in_to_sts_and_to_the_registry(
    shared_server: RunningServer, iam: Any, account: str
) -> None:
    created = iam.create_user(UserName="alice")["User"]
    assert created["Arn"] == f"arn:aws:iam::{account}:user/alice"
    assert created["UserId"].startswith("AIDA")
    assert iam.get_user(UserName="alice")["User"]["UserId"] == created["UserId"]
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and key["Status"] == "Active"
    assert len(key["SecretAccessKey"]) == 40
    iam.put_user_policy(UserName="alice", PolicyName="pull", PolicyDocument=PULL_POLICY)
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == ["pull"]
    stored = iam.get_user_policy(UserName="alice", PolicyName="pull")
    assert stored["PolicyDocument"] == json.loads(PULL_POLICY)  # botocore decodes the percent-encoding
    listed = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key["AccessKeyId"], "Active")]

    sts = client(shared_server, "sts", key["AccessKeyId"], key["SecretAccessKey"])
    identity = sts.get_caller_identity()
    assert identity["Arn"] == created["Arn"]
    assert identity["Account"] == account
    assert identity["UserId"] == created["UserId"]
    with httpx.Client(base_url=shared_server.url, auth=(key["AccessKeyId"], key["SecretAccessKey"])) as oci:
        assert oci.get("/v2/").status_code == 200

    # Alice has no IAM permissions: not even to read herself.
    alice_iam = client(shared_server, "iam", key["AccessKeyId"], key["SecretAccessKey"])
    code, message, status = error_of(alice_iam.get_user)
    assert (code, status) == ("AccessDenied", 403)
    assert message.startswith(f"User: {created['Arn']} is not authorized to perform: iam:GetUser")
    assert error_of(alice_iam.create_user, UserName="mallory")[::2] == ("AccessDenied", 403)
    with pytest.raises(ClientError):
        iam.get_user(UserName="mallory")

    # A deactivated key stops working at once.
    iam.update_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert error_of(sts.get_caller_identity)[::2] == ("InvalidClientTokenId", 403)

    # Changes are audited as the caller who made them, and so are denials.
    lines = strongroom_output(shared_server, "audit", "export").splitlines()
    events = [json.loads(line)["event"] for line in lines]
    seen = {(e["principal"], e["action"], e["resource"], e["decision"]) for e in events}
    admin_arn = f"arn:aws:iam::{account}:user/admin"
    assert (admin_arn, "iam:CreateUser", created["Arn"], "allow") in seen
    assert (admin_arn, "iam:PutUserPolicy", created["Arn"], "allow") in seen
    assert (created["Arn"], "iam:CreateUser", f"arn:aws:iam::{account}:user/mallory", "deny") in seen


def test_the_administrator_reads_itself_without_naming_itself(iam: Any, account: str) -> None:
    me = iam.get_user()["User"]
    assert me["UserName"] == "admin"
    assert me["Arn"] == f"arn:aws:iam::{account}:user/admin"


def test_iam_errors_have_their_aws_codes_and_statuses(iam: Any) -> None:
    iam.create_user(UserName="bob")
    assert error_of(iam.create_user, UserName="bob") == (
        "EntityAlreadyExists", "User with name bob already exists.", 409
    )  # fmt: skip
    assert error_of(iam.get_user, UserName="nobody") == (
        "NoSuchEntity", "The user with name nobody cannot be found.", 404
    )  # fmt: skip
    no_resource = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*"}]})
    assert error_of(iam.put_user_policy, UserName="bob", PolicyName="p", PolicyDocument=no_resource) == (
        "MalformedPolicyDocument",
        "Statement 0: one of Resource or NotResource is required in an identity policy",
        400,
    )
    assert error_of(iam.put_user_policy, UserName="bob", PolicyName="p", PolicyDocument="{")[0] == (
        "MalformedPolicyDocument"
    )
    assert error_of(iam.create_user, UserName="not a valid name")[::2] == ("ValidationError", 400)
    assert error_of(iam.get_user_policy, UserName="bob", PolicyName="none")[::2] == ("NoSuchEntity", 404)

    key = iam.create_access_key(UserName="bob")["AccessKey"]
    iam.create_access_key(UserName="bob")
    assert error_of(iam.create_access_key, UserName="bob")[::2] == ("LimitExceeded", 409)
    iam.put_user_policy(UserName="bob", PolicyName="pull", PolicyDocument=PULL_POLICY)
    assert error_of(iam.delete_user, UserName="bob") == (
        "DeleteConflict", "Cannot delete entity, must delete access keys first.", 409
    )  # fmt: skip
    for listed in iam.list_access_keys(UserName="bob")["AccessKeyMetadata"]:
        iam.delete_access_key(UserName="bob", AccessKeyId=listed["AccessKeyId"])
    assert error_of(iam.delete_access_key, UserName="bob", AccessKeyId=key["AccessKeyId"])[::2] == (
        "NoSuchEntity", 404
    )  # fmt: skip
    assert error_of(iam.delete_user, UserName="bob")[::2] == ("DeleteConflict", 409)  # the inline policy
    iam.delete_user_policy(UserName="bob", PolicyName="pull")
    iam.delete_user(UserName="bob")
    assert error_of(iam.get_user, UserName="bob")[::2] == ("NoSuchEntity", 404)


def test_bad_signatures_and_unknown_keys_are_refused(
    shared_server: RunningServer, admin_key: tuple[str, str]
) -> None:
    key_id, secret = admin_key
    wrong = client(shared_server, "iam", key_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert error_of(wrong.list_users)[::2] == ("SignatureDoesNotMatch", 403)
    wrong_sts = client(shared_server, "sts", key_id, "x" * 40)
    assert error_of(wrong_sts.get_caller_identity)[::2] == ("SignatureDoesNotMatch", 403)
    unknown = client(shared_server, "sts", "AKIAAAAAAAAAAAAAAAAA", secret)
    assert error_of(unknown.get_caller_identity) == (
        "InvalidClientTokenId", "The security token included in the request is invalid.", 403
    )  # fmt: skip
    unsigned = httpx.post(shared_server.url, data={"Action": "ListUsers", "Version": "2010-05-08"})
    assert unsigned.status_code == 403
    assert "<Code>MissingAuthenticationToken</Code>" in unsigned.text


def test_managed_policies_attach_and_detach(shared_server: RunningServer, iam: Any, account: str) -> None:
    iam.create_user(UserName="carol")
    created = iam.create_policy(PolicyName="ReadOnly", PolicyDocument=PULL_POLICY, Description="pull")
    policy = created["Policy"]
    arn = f"arn:aws:iam::{account}:policy/ReadOnly"
    assert policy["Arn"] == arn and policy["PolicyId"].startswith("ANPA")
    assert error_of(iam.create_policy, PolicyName="ReadOnly", PolicyDocument=PULL_POLICY)[::2] == (
        "EntityAlreadyExists", 409
    )  # fmt: skip
    iam.attach_user_policy(UserName="carol", PolicyArn=arn)
    attached = iam.list_attached_user_policies(UserName="carol")["AttachedPolicies"]
    assert attached == [{"PolicyName": "ReadOnly", "PolicyArn": arn}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == json.loads(PULL_POLICY)
    local = iam.list_policies(Scope="Local", OnlyAttached=True)["Policies"]
    assert [p["Arn"] for p in local] == [arn]
    assert error_of(iam.delete_policy, PolicyArn=arn)[::2] == ("DeleteConflict", 409)
    assert error_of(iam.delete_user, UserName="carol")[::2] == ("DeleteConflict", 409)
    iam.detach_user_policy(UserName="carol", PolicyArn=arn)
    assert error_of(iam.detach_user_policy, UserName="carol", PolicyArn=arn)[::2] == ("NoSuchEntity", 404)
    iam.delete_policy(PolicyArn=arn)
    assert error_of(iam.get_policy, PolicyArn=arn)[::2] == ("NoSuchEntity", 404)
    missing = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert error_of(iam.attach_user_policy, UserName="carol", PolicyArn=missing)[::2] == ("NoSuchEntity", 404)
    iam.delete_user(UserName="carol")


def test_listings_page_with_marker_and_max_items(iam: Any) -> None:
    names = [f"page-{i}" for i in range(5)]
    for name in names:
        iam.create_user(UserName=name, Path="/paged/")
    first = iam.list_users(PathPrefix="/paged/", MaxItems=2)
    assert [u["UserName"] for u in first["Users"]] == names[:2]
    assert first["IsTruncated"] is True
    second = iam.list_users(PathPrefix="/paged/", MaxItems=2, Marker=first["Marker"])
    assert [u["UserName"] for u in second["Users"]] == names[2:4]
    every = [u["UserName"] for page in iam.get_paginator("list_users").paginate(
        PathPrefix="/paged/", PaginationConfig={"PageSize": 2}) for u in page["Users"]]  # fmt: skip
    assert every == names
    assert error_of(iam.list_users, Marker="!!not-a-marker!!")[::2] == ("ValidationError", 400)
    for name in names:
        iam.delete_user(UserName=name)


def test_the_aws_cli_speaks_to_iam_and_sts(
    shared_server: RunningServer, admin_key: tuple[str, str], account: str, tmp_path: Any
) -> None:
    executable = require("awscli", "aws")
    key_id, secret = admin_key
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
    }  # fmt: skip
    for name in ("PYENV_VERSION", "PYENV_ROOT"):
        if name in os.environ:
            env[name] = os.environ[name]

    def aws(*args: str) -> Any:
        result = subprocess.run(
            [executable, "--endpoint-url", shared_server.url, "--output", "json", *args],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    assert aws("sts", "get-caller-identity")["Arn"] == f"arn:aws:iam::{account}:user/admin"
    aws("iam", "create-user", "--user-name", "from-cli")
    assert "from-cli" in [u["UserName"] for u in aws("iam", "list-users")["Users"]]
    aws("iam", "delete-user", "--user-name", "from-cli")
