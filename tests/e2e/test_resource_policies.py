"""Repository and registry policies as the seeds' programs and Terraform set them: stored
as ECR stores them, their findings reported (log, audit event) instead of refused, and
refused only where the site asks for it (``policy_findings = "refuse"``).

``aws:SourceArn``/``aws:SourceAccount`` belong to requests the registry makes for a
resource; no user can bring them, so the seed's ``aws:SourceArn`` statement grants users
nothing, whatever they send.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.aws import aws_client, error_of
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

PUSH = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
]


def everyone_pushes() -> str:
    """The first seed policy: every principal may push."""
    statement = {"Sid": "Push", "Effect": "Allow", "Principal": "*", "Action": PUSH}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def registry_pushes_for(repository_arn: str) -> str:
    """The second seed policy: pushes only by the registry acting for this repository."""
    statement = {
        "Sid": "ReplicationOnly",
        "Effect": "Allow",
        "Principal": "*",
        "Action": PUSH,
        "Condition": {"StringEquals": {"aws:SourceArn": repository_arn}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def audit_events(server: RunningServer, action: str) -> list[dict[str, Any]]:
    lines = server.cli("audit", "export").stdout.splitlines()
    return [event for event in (json.loads(line)["event"] for line in lines) if event["action"] == action]


def user_client(server: RunningServer, name: str) -> tuple[Any, tuple[str, str]]:
    server.cli_json("iam", "create-user", "--user-name", name)
    key = server.cli_json("iam", "create-access-key", "--user-name", name)["AccessKey"]
    pair = (key["AccessKeyId"], key["SecretAccessKey"])
    return aws_client(server, "ecr", *pair), pair


def test_both_seed_policies_are_stored_as_written(ecr: Any, shared_server: RunningServer) -> None:
    arn = ecr.create_repository(repositoryName="seed/everyone")["repository"]["repositoryArn"]
    ecr.create_repository(repositoryName="seed/replicated")
    replicated_arn = arn.replace("seed/everyone", "seed/replicated")
    for name, text in (
        ("seed/everyone", everyone_pushes()),
        ("seed/replicated", registry_pushes_for(replicated_arn)),
    ):
        assert ecr.set_repository_policy(repositoryName=name, policyText=text)["policyText"] == text
        assert ecr.get_repository_policy(repositoryName=name)["policyText"] == text

    recorded = {e["resource"]: e for e in audit_events(shared_server, "ecr:SetRepositoryPolicy")}
    (everyone,) = recorded[arn]["detail"]["findings"][:1]
    assert everyone == {"findingType": "SECURITY_WARNING", "issueCode": "PUBLIC_PRINCIPAL_WITHOUT_CONDITION",
                        "statementIndex": 0}  # fmt: skip
    assert {f["issueCode"] for f in recorded[arn]["detail"]["findings"]} == {
        "PUBLIC_PRINCIPAL_WITHOUT_CONDITION", "WRITE_ACTIONS_FOR_EVERYONE",
    }  # fmt: skip
    assert recorded[replicated_arn]["detail"]["findings"] == [
        {"findingType": "SUGGESTION", "issueCode": "REGISTRY_REQUESTS_ONLY", "statementIndex": 0}
    ]
    assert "WRITE_ACTIONS_FOR_EVERYONE" in shared_server.log()  # logged as a warning


def test_force_changes_nothing_and_unknown_actions_are_still_refused(ecr: Any) -> None:
    ecr.create_repository(repositoryName="seed/force")
    text = everyone_pushes()
    ecr.set_repository_policy(repositoryName="seed/force", policyText=text, force=True)
    assert ecr.get_repository_policy(repositoryName="seed/force")["policyText"] == text
    typo = text.replace("ecr:PutImage", "ecr:PushEverything")
    code, message, status = error_of(ecr.set_repository_policy, repositoryName="seed/force", policyText=typo)
    assert (code, status) == ("InvalidParameterException", 400)
    assert "ecr:PushEverything" in message and "UNKNOWN_ACTION" in message
    assert ecr.get_repository_policy(repositoryName="seed/force")["policyText"] == text


def test_the_registry_policy_is_accepted_the_same_way(ecr: Any, shared_server: RunningServer) -> None:
    text = (
        everyone_pushes()
        .replace('"Sid": "Push", ', "")
        .replace('"Action": [', '"Resource": "*", "Action": [')
    )
    assert ecr.put_registry_policy(policyText=text)["policyText"] == text
    try:
        (event,) = audit_events(shared_server, "ecr:PutRegistryPolicy")[-1:]
        assert "WRITE_ACTIONS_FOR_EVERYONE" in {f["issueCode"] for f in event["detail"]["findings"]}
    finally:
        ecr.delete_registry_policy()


def test_no_user_request_carries_the_source_keys(ecr: Any, shared_server: RunningServer) -> None:
    """The hostile user: no policies of its own, a repository whose only grant is the
    seed's aws:SourceArn statement, and every way it might bring that key along."""
    arn = ecr.create_repository(repositoryName="seed/guarded")["repository"]["repositoryArn"]
    ecr.set_repository_policy(repositoryName="seed/guarded", policyText=registry_pushes_for(arn))
    account = arn.split(":")[4]
    attacker, pair = user_client(shared_server, "source-forger")

    assert (
        error_of(attacker.initiate_layer_upload, repositoryName="seed/guarded")[0] == "AccessDeniedException"
    )

    def forge(params: Any, **_: Any) -> None:
        params["headers"].update({"X-Amz-Source-Arn": arn, "X-Amz-Source-Account": account})

    attacker.meta.events.register("before-call.ecr.InitiateLayerUpload", forge)
    assert (
        error_of(attacker.initiate_layer_upload, repositoryName="seed/guarded")[0] == "AccessDeniedException"
    )

    data = b"forged layer"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    forged = {"X-Amz-Source-Arn": arn, "X-Amz-Source-Account": account, "aws-sourcearn": arn}
    with httpx.Client(base_url=shared_server.url, auth=pair, headers=forged) as client:
        response = client.post(
            "/v2/seed/guarded/blobs/uploads/",
            params={"digest": digest, "aws:SourceArn": arn, "aws:SourceAccount": account},
            content=data,
        )
    assert response.status_code == 403, response.text
    assert response.json()["errors"][0]["code"] == "DENIED"
    assert ecr.list_images(repositoryName="seed/guarded")["imageIds"] == []


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = Path(tmp_path_factory.mktemp("strict")) / "data"
    running = start_server(data, env={"STRONGROOM_POLICY_FINDINGS": "refuse"})
    try:
        yield running
    finally:
        running.stop()


def test_policy_findings_refuse_makes_security_warnings_errors(strict_server: RunningServer) -> None:
    ecr = aws_client(strict_server, "ecr")
    arn = ecr.create_repository(repositoryName="strict/repo")["repository"]["repositoryArn"]
    code, message, _ = error_of(
        ecr.set_repository_policy, repositoryName="strict/repo", policyText=everyone_pushes()
    )
    assert code == "InvalidParameterException"
    assert "statement 0 (Sid 'Push'): SECURITY_WARNING WRITE_ACTIONS_FOR_EVERYONE" in message
    assert error_of(ecr.get_repository_policy, repositoryName="strict/repo")[0] == (
        "RepositoryPolicyNotFoundException"
    )
    # The registry-only statement grants no user: nothing to refuse.
    ecr.set_repository_policy(repositoryName="strict/repo", policyText=registry_pushes_for(arn))
    registry_text = everyone_pushes().replace('"Action": [', '"Resource": "*", "Action": [')
    code, message, _ = error_of(ecr.put_registry_policy, policyText=registry_text)
    assert code == "InvalidParameterException" and "'Invalid registry policy provided'" in message
    # The operator's commands follow the same setting, given as sites give it (a TOML file).
    config = strict_server.data_dir.parent / "strict.toml"
    config.write_text('policy_findings = "refuse"\n')
    command = ["repo", "set-policy", "--repository-name", "strict/repo", "--policy-text", everyone_pushes()]
    refused = strict_server.cli("--config", str(config), *command, check=False)
    assert refused.returncode != 0 and "WRITE_ACTIONS_FOR_EVERYONE" in refused.stderr
    assert strict_server.cli(*command).returncode == 0  # warn, the default, stores it


def test_simulate_from_store_shows_the_seed_statement_needs_the_source_arn(
    ecr: Any, shared_server: RunningServer
) -> None:
    arn = ecr.create_repository(repositoryName="seed/simulated")["repository"]["repositoryArn"]
    ecr.set_repository_policy(repositoryName="seed/simulated", policyText=registry_pushes_for(arn))
    user = shared_server.cli_json("iam", "create-user", "--user-name", "seed-ci")["User"]["Arn"]
    ask = ["iam", "simulate", "--from-store", "--principal", user, "--action", "ecr:PutImage",
           "--resource", arn, "--output", "json"]  # fmt: skip

    carrying = shared_server.cli_json(*ask, "--context", f"aws:SourceArn={arn}")
    assert (carrying["decision"], carrying["allowed"]) == ("allowed", True)
    (statement,) = carrying["statements"]
    assert (statement["source"], statement["index"], statement["sid"]) == ("repository", 0, "ReplicationOnly")
    assert statement["statement"]["Condition"] == {"StringEquals": {"aws:SourceArn": arn}}
    assert carrying["request"]["principalType"] == "user"

    without = shared_server.cli_json(*ask)
    assert (without["decision"], without["statements"]) == ("implicit_deny", [])
    other = shared_server.cli_json(*ask, "--context", f"aws:SourceArn={arn}-other")
    assert other["decision"] == "implicit_deny"


def test_simulate_from_store_reads_identity_and_trust_policies(shared_server: RunningServer) -> None:
    def document(statement: dict[str, Any]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    cli = shared_server.cli_json
    user = cli("iam", "create-user", "--user-name", "seed-deployer")["User"]["Arn"]
    deny = document({"Sid": "NoDeletes", "Effect": "Deny", "Action": "ecr:DeleteRepository", "Resource": "*"})
    cli(
        "iam",
        "put-user-policy",
        "--user-name",
        "seed-deployer",
        "--policy-name",
        "guard",
        "--policy-document",
        deny,
    )
    trust = document(
        {"Sid": "Deployer", "Effect": "Allow", "Principal": {"AWS": user}, "Action": "sts:AssumeRole"}
    )
    role = cli("iam", "create-role", "--role-name", "seed-role", "--assume-role-policy-document", trust)[
        "Role"
    ]

    def simulate(action: str, resource: str) -> Any:
        ask = ["--from-store", "--principal", user, "--action", action, "--resource", resource]
        return cli("iam", "simulate", *ask, "--output", "json")

    denied = simulate("ecr:DeleteRepository", "arn:aws:ecr:us-east-1:" + user.split(":")[4] + ":repository/x")
    assert denied["decision"] == "explicit_deny"
    assert denied["statements"][0]["policy"] == "inline:guard"
    assert denied["statements"][0]["statement"]["Sid"] == "NoDeletes"
    assumed = simulate("sts:AssumeRole", role["Arn"])
    assert assumed["decision"] == "allowed"
    assert [(s["source"], s["sid"]) for s in assumed["statements"]] == [("trust", "Deployer")]
    gone = ["--from-store", "--principal", user + "-gone", "--action", "ecr:PutImage", "--resource", "*"]
    missing = shared_server.cli("iam", "simulate", *gone, check=False)
    assert missing.returncode == 1 and "cannot be found" in missing.stderr


def test_repo_describe_shows_settings_policy_and_findings(ecr: Any, shared_server: RunningServer) -> None:
    created = ecr.create_repository(
        repositoryName="seed/described", imageTagMutability="IMMUTABLE", tags=[{"Key": "team", "Value": "ml"}]
    )["repository"]
    ecr.set_repository_policy(repositoryName="seed/described", policyText=everyone_pushes())

    described = shared_server.cli_json("repo", "describe", "seed/described", "--output", "json")
    facts = described["repository"]
    assert facts["repositoryArn"] == created["repositoryArn"]
    # The command knows the server's address only from the settings it is given (none here).
    assert facts["repositoryUri"].endswith("/seed/described")
    assert (facts["imageTagMutability"], facts["tags"], facts["public"]) == (
        "IMMUTABLE",
        {"team": "ml"},
        False,
    )
    assert described["policy"] == json.loads(everyone_pushes())
    assert described["policyError"] is None
    by_code = {f["issueCode"]: f for f in described["findings"]}
    assert set(by_code) == {"PUBLIC_PRINCIPAL_WITHOUT_CONDITION", "WRITE_ACTIONS_FOR_EVERYONE"}
    assert by_code["WRITE_ACTIONS_FOR_EVERYONE"]["locations"][0]["path"] == [
        {"value": "Statement"}, {"index": 0}, {"value": "Principal"},
    ]  # fmt: skip

    assert described["registryPolicy"] is None and described["registryPolicyFindings"] == []

    table = shared_server.cli("repo", "describe", "seed/described", "--output", "table").stdout
    assert "repository policy: 2 findings" in table
    assert "SECURITY_WARNING  WRITE_ACTIONS_FOR_EVERYONE" in table
    assert "Statement[0].Principal" in table

    missing = shared_server.cli("repo", "describe", "seed/absent", check=False)
    assert missing.returncode == 1 and "seed/absent" in missing.stderr
