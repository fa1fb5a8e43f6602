"""IAM's policy simulator through boto3 against a real server: SimulatePrincipalPolicy
answers what the server decides for a stored user or role (checked against real requests),
SimulateCustomPolicy decides the documents given, and both are authorized like any IAM
action, so nobody learns another principal's access without iam:SimulatePrincipalPolicy.

The cases are ones whose answer does not depend on how naming an account is treated:
identity policies that allow or deny explicitly, and resource policies naming the
principal's own ARN.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.aws import aws_client, error_of
from support.server import RunningServer

pytestmark = pytest.mark.e2e

REPOSITORY = "sim/model"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def iam(shared_server: RunningServer) -> Any:
    return aws_client(shared_server, "iam")


@pytest.fixture(scope="module")
def repository_arn(ecr: Any) -> str:
    return str(ecr.create_repository(repositoryName=REPOSITORY)["repository"]["repositoryArn"])


@pytest.fixture(scope="module")
def pusher(iam: Any, repository_arn: str) -> dict[str, str]:
    """A user whose own policy allows pushes and denies deleting the repository; the
    repository's policy names it for pulls."""
    user = iam.create_user(UserName="sim-pusher")["User"]
    iam.put_user_policy(
        UserName="sim-pusher",
        PolicyName="push",
        PolicyDocument=document(
            {"Sid": "Push", "Effect": "Allow", "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload"],
             "Resource": repository_arn},
            {"Sid": "NeverDelete", "Effect": "Deny", "Action": "ecr:DeleteRepository", "Resource": "*"},
        ),
    )  # fmt: skip
    key = iam.create_access_key(UserName="sim-pusher")["AccessKey"]
    return {"arn": user["Arn"], "key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def decisions(response: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["EvalActionName"], r["EvalResourceName"]): r for r in response["EvaluationResults"]}


def test_simulate_principal_policy_answers_what_the_server_decides(
    iam: Any, ecr: Any, shared_server: RunningServer, pusher: dict[str, str], repository_arn: str
) -> None:
    ecr.set_repository_policy(
        repositoryName=REPOSITORY,
        policyText=document(
            {"Sid": "PullForPusher", "Effect": "Allow", "Principal": {"AWS": pusher["arn"]},
             "Action": "ecr:BatchGetImage"}
        ),
    )  # fmt: skip
    actions = ["ecr:InitiateLayerUpload", "ecr:BatchGetImage", "ecr:DeleteRepository", "ecr:TagResource"]
    simulated = decisions(
        iam.simulate_principal_policy(
            PolicySourceArn=pusher["arn"], ActionNames=actions, ResourceArns=[repository_arn]
        )
    )
    upload = simulated[("ecr:InitiateLayerUpload", repository_arn)]
    assert upload["EvalDecision"] == "allowed"
    assert upload["MatchedStatements"] == [{"SourcePolicyId": "push", "SourcePolicyType": "user"}]
    pull = simulated[("ecr:BatchGetImage", repository_arn)]
    assert pull["EvalDecision"] == "allowed"
    assert pull["MatchedStatements"] == [
        {"SourcePolicyId": "repository-policy", "SourcePolicyType": "resource"}
    ]
    assert simulated[("ecr:DeleteRepository", repository_arn)]["EvalDecision"] == "explicitDeny"
    assert simulated[("ecr:TagResource", repository_arn)]["EvalDecision"] == "implicitDeny"
    assert simulated[("ecr:TagResource", repository_arn)]["MatchedStatements"] == []

    # The same requests, made by the user for real, get the same answers.
    as_pusher = aws_client(shared_server, "ecr", pusher["key"], pusher["secret"])
    assert as_pusher.initiate_layer_upload(repositoryName=REPOSITORY)["uploadId"]
    assert (
        as_pusher.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": "none"}])["images"] == []
    )
    for call, kwargs in (
        (as_pusher.delete_repository, {"repositoryName": REPOSITORY}),
        (as_pusher.tag_resource, {"resourceArn": repository_arn, "tags": [{"Key": "k", "Value": "v"}]}),
    ):
        assert error_of(call, **kwargs)[0] == "AccessDeniedException"


def test_simulate_a_role_and_its_trust_policy(iam: Any, pusher: dict[str, str], repository_arn: str) -> None:
    role = iam.create_role(
        RoleName="sim-deployer",
        AssumeRolePolicyDocument=document(
            {"Effect": "Allow", "Principal": {"AWS": pusher["arn"]}, "Action": "sts:AssumeRole"}
        ),
    )["Role"]
    iam.put_role_policy(
        RoleName="sim-deployer",
        PolicyName="describe",
        PolicyDocument=document({"Effect": "Allow", "Action": "ecr:DescribeImages", "Resource": "*"}),
    )
    as_role = decisions(
        iam.simulate_principal_policy(
            PolicySourceArn=role["Arn"], ActionNames=["ecr:DescribeImages"], ResourceArns=[repository_arn]
        )
    )[("ecr:DescribeImages", repository_arn)]
    assert as_role["EvalDecision"] == "allowed"
    assert as_role["MatchedStatements"] == [{"SourcePolicyId": "describe", "SourcePolicyType": "role"}]
    trusted = iam.simulate_principal_policy(
        PolicySourceArn=pusher["arn"], ActionNames=["sts:AssumeRole"], ResourceArns=[role["Arn"]]
    )["EvaluationResults"][0]
    assert trusted["EvalDecision"] == "allowed"
    assert trusted["MatchedStatements"][0]["SourcePolicyType"] == "resource"


def test_simulating_needs_its_own_permission(
    iam: Any, shared_server: RunningServer, pusher: dict[str, str]
) -> None:
    """The hostile caller: a user trying to learn what the administrator may do."""
    admin_arn = iam.get_user()["User"]["Arn"]
    nosy = aws_client(shared_server, "iam", pusher["key"], pusher["secret"])
    code, _, status = error_of(
        nosy.simulate_principal_policy, PolicySourceArn=admin_arn, ActionNames=["ecr:DeleteRepository"]
    )
    assert (code, status) == ("AccessDenied", 403)
    everything = document({"Effect": "Allow", "Action": "*", "Resource": "*"})
    assert error_of(
        nosy.simulate_custom_policy, PolicyInputList=[everything], ActionNames=["ecr:PutImage"]
    )[0] == "AccessDenied"  # fmt: skip
    # Allowed to simulate itself only: still not the administrator, nor another account's user.
    iam.put_user_policy(
        UserName="sim-pusher",
        PolicyName="simulate-self",
        PolicyDocument=document(
            {"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": pusher["arn"]}
        ),
    )
    try:
        own = nosy.simulate_principal_policy(PolicySourceArn=pusher["arn"], ActionNames=["ecr:PutImage"])
        assert own["EvaluationResults"][0]["EvalResourceName"] == "*"
        assert error_of(
            nosy.simulate_principal_policy, PolicySourceArn=admin_arn, ActionNames=["ecr:PutImage"]
        )[0] == "AccessDenied"  # fmt: skip
        other = "arn:aws:iam::999999999999:user/sim-pusher"
        assert error_of(
            nosy.simulate_principal_policy, PolicySourceArn=other, ActionNames=["ecr:PutImage"]
        )[0] == "AccessDenied"  # fmt: skip
    finally:
        iam.delete_user_policy(UserName="sim-pusher", PolicyName="simulate-self")


def test_bad_simulation_input_is_a_4xx(iam: Any, pusher: dict[str, str]) -> None:
    account = pusher["arn"].split(":")[4]
    missing = f"arn:aws:iam::{account}:user/nobody"
    code, _, status = error_of(
        iam.simulate_principal_policy, PolicySourceArn=missing, ActionNames=["ecr:PutImage"]
    )
    assert (code, status) == ("NoSuchEntity", 404)
    bad = error_of(
        iam.simulate_principal_policy, PolicySourceArn="arn:aws:s3:::some-bucket", ActionNames=["a:b"]
    )
    assert bad[2] in (400, 403)
    extra = error_of(
        iam.simulate_principal_policy, PolicySourceArn=pusher["arn"], ActionNames=["ecr:PutImage"],
        CallerArn=pusher["arn"],
    )  # fmt: skip
    assert extra[2] == 400 and "CallerArn is not supported" in extra[1]
    actions = [f"ecr:Action{n}" for n in range(101)]
    resources = [f"arn:aws:ecr:::r/{n}" for n in range(10)]
    many = error_of(
        iam.simulate_principal_policy,
        PolicySourceArn=pusher["arn"],
        ActionNames=actions,
        ResourceArns=resources,
    )
    assert many[2] == 400 and "at most 1000 decisions" in many[1]
    malformed = error_of(
        iam.simulate_custom_policy, PolicyInputList=['{"Statement": 1}'], ActionNames=["x:y"]
    )
    assert malformed[0] == "MalformedPolicyDocument"


def test_simulate_custom_policy_with_the_seed_statement(
    iam: Any, pusher: dict[str, str], repository_arn: str
) -> None:
    """The seed's repository policy: pushes only for the registry acting for the repository."""
    seed = document(
        {"Sid": "ReplicationOnly", "Effect": "Allow", "Principal": "*", "Action": "ecr:PutImage",
         "Condition": {"StringEquals": {"aws:SourceArn": repository_arn}}}
    )  # fmt: skip
    nothing = document({"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"})
    common = {"PolicyInputList": [nothing], "ActionNames": ["ecr:PutImage"], "ResourceArns": [repository_arn],
              "ResourcePolicy": seed, "CallerArn": pusher["arn"]}  # fmt: skip
    without = iam.simulate_custom_policy(**common)["EvaluationResults"][0]
    assert without["EvalDecision"] == "implicitDeny"
    assert without["MissingContextValues"] == ["aws:SourceArn"]  # what would change the answer
    source = {
        "ContextKeyName": "aws:SourceArn",
        "ContextKeyValues": [repository_arn],
        "ContextKeyType": "string",
    }
    carrying = iam.simulate_custom_policy(**common, ContextEntries=[source])["EvaluationResults"][0]
    assert carrying["EvalDecision"] == "allowed"
    assert carrying.get("MissingContextValues", []) == []
    (statement,) = carrying["MatchedStatements"]
    assert (statement["SourcePolicyId"], statement["SourcePolicyType"]) == ("ResourcePolicy", "resource")
    assert statement["StartPosition"]["Line"] == 1 and statement["EndPosition"]["Column"] > statement[
        "StartPosition"]["Column"]  # fmt: skip
    denied = iam.simulate_custom_policy(
        PolicyInputList=[document({"Sid": "No", "Effect": "Deny", "Action": "ecr:*", "Resource": "*"})],
        ActionNames=["ecr:PutImage"],
    )["EvaluationResults"][0]
    assert denied["EvalDecision"] == "explicitDeny"
    assert denied["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"


def test_simulating_assume_role_does_not_reveal_which_roles_exist(iam: Any, pusher: dict[str, str]) -> None:
    """As AssumeRole itself: an unknown role, here or in another account, is refused like
    an untrusted one, never as NoSuchEntity."""
    account = pusher["arn"].split(":")[4]
    iam.create_role(
        RoleName="sim-untrusting",
        AssumeRolePolicyDocument=document(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:user/someone-else"},
             "Action": "sts:AssumeRole"}
        ),
    )  # fmt: skip
    roles = [
        f"arn:aws:iam::{account}:role/sim-untrusting",
        f"arn:aws:iam::{account}:role/sim-absent",
        "arn:aws:iam::999999999999:role/anything",
    ]
    results = iam.simulate_principal_policy(
        PolicySourceArn=pusher["arn"], ActionNames=["sts:AssumeRole"], ResourceArns=roles
    )["EvaluationResults"]
    assert [(r["EvalResourceName"], r["EvalDecision"]) for r in results] == [
        (arn, "implicitDeny") for arn in roles
    ]
