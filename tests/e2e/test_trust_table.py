"""Issue 9 §1 end to end: whom a repository, registry or trust policy grants, through boto3
against a real server, with users and role sessions in two accounts — and the attacks
that got through before naming an account became delegation instead of a grant.

The same table, engine only: tests/unit/policy/test_principal_table.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from support.aws import aws_client, error_of
from support.server import RunningServer

pytestmark = pytest.mark.e2e

OTHER = "222222222222"
LIST = "ecr:ListImages"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_ECR_AND_ASSUME = document({"Effect": "Allow", "Action": ["ecr:*", "sts:AssumeRole"], "Resource": "*"})


@dataclass
class Identity:
    arn: str
    key_id: str
    secret: str
    token: str | None = None

    def client(self, server: RunningServer, service: str) -> Any:
        return aws_client(server, service, self.key_id, self.secret, aws_session_token=self.token)


@dataclass
class World:
    server: RunningServer
    account: str
    admin_iam: Any
    admin_ecr: Any
    users: dict[str, Identity]

    def cli(self, *args: str) -> Any:
        return self.server.cli_json(*args)


def _home_user(iam: Any, name: str, policy: str | None) -> Identity:
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=policy)
    return Identity(user["Arn"], key["AccessKeyId"], key["SecretAccessKey"])


def _other_user(server: RunningServer, name: str, policy: str | None) -> Identity:
    server.cli("iam", "create-user", "--user-name", name, "--account-id", OTHER)
    key = server.cli_json("iam", "create-access-key", "--user-name", name, "--account-id", OTHER)["AccessKey"]
    if policy is not None:
        server.cli("iam", "put-user-policy", "--user-name", name, "--account-id", OTHER,
                   "--policy-name", "own", "--policy-document", policy)  # fmt: skip
    return Identity(f"arn:aws:iam::{OTHER}:user/{name}", key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture(scope="module")
def world(shared_server: RunningServer) -> World:
    iam, ecr = aws_client(shared_server, "iam"), aws_client(shared_server, "ecr")
    account = iam.get_user()["User"]["Arn"].split(":")[4]
    shared_server.cli("account", "create", "--id", OTHER)
    users = {
        "mallory": _home_user(iam, "mallory", None),  # no policy at all
        "alice": _home_user(iam, "alice", ALLOW_ECR_AND_ASSUME),
        "bob": _other_user(shared_server, "bob", None),
        "bobby": _other_user(shared_server, "bobby", ALLOW_ECR_AND_ASSUME),
    }
    # A role of the home account whose sessions act with no policy of their own.
    iam.create_role(RoleName="bare", AssumeRolePolicyDocument=_trust(users["alice"].arn))
    session = (
        users["alice"]
        .client(shared_server, "sts")
        .assume_role(RoleArn=f"arn:aws:iam::{account}:role/bare", RoleSessionName="table")["Credentials"]
    )
    users["session"] = Identity(
        f"arn:aws:sts::{account}:assumed-role/bare/table",
        session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"],
    )  # fmt: skip
    return World(shared_server, account, iam, ecr, users)


def _trust(*principals: str) -> str:
    return document({"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"})


# The attacks, as they were written.


def test_a_user_with_no_policy_cannot_assume_a_role_whose_trust_names_the_account(world: World) -> None:
    root = f"arn:aws:iam::{world.account}:root"
    world.admin_iam.create_role(RoleName="powerful", AssumeRolePolicyDocument=_trust(root))
    world.admin_iam.put_role_policy(
        RoleName="powerful", PolicyName="all",
        PolicyDocument=document({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    )  # fmt: skip
    sts = world.users["mallory"].client(world.server, "sts")
    role_arn = f"arn:aws:iam::{world.account}:role/powerful"
    code, message, status = error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="escalate")
    assert (code, status) == ("AccessDenied", 403)
    assert world.users["mallory"].arn in message
    # Naming the account delegates: alice's own policy allows sts:AssumeRole, so she may.
    alice = world.users["alice"].client(world.server, "sts")
    assert alice.assume_role(RoleArn=role_arn, RoleSessionName="granted")["AssumedRoleUser"]


def test_a_user_with_no_policy_cannot_pull_where_the_repository_policy_names_the_account(
    world: World,
) -> None:
    world.admin_ecr.create_repository(repositoryName="attack/pull")
    root = f"arn:aws:iam::{world.account}:root"
    world.admin_ecr.set_repository_policy(
        repositoryName="attack/pull",
        policyText=document({"Effect": "Allow", "Principal": {"AWS": root}, "Action": "ecr:*"}),
    )
    mallory = world.users["mallory"]
    with httpx.Client(base_url=world.server.url, auth=(mallory.key_id, mallory.secret)) as client:
        refused = client.get("/v2/attack/pull/tags/list")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "DENIED"
    code, message, _ = error_of(mallory.client(world.server, "ecr").list_images, repositoryName="attack/pull")
    assert code == "AccessDeniedException"
    assert "because no identity-based policy allows the ecr:ListImages action" in message


# The table, row by row: a repository policy naming …, the caller's identity policy …


@dataclass(frozen=True)
class Row:
    caller: str
    names: Callable[[World], object] | None  # the Principal of the repository policy's Allow
    expected: bool

    def label(self) -> str:
        names = self.names.__name__ if self.names else "nothing"
        return f"{self.caller}-{names}-{'allow' if self.expected else 'deny'}"


def caller_arn(world: World, caller: str) -> object:
    return {"AWS": world.users[caller].arn}


def role_arn(world: World, caller: str) -> object:
    return {"AWS": f"arn:aws:iam::{world.account}:role/bare"}


def star(world: World, caller: str) -> object:
    return "*"


def account_id(world: World, caller: str) -> object:
    return {"AWS": OTHER if caller.startswith("bob") else world.account}


def account_root(world: World, caller: str) -> object:
    return {"AWS": f"arn:aws:iam::{OTHER if caller.startswith('bob') else world.account}:root"}


ROWS = [
    Row("mallory", caller_arn, True),  # same account, names the caller's user ARN
    Row("session", role_arn, True),  # … its role's ARN
    Row("session", caller_arn, True),  # … its session's ARN
    Row("mallory", star, True),  # "*"
    Row("mallory", account_id, False),  # the account: delegation, no grant
    Row("mallory", account_root, False),
    Row("session", account_root, False),
    Row("alice", account_root, True),  # the account, and the identity policy allows
    Row("alice", None, True),  # nothing, and the identity policy allows
    Row("bob", caller_arn, False),  # another account: identity policy needed too
    Row("bob", account_id, False),
    Row("bob", star, False),
    Row("bobby", caller_arn, True),
    Row("bobby", account_root, True),
    Row("bobby", star, True),
    Row("bobby", None, False),  # another account, no resource policy
]


@pytest.mark.parametrize("row", ROWS, ids=[row.label() for row in ROWS])
def test_repository_policy_table(world: World, row: Row) -> None:
    name = f"table/{row.label()}"
    world.admin_ecr.create_repository(repositoryName=name)
    if row.names is not None:
        principal = row.names(world, row.caller)
        policy = document({"Effect": "Allow", "Principal": principal, "Action": LIST})
        world.admin_ecr.set_repository_policy(repositoryName=name, policyText=policy)
    ecr = world.users[row.caller].client(world.server, "ecr")
    if row.expected:
        assert ecr.list_images(registryId=world.account, repositoryName=name)["imageIds"] == []
    else:
        code, _, status = error_of(ecr.list_images, registryId=world.account, repositoryName=name)
        assert (code, status) == ("AccessDeniedException", 400)


TRUST_ROWS = [
    Row("mallory", caller_arn, True),
    Row("mallory", star, True),
    Row("mallory", account_root, False),
    Row("alice", account_root, True),
    Row("alice", None, False),  # a trust policy must allow, whatever the identity policy says
    Row("bob", caller_arn, False),
    Row("bobby", caller_arn, True),
    Row("bobby", account_id, True),
    Row("bobby", None, False),
    Row("session", caller_arn, True),  # role chaining: a session assumes a second role
    Row("session", account_root, False),
]


@pytest.mark.parametrize("row", TRUST_ROWS, ids=[row.label() for row in TRUST_ROWS])
def test_trust_policy_table(world: World, row: Row) -> None:
    name = f"trust-{TRUST_ROWS.index(row)}"
    # "nothing": the trust policy names someone else
    principal = row.names(world, row.caller) if row.names else {"AWS": world.users["mallory"].arn}
    trust = document({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})
    world.admin_iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    sts = world.users[row.caller].client(world.server, "sts")
    arn = f"arn:aws:iam::{world.account}:role/{name}"
    if row.expected:
        assert sts.assume_role(RoleArn=arn, RoleSessionName="row")["Credentials"]["AccessKeyId"]
    else:
        code, _, status = error_of(sts.assume_role, RoleArn=arn, RoleSessionName="row")
        assert (code, status) == ("AccessDenied", 403)


def test_an_explicit_deny_wins_on_every_side(world: World) -> None:
    world.admin_ecr.create_repository(repositoryName="table/deny")
    alice = world.users["alice"]
    world.admin_ecr.set_repository_policy(
        repositoryName="table/deny",
        policyText=document(
            {"Effect": "Allow", "Principal": {"AWS": alice.arn}, "Action": "ecr:*"},
            {"Effect": "Deny", "Principal": {"AWS": alice.arn}, "Action": LIST},
        ),
    )
    ecr = alice.client(world.server, "ecr")
    code, message, _ = error_of(ecr.list_images, repositoryName="table/deny")
    assert code == "AccessDeniedException"
    assert message.endswith("with an explicit deny in a resource-based policy")
    assert ecr.describe_repositories(repositoryNames=["table/deny"])["repositories"]


def test_registry_policy_scope_v1_confines_the_registry_policy(world: World) -> None:
    """ECR's REGISTRY_POLICY_SCOPE: under V1 the registry policy governs only replication
    and pull-through actions, so it no longer lets the other account list images."""
    world.admin_ecr.create_repository(repositoryName="scope/app")
    world.admin_ecr.put_registry_policy(
        policyText=document(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                "Action": ["ecr:*"],
                "Resource": f"arn:aws:ecr:us-east-1:{world.account}:repository/scope/*",
            }
        )
    )
    bobby = world.users["bobby"].client(world.server, "ecr")
    try:
        assert bobby.list_images(registryId=world.account, repositoryName="scope/app")["imageIds"] == []
        world.admin_ecr.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V1")
        code, _, _ = error_of(bobby.list_images, registryId=world.account, repositoryName="scope/app")
        assert code == "AccessDeniedException"
    finally:
        world.admin_ecr.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V2")
        world.admin_ecr.delete_registry_policy()
