"""What the policy review (registry/policy_review.py) does with each kind of finding, in
each ``policy_findings`` mode: the decision table of DESIGN §10 "Accept what ECR accepts"."""

from __future__ import annotations

import json
import logging

import pytest

from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.registry.policy_review import PolicyRefused, PolicyReview, audit_findings

REPO = "arn:aws:ecr:us-east-1:111122223333:repository/ml/a"


def policy(**statement: object) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]})


CLEAN = policy(Principal={"AWS": "arn:aws:iam::111122223333:user/ci"}, Action="ecr:BatchGetImage")
SUGGESTION = policy(Principal={"AWS": "arn:aws:iam::111122223333:user/ci"}, Action="ecr:*")
WARNING = policy(Principal={"AWS": "arn:aws:iam::111122223333:user/ci"}, Action="iam:CreateUser")
SECURITY_WARNING = policy(Principal="*", Action="ecr:PutImage")
REGISTRY_ONLY = policy(
    Principal="*", Action="ecr:PutImage", Condition={"StringEquals": {"aws:SourceArn": REPO}}
)
ERROR = policy(Principal={"AWS": "arn:aws:iam::111122223333:user/ci"}, Action="ecr:PushEverything")


@pytest.mark.parametrize(
    ("text", "warn", "refuse"),
    [
        (CLEAN, "stored", "stored"),
        (SUGGESTION, "stored", "stored"),
        (REGISTRY_ONLY, "stored", "stored"),
        (WARNING, "stored", "refused"),
        (SECURITY_WARNING, "stored", "refused"),
        (ERROR, "refused", "refused"),
    ],
)
def test_what_each_mode_does_with_each_finding(text: str, warn: str, refuse: str) -> None:
    for mode, expected in (("warn", warn), ("refuse", refuse)):
        review = PolicyReview(mode)  # type: ignore[arg-type]
        if expected == "refused":
            with pytest.raises(PolicyRefused):
                review.review(text, REPO)
        else:
            review.review(text, REPO)


def test_a_refusal_names_the_statement_and_the_finding() -> None:
    with pytest.raises(PolicyRefused) as refused:
        PolicyReview("refuse").review(SECURITY_WARNING, REPO)
    assert "statement 0: SECURITY_WARNING PUBLIC_PRINCIPAL_WITHOUT_CONDITION" in refused.value.message


def test_an_invalid_policy_is_malformed_in_every_mode() -> None:
    for mode in ("warn", "refuse"):
        with pytest.raises(MalformedPolicyDocument):
            PolicyReview(mode).review('{"Statement": []}', REPO)  # type: ignore[arg-type]


def test_stored_findings_are_logged_and_summarised_for_the_audit(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="strongroom.policy"):
        found = PolicyReview().review(SECURITY_WARNING, REPO)
    assert audit_findings(found) == [
        {
            "findingType": "SECURITY_WARNING",
            "issueCode": "PUBLIC_PRINCIPAL_WITHOUT_CONDITION",
            "statementIndex": 0,
        },
        {"findingType": "SECURITY_WARNING", "issueCode": "WRITE_ACTIONS_FOR_EVERYONE", "statementIndex": 0},
    ]
    assert [r.getMessage().split(": ")[0] for r in caplog.records] == [
        f"policy of {REPO} stored with a finding"
    ] * 2
    with caplog.at_level(logging.WARNING, logger="strongroom.policy"):
        caplog.clear()
        PolicyReview().review(SUGGESTION, REPO)
    assert caplog.records == []  # suggestions are stylistic: not logged
