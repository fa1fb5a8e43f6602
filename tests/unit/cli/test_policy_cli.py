"""``iam policy validate`` and ``iam simulate`` (cli/policy.py), driven through CliRunner.

Decisions follow IAM User Guide "Policy evaluation logic" and "Cross-account policy
evaluation logic"; findings follow policy/findings.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from strongroom.cli.policy import policy_validate, simulate

A = "111122223333"
B = "444455556666"
CI = f"arn:aws:iam::{A}:user/ci"
BOB = f"arn:aws:iam::{B}:user/bob"
REPO = f"arn:aws:ecr:us-east-1:{A}:repository/ml/model-a"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def document(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def run(command: Any, *args: str) -> Result:
    return CliRunner().invoke(command, list(args))


def output(result: Result) -> Any:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.stdout)


# validate


def test_validate_a_clean_policy(tmp_path: Path) -> None:
    path = tmp_path / "pull.json"
    path.write_text(document({"Effect": "Allow", "Action": PULL, "Resource": REPO}))
    result = run(policy_validate, "--policy-document", f"file://{path}")
    assert result.exit_code == 0
    assert output(result) == {"policyType": "identity", "findings": []}


def test_validate_a_malformed_policy_prints_the_message_and_exits_1() -> None:
    text = document(
        {"Sid": "Pull", "Effect": "Allow", "Action": "ecr:BatchGetImage", "NotAction": "ecr:PutImage"}
    )
    result = run(policy_validate, "--policy-document", text)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: MalformedPolicyDocument: Statement 0 (Sid 'Pull'): "
        "Action and NotAction are mutually exclusive\n"
    )
    assert result.stdout == ""


def test_validate_checks_the_kind_given() -> None:
    text = document({"Effect": "Allow", "Principal": "*", "Action": PULL, "Resource": REPO})
    identity = run(policy_validate, "--policy-document", text, "--policy-type", "identity")
    assert identity.exit_code == 1
    assert "Principal is not allowed in an identity policy" in identity.stderr


def test_validate_a_security_warning_exits_0() -> None:
    text = document({"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": PULL})
    result = run(policy_validate, "--policy-document", text, "--policy-type", "resource")
    assert result.exit_code == 0
    (finding,) = output(result)["findings"]
    assert finding["findingType"] == "SECURITY_WARNING"
    assert finding["issueCode"] == "PUBLIC_PRINCIPAL_WITHOUT_CONDITION"
    assert (finding["statementIndex"], finding["sid"]) == (0, "Everyone")
    assert "every authenticated principal of every account" in finding["findingDetails"]


def test_validate_an_error_finding_exits_1() -> None:
    text = document({"Effect": "Allow", "Action": "ecr:PullImage", "Resource": REPO})
    result = run(policy_validate, "--policy-document", text)
    assert result.exit_code == 1
    assert [f["issueCode"] for f in output(result)["findings"]] == ["UNKNOWN_ACTION"]


@pytest.mark.parametrize(
    ("statement", "detected"),
    [
        ({"Effect": "Allow", "Action": PULL, "Resource": REPO}, "identity"),
        ({"Effect": "Allow", "Principal": {"AWS": CI}, "Action": PULL}, "resource"),
        ({"Effect": "Allow", "Principal": {"AWS": CI}, "Action": "ecr:CreateRepository", "Resource": REPO},
         "registry"),
        ({"Effect": "Allow", "Principal": {"AWS": CI}, "Action": "sts:AssumeRole"}, "trust"),
        ({"Effect": "Allow", "Principal": {"AWS": CI}, "Action": ["sts:AssumeRole", "sts:TagSession"]},
         "trust"),
    ],
)  # fmt: skip
def test_validate_detects_the_policy_type(statement: dict[str, object], detected: str) -> None:
    result = run(policy_validate, "--policy-document", document(statement), "--output", "json")
    assert output(result)["policyType"] == detected


def test_validate_a_trust_policy() -> None:
    trust = document(
        {"Effect": "Allow", "Principal": {"AWS": CI}, "Action": ["sts:AssumeRole", "ecr:PutImage"]}
    )
    result = run(policy_validate, "--policy-document", trust, "--policy-type", "trust", "--output", "json")
    assert [f["issueCode"] for f in output(result)["findings"]] == ["ACTION_NOT_FOR_TRUST_POLICY"]
    as_repository = run(
        policy_validate, "--policy-document", trust, "--policy-type", "resource", "--output", "json"
    )
    assert [f["issueCode"] for f in output(as_repository)["findings"]] == ["ACTION_NOT_FOR_RESOURCE_POLICY"]


def test_validate_locates_each_finding_as_access_analyzer_does() -> None:
    text = (
        '{\n  "Version": "2012-10-17",\n  "Statement": {\n    "Effect": "Allow",\n'
        '    "Action": ["ecr:BatchGetImage", "ecr:PullImage"],\n    "Resource": "*"\n  }\n}\n'
    )
    result = run(policy_validate, "--policy-document", text, "--output", "json")
    (finding,) = output(result)["findings"]
    assert finding["issueCode"] == "UNKNOWN_ACTION"
    start = text.index('"ecr:PullImage"')
    assert text[start - 36 : start] == '    "Action": ["ecr:BatchGetImage", '  # column 36 of line 5
    # The statement is written without an array, so no index step leads to it.
    assert finding["locations"] == [
        {
            "path": [{"value": "Statement"}, {"value": "Action"}, {"index": 1}],
            "span": {
                "start": {"line": 5, "column": 36, "offset": start},
                "end": {"line": 5, "column": 51, "offset": start + len('"ecr:PullImage"')},
            },
        }
    ]
    listed = document({"Effect": "Allow", "Principal": "*", "Action": PULL})
    (public,) = output(run(policy_validate, "--policy-document", listed, "--output", "json"))["findings"]
    assert public["locations"][0]["path"] == [{"value": "Statement"}, {"index": 0}, {"value": "Principal"}]


def test_validate_prints_a_table_when_asked() -> None:
    text = document({"Effect": "Allow", "Action": "ecr:PullImage", "Resource": REPO})
    result = run(policy_validate, "--policy-document", text, "--output", "table")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "identity policy: 1 findings"
    assert lines[1].split() == ["TYPE", "ISSUE", "LOCATION", "DETAILS"]
    assert lines[2].startswith("ERROR") and "Statement[0].Action (1:" in lines[2]


def test_validate_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run(policy_validate, "--policy-document", f"file://{tmp_path / 'absent.json'}")
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


# simulate


def test_simulate_allow() -> None:
    identity = document({"Sid": "Push", "Effect": "Allow", "Action": "ecr:PutImage", "Resource": REPO})
    result = run(
        simulate,
        "--principal",
        CI,
        "--action",
        "ecr:PutImage",
        "--resource",
        REPO,
        "--identity-policy",
        identity,
    )
    assert result.exit_code == 0
    decision = output(result)
    assert decision["decision"] == "allowed"
    assert decision["allowed"] is True
    assert decision["statements"] == [{"source": "identity", "policy": "inline-1", "index": 0, "sid": "Push"}]
    assert decision["detail"] == "allowed by identity policy 'inline-1', statement 0 (Sid 'Push')"
    assert decision["request"]["crossAccount"] is False


def test_simulate_explicit_deny_names_the_sid(tmp_path: Path) -> None:
    path = tmp_path / "guard.json"
    path.write_text(
        document({"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*", "Action": "ecr:BatchDeleteImage"})
    )
    identity = document({"Effect": "Allow", "Action": "ecr:*", "Resource": "*"})
    result = run(
        simulate,
        *("--principal", CI, "--action", "ecr:BatchDeleteImage", "--resource", REPO),
        *("--identity-policy", identity, "--resource-policy", f"file://{path}"),
    )
    decision = output(result)
    assert decision["decision"] == "explicit_deny"
    assert decision["statements"] == [
        {"source": "repository", "policy": None, "index": 0, "sid": "NoDeletes"}
    ]
    assert "Sid 'NoDeletes'" in decision["detail"]


def test_simulate_implicit_deny() -> None:
    identity = document({"Effect": "Allow", "Action": PULL, "Resource": REPO})
    result = run(
        simulate,
        "--principal",
        CI,
        "--action",
        "ecr:PutImage",
        "--resource",
        REPO,
        "--identity-policy",
        identity,
    )
    decision = output(result)
    assert decision["decision"] == "implicit_deny"
    assert decision["allowed"] is False
    assert decision["statements"] == []
    assert decision["detail"] == "no statement allows the request"


def test_simulate_a_source_ip_condition_from_context() -> None:
    identity = document(
        {
            "Effect": "Allow",
            "Action": "ecr:PutImage",
            "Resource": REPO,
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        }
    )
    base = ("--principal", CI, "--action", "ecr:PutImage", "--resource", REPO, "--identity-policy", identity)
    inside = output(run(simulate, *base, "--context", "aws:SourceIp=10.1.2.3"))
    outside = output(run(simulate, *base, "--context", "aws:SourceIp=192.0.2.7"))
    absent = output(run(simulate, *base))
    assert inside["decision"] == "allowed"
    assert inside["request"]["context"] == {"aws:SourceIp": "10.1.2.3"}
    assert outside["decision"] == "implicit_deny"
    assert absent["decision"] == "implicit_deny"


def test_simulate_cross_account_needs_both_sides() -> None:
    identity = document({"Sid": "BobPulls", "Effect": "Allow", "Action": PULL, "Resource": REPO})
    repository = document({"Sid": "ToB", "Effect": "Allow", "Principal": {"AWS": B}, "Action": PULL})
    base = ("--principal", BOB, "--action", "ecr:BatchGetImage", "--resource", REPO)

    only_identity = output(run(simulate, *base, "--identity-policy", identity))
    assert only_identity["decision"] == "implicit_deny"
    assert only_identity["request"]["crossAccount"] is True
    assert "no allow from the resource policy" in only_identity["detail"]

    only_resource = output(run(simulate, *base, "--resource-policy", repository))
    assert only_resource["decision"] == "implicit_deny"
    assert "no allow from the caller's identity policies" in only_resource["detail"]

    both = output(run(simulate, *base, "--identity-policy", identity, "--resource-policy", repository))
    assert both["decision"] == "allowed"
    assert [ref["sid"] for ref in both["statements"]] == ["BobPulls", "ToB"]


def test_simulate_anonymous_is_never_allowed_by_principal_star() -> None:
    repository = document({"Effect": "Allow", "Principal": "*", "Action": PULL})
    result = run(
        simulate,
        *("--principal", "anonymous", "--action", "ecr:BatchGetImage", "--resource", REPO),
        *("--resource-policy", repository),
    )
    decision = output(result)
    assert decision["decision"] == "implicit_deny"
    assert decision["request"]["principal"] == "anonymous"


def test_simulate_registry_wide_action_on_star_uses_the_callers_account() -> None:
    identity = document({"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"})
    result = run(
        simulate,
        *("--principal", CI, "--action", "ecr:GetAuthorizationToken", "--resource", "*"),
        *("--identity-policy", identity),
    )
    decision = output(result)
    assert decision["decision"] == "allowed"
    assert decision["request"]["resourceAccount"] == A


def test_simulate_a_role_session_with_a_registry_policy() -> None:
    registry = document(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:role/builder"}, "Action": "ecr:PutImage"}
    )
    session = f"arn:aws:sts::{A}:assumed-role/builder/run-7"
    result = run(
        simulate,
        *(
            "--principal",
            session,
            "--action",
            "ecr:PutImage",
            "--resource",
            REPO,
            "--registry-policy",
            registry,
        ),
    )
    decision = output(result)
    assert decision["decision"] == "allowed"
    assert decision["statements"][0]["source"] == "registry"


def test_simulate_a_malformed_policy_names_the_option() -> None:
    result = run(
        simulate,
        *("--principal", CI, "--action", "ecr:PutImage", "--resource", REPO),
        *("--identity-policy", document({"Effect": "Allow", "Action": "ecr:PutImage"})),
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: --identity-policy inline-1: MalformedPolicyDocument: Statement 0:"
    )


def test_simulate_rejects_an_unparseable_principal_and_context() -> None:
    base = ("--action", "ecr:PutImage", "--resource", REPO)
    assert run(simulate, "--principal", "ci", *base).exit_code == 2
    assert run(simulate, "--principal", CI, *base, "--context", "novalue").exit_code == 2


def test_simulate_repeated_context_keys_are_multivalued() -> None:
    identity = document(
        {
            "Effect": "Allow",
            "Action": "ecr:TagResource",
            "Resource": REPO,
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}},
        }
    )
    base = (
        "--principal",
        CI,
        "--action",
        "ecr:TagResource",
        "--resource",
        REPO,
        "--identity-policy",
        identity,
    )
    allowed = output(run(simulate, *base, "--context", "aws:TagKeys=team", "--context", "aws:TagKeys=env"))
    denied = output(run(simulate, *base, "--context", "aws:TagKeys=team", "--context", "aws:TagKeys=owner"))
    assert allowed["request"]["context"] == {"aws:TagKeys": ["team", "env"]}
    assert (allowed["decision"], denied["decision"]) == ("allowed", "implicit_deny")


def test_simulate_the_seed_statement_needs_the_registrys_source_arn() -> None:
    seed = document(
        {"Sid": "ReplicationOnly", "Effect": "Allow", "Principal": "*", "Action": "ecr:PutImage",
         "Condition": {"StringEquals": {"aws:SourceArn": REPO}}}
    )  # fmt: skip
    ask = ["--principal", CI, "--action", "ecr:PutImage", "--resource", REPO, "--resource-policy", seed]
    carrying = output(run(simulate, *ask, "--context", f"aws:SourceArn={REPO}", "--output", "json"))
    assert carrying["decision"] == "allowed"
    assert carrying["statements"] == [
        {"source": "repository", "policy": None, "index": 0, "sid": "ReplicationOnly"}
    ]
    assert output(run(simulate, *ask, "--output", "json"))["decision"] == "implicit_deny"


def test_simulate_from_store_takes_no_documents() -> None:
    text = document({"Effect": "Allow", "Action": "ecr:PutImage", "Resource": REPO})
    ask = ["--principal", CI, "--action", "ecr:PutImage", "--resource", REPO, "--from-store"]
    result = run(simulate, *ask, "--identity-policy", text)
    assert result.exit_code == 2 and "--from-store reads the policies" in result.stderr
