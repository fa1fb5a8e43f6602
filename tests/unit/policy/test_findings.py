"""Policy findings (policy/findings.py): one case per issue code, and a clean policy.

Sources: IAM Access Analyzer "Access Analyzer policy check reference" (finding types and
the redundant-action check); ../shared/reference/ecr-api.md §2, §3 and §6 (actions,
registry-wide actions); DESIGN.md §10 (Principal "*" is every authenticated caller).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from strongroom.policy.actions import ECR_ACTIONS, ECR_PUBLIC_ACTIONS, KNOWN_ACTIONS, WRITE_ACTIONS
from strongroom.policy.document import Policy, PolicyKind
from strongroom.policy.findings import Finding, Severity, findings, has_errors

A = "111122223333"
REPO = f"arn:aws:ecr:us-east-1:{A}:repository/ml/model-a"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


def identity(*statements: Mapping[str, object], version: str | None = "2012-10-17") -> Policy:
    document: dict[str, object] = {"Statement": list(statements)}
    if version is not None:
        document["Version"] = version
    return Policy.from_json(json.dumps(document), PolicyKind.IDENTITY)


def resource(*statements: Mapping[str, object]) -> Policy:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return Policy.from_json(json.dumps(document), PolicyKind.RESOURCE)


def allow(
    action: str | list[str], resource_arn: str | list[str] = REPO, **extra: object
) -> dict[str, object]:
    return {"Effect": "Allow", "Action": action, "Resource": resource_arn, **extra}


def public(action: str | list[str], **extra: object) -> dict[str, object]:
    return {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": action, **extra}


def codes(policy: Policy) -> list[str]:
    return [finding.code for finding in findings(policy)]


def only(policy: Policy, code: str) -> Finding:
    matching = [finding for finding in findings(policy) if finding.code == code]
    assert len(matching) == 1, findings(policy)
    return matching[0]


def test_vocabulary_has_every_ecr_and_ecr_public_operation() -> None:
    # ecr-api.md: 62 ECR operations plus 2 permission-only actions; 23 ECR Public operations.
    assert len(ECR_ACTIONS) == 64
    assert len(ECR_PUBLIC_ACTIONS) == 23
    assert WRITE_ACTIONS <= KNOWN_ACTIONS
    assert "ecr:BatchGetImage" not in WRITE_ACTIONS
    assert "ecr:PutImage" in WRITE_ACTIONS


def test_a_least_privilege_policy_has_no_findings() -> None:
    policy = identity(
        allow("ecr:GetAuthorizationToken", "*", Sid="SignIn"),
        allow([*PULL, "ecr:PutImage", "ecr:InitiateLayerUpload"], Sid="PushPull"),
    )
    assert findings(policy) == []


def test_a_repository_policy_naming_its_principals_has_no_findings() -> None:
    policy = resource(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:user/ci"},
            "Action": [*PULL, "ecr:PutImage"],
        }
    )
    assert findings(policy) == []


def test_unknown_ecr_action_is_an_error() -> None:
    found = only(identity(allow(["ecr:BatchGetImage", "ecr:PullImage"])), "UNKNOWN_ACTION")
    assert found.severity is Severity.ERROR
    assert found.statement_index == 0
    assert "'ecr:PullImage'" in found.message
    assert has_errors(findings(identity(allow("ecr:PullImage"))))


def test_a_wildcard_pattern_matching_no_action_is_unknown() -> None:
    found = only(identity(allow("ecr-public:Batch*Layers")), "UNKNOWN_ACTION")
    assert "pattern" in found.message


def test_actions_compare_case_insensitively() -> None:
    assert findings(identity(allow(["ECR:batchgetimage", "ecr:batch*"]))) == [
        Finding(
            Severity.SUGGESTION,
            "REDUNDANT_ACTION",
            0,
            None,
            "Action 'ECR:batchgetimage' is redundant: 'ecr:batch*' in the same statement already covers it.",
            ("Statement", 0, "Action", 0),
        )
    ]


def test_an_unknown_action_in_not_action_is_an_error_too() -> None:
    policy = identity({"Effect": "Deny", "NotAction": "ecr:BatchGetImages", "Resource": REPO})
    assert codes(policy) == ["UNKNOWN_ACTION"]


def test_iam_action_strongroom_does_not_implement_is_a_warning() -> None:
    found = only(identity(allow("iam:ListRoles", "*")), "UNSUPPORTED_ACTION")
    assert found.severity is Severity.WARNING
    assert codes(identity(allow(["iam:CreateUser", "sts:GetCallerIdentity"], "*"))) == []


def test_unknown_service_is_a_warning() -> None:
    found = only(identity(allow("s3:GetObject", "*")), "UNKNOWN_SERVICE")
    assert found.severity is Severity.WARNING
    assert not has_errors(findings(identity(allow("s3:GetObject", "*"))))


def test_public_principal_without_condition_is_a_security_warning() -> None:
    found = only(resource(public(PULL)), "PUBLIC_PRINCIPAL_WITHOUT_CONDITION")
    assert found.severity is Severity.SECURITY_WARNING
    assert found.sid == "Everyone"
    assert "every authenticated principal of every account" in found.message
    assert codes(resource(public(PULL))) == ["PUBLIC_PRINCIPAL_WITHOUT_CONDITION"]


def test_aws_star_principal_is_public_too() -> None:
    statement = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": PULL}
    assert codes(resource(statement)) == ["PUBLIC_PRINCIPAL_WITHOUT_CONDITION"]


def test_a_condition_quiets_the_public_principal_warning() -> None:
    condition = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    assert findings(resource(public(PULL, Condition=condition))) == []


def test_deny_to_everyone_is_no_finding() -> None:
    statement = {"Effect": "Deny", "Principal": "*", "Action": "ecr:PutImage"}
    assert findings(resource(statement)) == []


def test_write_actions_for_everyone() -> None:
    found = only(resource(public([*PULL, "ecr:PutImage"])), "WRITE_ACTIONS_FOR_EVERYONE")
    assert found.severity is Severity.SECURITY_WARNING
    assert "ecr:PutImage" in found.message


def test_write_actions_for_everyone_even_with_a_network_condition() -> None:
    condition = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    assert codes(resource(public("ecr:PutImage", Condition=condition))) == ["WRITE_ACTIONS_FOR_EVERYONE"]


def test_a_condition_naming_principals_quiets_write_actions_for_everyone() -> None:
    condition = {"StringEquals": {"aws:PrincipalAccount": A}}
    assert findings(resource(public("ecr:PutImage", Condition=condition))) == []
    negated = {"StringNotEquals": {"aws:PrincipalAccount": A}}
    assert codes(resource(public("ecr:PutImage", Condition=negated))) == ["WRITE_ACTIONS_FOR_EVERYONE"]


PUSH = ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"]
REGISTRY_ONLY = (
    "This statement applies only to requests the registry makes on behalf of {}; it grants no user or role"
)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # The seed's statement: only the registry acting for the repository passes it.
        ({"StringEquals": {"aws:SourceArn": REPO}}, ["REGISTRY_REQUESTS_ONLY"]),
        ({"ArnLike": {"aws:SourceArn": REPO}}, ["REGISTRY_REQUESTS_ONLY"]),
        ({"StringEquals": {"AWS:sourcearn": REPO}}, ["REGISTRY_REQUESTS_ONLY"]),  # keys ignore case
        ({"StringEquals": {"aws:SourceAccount": A}}, ["REGISTRY_REQUESTS_ONLY"]),
        ({"Null": {"aws:SourceArn": "false"}}, ["REGISTRY_REQUESTS_ONLY"]),
        # A user's request lacks the key and passes these: still writes for everyone.
        ({"StringEqualsIfExists": {"aws:SourceArn": REPO}}, ["WRITE_ACTIONS_FOR_EVERYONE"]),
        ({"StringNotEquals": {"aws:SourceArn": REPO}}, ["WRITE_ACTIONS_FOR_EVERYONE"]),
        ({"Null": {"aws:SourceArn": "true"}}, ["WRITE_ACTIONS_FOR_EVERYONE"]),
        ({"ForAllValues:StringEquals": {"aws:SourceArn": REPO}}, ["WRITE_ACTIONS_FOR_EVERYONE"]),
    ],
)
def test_source_keys_restrict_a_statement_to_the_registrys_own_requests(
    condition: dict[str, object], expected: list[str]
) -> None:
    assert codes(resource(public(PUSH, Condition=condition))) == expected


def test_the_registry_only_finding_names_what_it_acts_for() -> None:
    by_arn = only(
        resource(public(PUSH, Condition={"StringEquals": {"aws:SourceArn": REPO}})), "REGISTRY_REQUESTS_ONLY"
    )
    assert by_arn.severity is Severity.SUGGESTION
    assert by_arn.message.startswith(REGISTRY_ONLY.format(REPO))
    by_account = only(
        resource(public(PUSH, Condition={"StringEquals": {"aws:SourceAccount": A}})), "REGISTRY_REQUESTS_ONLY"
    )
    assert by_account.message.startswith(REGISTRY_ONLY.format(f"account {A}"))


def test_write_actions_through_a_wildcard_pattern() -> None:
    assert "WRITE_ACTIONS_FOR_EVERYONE" in codes(resource(public("ecr:Delete*")))
    assert "WRITE_ACTIONS_FOR_EVERYONE" not in codes(resource(public("ecr:Describe*")))


def test_allow_with_not_action() -> None:
    policy = identity({"Effect": "Allow", "NotAction": "ecr:DeleteRepository", "Resource": REPO})
    assert codes(policy) == ["ALLOW_WITH_NOT_ACTION"]
    assert only(policy, "ALLOW_WITH_NOT_ACTION").severity is Severity.WARNING


@pytest.mark.parametrize("action", ["*", "ecr:*"])
def test_wildcard_action_allow(action: str) -> None:
    found = only(identity(allow(action)), "WILDCARD_ACTION_ALLOW")
    assert found.severity is Severity.SUGGESTION


def test_a_partial_wildcard_is_not_a_wildcard_allow() -> None:
    assert findings(identity(allow("ecr:BatchGet*"))) == []


def test_redundant_action() -> None:
    found = only(identity(allow(["ecr:*", "ecr:PutImage"])), "REDUNDANT_ACTION")
    assert "'ecr:PutImage'" in found.message
    duplicate = only(identity(allow(["ecr:PutImage", "ecr:PutImage"])), "REDUNDANT_ACTION")
    assert duplicate.severity is Severity.SUGGESTION


def test_redundant_statement() -> None:
    policy = identity(allow(PULL, Sid="Pull"), allow(PULL, Sid="PullAgain"))
    found = only(policy, "REDUNDANT_STATEMENT")
    assert (found.statement_index, found.sid) == (1, "PullAgain")
    assert "statement 0 (Sid 'Pull')" in found.message


def test_action_resource_mismatch() -> None:
    found = only(identity(allow(["ecr:GetAuthorizationToken", *PULL])), "ACTION_RESOURCE_MISMATCH")
    assert found.severity is Severity.WARNING
    assert 'Resource "*"' in found.message
    assert findings(identity(allow("ecr:GetAuthorizationToken", "*"))) == []


def test_iam_actions_in_a_resource_policy() -> None:
    statement = {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "iam:CreateUser"}
    assert codes(resource(statement)) == ["ACTION_NOT_FOR_RESOURCE_POLICY"]


@pytest.mark.parametrize("version", [None, "2008-10-17"])
def test_outdated_version(version: str | None) -> None:
    found = only(identity(allow(PULL), version=version), "OUTDATED_VERSION")
    assert found.statement_index is None
    assert found.severity is Severity.SUGGESTION


def test_findings_are_ordered_by_statement_then_severity() -> None:
    policy = resource(public(["ecr:PutImage", "ecr:PutImage", "ecr:Nope"]), public("s3:GetObject", Sid="S3"))
    assert [(f.statement_index, f.severity, f.code) for f in findings(policy)] == [
        (0, Severity.ERROR, "UNKNOWN_ACTION"),
        (0, Severity.SECURITY_WARNING, "PUBLIC_PRINCIPAL_WITHOUT_CONDITION"),
        (0, Severity.SECURITY_WARNING, "WRITE_ACTIONS_FOR_EVERYONE"),
        (0, Severity.SUGGESTION, "REDUNDANT_ACTION"),
        (1, Severity.SECURITY_WARNING, "PUBLIC_PRINCIPAL_WITHOUT_CONDITION"),
        (1, Severity.WARNING, "UNKNOWN_SERVICE"),
    ]


def test_finding_json_is_shaped_like_access_analyzer() -> None:
    found = only(identity(allow("ecr:PullImage")), "UNKNOWN_ACTION")
    assert found.as_json() == {
        "findingType": "ERROR",
        "issueCode": "UNKNOWN_ACTION",
        "findingDetails": found.message,
        "statementIndex": 0,
        "sid": None,
    }
