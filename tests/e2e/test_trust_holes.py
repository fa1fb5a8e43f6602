"""Issue 9 §2.1, §2.4, §2.5 as the attacker wrote them, against a real server: ECR Public
used to grant private access, pushes creating repositories against a Deny, and a user
recreated under a deleted user's name inheriting its grants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.aws import aws_client, error_of
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user(iam: Any, name: str, policy: str | None) -> tuple[str, str, str]:
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=policy)
    return arn, key["AccessKeyId"], key["SecretAccessKey"]


def test_a_user_allowed_only_ecr_public_gets_nothing_private(shared_server: RunningServer) -> None:
    iam = aws_client(shared_server, "iam")
    arn, key_id, secret = user(
        iam, "public-only", document({"Effect": "Allow", "Action": "ecr-public:*", "Resource": "*"})
    )
    public = aws_client(shared_server, "ecr-public", key_id, secret)
    public.create_repository(repositoryName="pub/tool")
    # The attack: grant itself ecr:* through ECR Public's repository policy…
    grant_all = document({"Effect": "Allow", "Principal": {"AWS": arn}, "Action": ["ecr:*", "ecr-public:*"]})
    public.set_repository_policy(repositoryName="pub/tool", policyText=grant_all)
    # … then push over /v2/ and delete through private ECR: both refused.
    with httpx.Client(base_url=shared_server.url, auth=(key_id, secret)) as client:
        assert client.post("/v2/pub/tool/blobs/uploads/").status_code == 403
        assert client.get("/v2/pub/tool/tags/list").status_code == 200  # public: anyone pulls
    ecr = aws_client(shared_server, "ecr", key_id, secret)
    code, _, _ = error_of(ecr.delete_repository, repositoryName="pub/tool", force=True)
    assert code == "AccessDeniedException"
    code, _, _ = error_of(ecr.set_repository_policy, repositoryName="pub/tool", policyText=grant_all)
    assert code == "AccessDeniedException"
    # The private repository policy is a separate document: ECR Public's did not set it.
    admin_ecr = aws_client(shared_server, "ecr")
    code, _, _ = error_of(admin_ecr.get_repository_policy, repositoryName="pub/tool")
    assert code == "RepositoryPolicyNotFoundException"
    assert json.loads(public.get_repository_policy(repositoryName="pub/tool")["policyText"]) == json.loads(
        grant_all
    )


def test_a_repository_policy_deny_of_ecr_public_is_obeyed(shared_server: RunningServer) -> None:
    iam = aws_client(shared_server, "iam")
    arn, key_id, secret = user(
        iam, "public-denied", document({"Effect": "Allow", "Action": "ecr-public:*", "Resource": "*"})
    )
    admin_public = aws_client(shared_server, "ecr-public")
    admin_public.create_repository(repositoryName="pub/locked")
    admin_public.set_repository_policy(
        repositoryName="pub/locked",
        policyText=document({"Effect": "Deny", "Principal": {"AWS": arn}, "Action": "ecr-public:*"}),
    )
    public = aws_client(shared_server, "ecr-public", key_id, secret)
    code, message, _ = error_of(public.get_repository_policy, repositoryName="pub/locked")
    assert code == "AccessDeniedException"
    assert message.endswith("with an explicit deny in a resource-based policy")
    code, _, _ = error_of(public.delete_repository, repositoryName="pub/locked", force=True)
    assert code == "AccessDeniedException"


PUSH_ONLY = document(
    {
        "Effect": "Allow",
        "Action": ["ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
                   "ecr:PutImage", "ecr:BatchCheckLayerAvailability"],
        "Resource": "*",
    }
)  # fmt: skip


def test_a_push_creates_a_repository_only_for_callers_allowed_to_create_it(
    shared_server: RunningServer,
) -> None:
    iam = aws_client(shared_server, "iam")
    _, key_id, secret = user(iam, "pusher", PUSH_ONLY)
    ecr = aws_client(shared_server, "ecr")
    ecr.create_repository(repositoryName="push/existing")
    with httpx.Client(base_url=shared_server.url, auth=(key_id, secret)) as client:
        assert client.post("/v2/push/existing/blobs/uploads/").status_code == 202
        refused = client.post("/v2/push/new/blobs/uploads/")
        assert refused.status_code == 403
        assert "ecr:CreateRepository" in refused.json()["errors"][0]["message"]
        # Allowed everything but with an explicit Deny of creation: the Deny wins.
        iam.put_user_policy(
            UserName="pusher", PolicyName="create",
            PolicyDocument=document({"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
                                    {"Effect": "Deny", "Action": "ecr:CreateRepository", "Resource": "*"}),
        )  # fmt: skip
        assert client.post("/v2/push/new/blobs/uploads/").status_code == 403
        manifest = client.put("/v2/push/new/manifests/v1", content=b"{}")
        assert manifest.status_code == 403
        iam.delete_user_policy(UserName="pusher", PolicyName="create")
        iam.put_user_policy(
            UserName="pusher", PolicyName="create",
            PolicyDocument=document({"Effect": "Allow", "Action": "ecr:CreateRepository", "Resource": "*"}),
        )  # fmt: skip
        assert client.post("/v2/push/new/blobs/uploads/").status_code == 202
    assert ecr.describe_repositories(repositoryNames=["push/new"])["repositories"]
    code, _, _ = error_of(ecr.describe_repositories, repositoryNames=["push/refused"])
    assert code == "RepositoryNotFoundException"


@pytest.mark.parametrize("mode", ["never", "template"])
def test_create_on_push_never_and_template(tmp_path: Path, mode: str) -> None:
    server = start_server(tmp_path / "data", env={"STRONGROOM_CREATE_ON_PUSH": mode})
    try:
        with httpx.Client(base_url=server.url, auth=server.auth) as admin:
            refused = admin.post("/v2/ml/model/blobs/uploads/")
            assert refused.status_code == 404
            assert refused.json()["errors"][0]["code"] == "NAME_UNKNOWN"
            if mode == "template":
                aws_client(server, "ecr").create_repository_creation_template(
                    prefix="ml", appliedFor=["CREATE_ON_PUSH"], imageTagMutability="IMMUTABLE"
                )
                assert admin.post("/v2/ml/model/blobs/uploads/").status_code == 202
                assert admin.post("/v2/other/model/blobs/uploads/").status_code == 404
    finally:
        server.stop()


def test_a_recreated_user_does_not_inherit_the_deleted_users_grants(shared_server: RunningServer) -> None:
    iam, ecr = aws_client(shared_server, "iam"), aws_client(shared_server, "ecr")
    arn, key_id, _ = user(iam, "temp", None)
    ecr.create_repository(repositoryName="inherit/app")
    saved = document(
        {"Sid": "Temp", "Effect": "Allow", "Principal": {"AWS": arn}, "Action": "ecr:ListImages"}
    )
    ecr.set_repository_policy(repositoryName="inherit/app", policyText=saved)
    role_trust = document({"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="temp-role", AssumeRolePolicyDocument=role_trust)
    iam.delete_access_key(UserName="temp", AccessKeyId=key_id)
    iam.delete_user(UserName="temp")
    again, key_id, secret = user(iam, "temp", None)
    assert again == arn
    code, _, _ = error_of(
        aws_client(shared_server, "ecr", key_id, secret).list_images, repositoryName="inherit/app"
    )
    assert code == "AccessDeniedException"
    sts = aws_client(shared_server, "sts", key_id, secret)
    account = arn.split(":")[4]
    code, _, _ = error_of(
        sts.assume_role, RoleArn=f"arn:aws:iam::{account}:role/temp-role", RoleSessionName="x1"
    )
    assert code == "AccessDenied"
    # The text stays as it was saved (Terraform's re-plan compares it).
    assert ecr.get_repository_policy(repositoryName="inherit/app")["policyText"] == saved
    # Saving the policy again binds the ARN to the user who holds it now.
    ecr.set_repository_policy(repositoryName="inherit/app", policyText=saved)
    listed = aws_client(shared_server, "ecr", key_id, secret).list_images(repositoryName="inherit/app")
    assert listed["imageIds"] == []


def test_a_session_is_never_wider_than_asked_for(shared_server: RunningServer) -> None:
    """Session policies and session tags are not applied, so AssumeRole refuses them instead
    of issuing a session with the role's full permissions to a caller who asked for less."""
    iam = aws_client(shared_server, "iam")
    arn, key_id, secret = user(
        iam, "narrowing", document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    )
    trust = document({"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "sts:AssumeRole"})
    role_arn = iam.create_role(RoleName="narrowed", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    sts = aws_client(shared_server, "sts", key_id, secret)
    read_only = document({"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*"})
    for extra in (
        {"Policy": read_only},
        {"PolicyArns": [{"arn": f"arn:aws:iam::{arn.split(':')[4]}:policy/none"}]},
        {"Tags": [{"Key": "team", "Value": "a"}]},
    ):
        code, message, status = error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="narrow", **extra)
        assert (code, status) == ("ValidationError", 400), extra
        assert "not supported" in message
    assert sts.assume_role(RoleArn=role_arn, RoleSessionName="plain")["Credentials"]["AccessKeyId"]
