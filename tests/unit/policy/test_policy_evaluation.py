"""Policy evaluation against the AWS documentation's examples (policy/evaluation.py).

Sources, cited per case:
[logic]   IAM User Guide, "Policy evaluation logic" and "Policy evaluation for requests
          within a single account" (the carlossalazar identity + bucket policy example).
[cross]   IAM User Guide, "Cross-account policy evaluation logic".
[ecr]     Amazon ECR User Guide, "Private repository policy examples"; actions and ARNs
          from ../shared/reference/ecr-api.md §6.
[notp]    IAM User Guide, "AWS JSON policy elements: NotPrincipal".
[design]  DESIGN.md §10: Principal "*" means authenticated callers, never anonymous.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from strongroom.policy import (
    Caller,
    Decision,
    Policy,
    PolicyKind,
    Reason,
    Request,
    Source,
    evaluate,
    parse_policy,
)
from strongroom.policy.context import ContextValue

A = "111122223333"  # the registry's account
B = "444455556666"  # another account
REPO = f"arn:aws:ecr:us-east-1:{A}:repository/ml/model-a"
OTHER_REPO = f"arn:aws:ecr:us-east-1:{A}:repository/web/frontend"
ALICE = Caller.user(A, "alice")
CI_SESSION = Caller.assumed_role(A, "ci", "build-42", path="/pipelines/")
BOB = Caller.user(B, "bob")
ANONYMOUS = Caller.anonymous()

PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
PUSH = [
    "ecr:CompleteLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:InitiateLayerUpload",
    "ecr:BatchCheckLayerAvailability",
    "ecr:PutImage",
    "ecr:BatchGetImage",
]


def identity(*statements: dict[str, object]) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, PolicyKind.IDENTITY)


def resource(*statements: dict[str, object]) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, PolicyKind.RESOURCE)


@dataclass(frozen=True)
class Case:
    name: str
    caller: Caller
    action: str
    expected: Reason
    identity: dict[str, Policy] = field(default_factory=dict)
    repository: Policy | None = None
    registry: Policy | None = None
    resource: str = REPO
    context: dict[str, ContextValue] = field(default_factory=dict)

    def decide(self) -> Decision:
        request = Request(self.caller, self.action, self.resource, A, self.context)
        return evaluate(request, self.identity, self.repository, self.registry)


READ_ONLY = identity({"Sid": "Pull", "Effect": "Allow", "Action": PULL, "Resource": REPO})
PUSH_PULL_TO_ALICE = resource(  # [ecr] "Allow IAM users within your account" (AllowPushPull)
    {"Sid": "AllowPushPull", "Effect": "Allow", "Principal": {"AWS": ALICE.arn}, "Action": PUSH}
)
CROSS_ACCOUNT_PULL = resource(  # [ecr] "Allow another account"
    {
        "Sid": "AllowCrossAccountPull",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
        "Action": PULL,
    }
)
BOB_PULLS_ANYTHING = identity({"Effect": "Allow", "Action": "ecr:*", "Resource": "*"})
DENY_ALL = resource(  # [ecr] "Deny all"
    {"Sid": "DenyAll", "Effect": "Deny", "Principal": "*", "Action": "ecr:*"}
)
ALLOW_ALL_AUTHENTICATED = resource({"Sid": "AllowPull", "Effect": "Allow", "Principal": "*", "Action": PULL})
SOURCE_IP_GUARD = resource(  # [ecr] restrict to an IP range: deny from anywhere else
    {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "ecr:*"},
    {
        "Sid": "DenyOutsideOffice",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "ecr:*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}},
    },
)
OWN_NAMESPACE = identity(  # [logic] policy variables: each user pushes under their own name
    {"Effect": "Allow", "Action": PUSH, "Resource": f"arn:aws:ecr:*:{A}:repository/${{aws:username}}/*"}
)

CASES = [
    Case("[logic] no policy at all: implicit deny", ALICE, "ecr:BatchGetImage", Reason.IMPLICIT_DENY),
    Case("[logic] identity allow suffices", ALICE, "ecr:BatchGetImage", Reason.ALLOWED, {"ro": READ_ONLY}),
    Case("[logic] action outside the allow", ALICE, "ecr:PutImage", Reason.IMPLICIT_DENY, {"ro": READ_ONLY}),
    Case(
        "[logic] resource outside the allow",
        ALICE,
        "ecr:BatchGetImage",
        Reason.IMPLICIT_DENY,
        {"ro": READ_ONLY},
        resource=OTHER_REPO,
    ),
    Case(
        "[logic] same account: resource policy alone suffices",
        ALICE,
        "ecr:PutImage",
        Reason.ALLOWED,
        repository=PUSH_PULL_TO_ALICE,
    ),
    Case(
        "[logic] union of identity and resource policy",
        ALICE,
        "ecr:PutImage",
        Reason.ALLOWED,
        {"ro": READ_ONLY},
        PUSH_PULL_TO_ALICE,
    ),
    Case(
        "[logic] resource policy names someone else",
        CI_SESSION,
        "ecr:PutImage",
        Reason.IMPLICIT_DENY,
        repository=PUSH_PULL_TO_ALICE,
    ),
    Case(
        "[logic] explicit deny beats an identity allow",
        ALICE,
        "ecr:BatchGetImage",
        Reason.EXPLICIT_DENY,
        {"ro": READ_ONLY},
        DENY_ALL,
    ),
    Case(
        "[cross] both sides allow",
        BOB,
        "ecr:BatchGetImage",
        Reason.ALLOWED,
        {"all": BOB_PULLS_ANYTHING},
        CROSS_ACCOUNT_PULL,
    ),
    Case(
        "[cross] resource side only",
        BOB,
        "ecr:BatchGetImage",
        Reason.IMPLICIT_DENY,
        repository=CROSS_ACCOUNT_PULL,
    ),
    Case(
        "[cross] identity side only",
        BOB,
        "ecr:BatchGetImage",
        Reason.IMPLICIT_DENY,
        {"all": BOB_PULLS_ANYTHING},
    ),
    Case(
        "[cross] action not granted by the resource side",
        BOB,
        "ecr:PutImage",
        Reason.IMPLICIT_DENY,
        {"all": BOB_PULLS_ANYTHING},
        CROSS_ACCOUNT_PULL,
    ),
    Case(
        "[cross] registry policy grants the resource side",
        BOB,
        "ecr:ReplicateImage",
        Reason.ALLOWED,
        {"all": BOB_PULLS_ANYTHING},
        registry=resource(
            {
                "Effect": "Allow",
                "Principal": {"AWS": B},
                "Action": "ecr:ReplicateImage",
                "Resource": f"arn:aws:ecr:us-east-1:{A}:repository/*",
            }
        ),
    ),
    Case(
        "[design] Principal * allows any authenticated caller",
        BOB,
        "ecr:BatchGetImage",
        Reason.ALLOWED,
        {"all": BOB_PULLS_ANYTHING},
        ALLOW_ALL_AUTHENTICATED,
    ),
    Case(
        "[design] Principal * never allows anonymous",
        ANONYMOUS,
        "ecr:BatchGetImage",
        Reason.IMPLICIT_DENY,
        repository=ALLOW_ALL_AUTHENTICATED,
    ),
    Case(
        "[design] Deny * reaches anonymous",
        ANONYMOUS,
        "ecr:BatchGetImage",
        Reason.EXPLICIT_DENY,
        repository=DENY_ALL,
    ),
    Case(
        "[logic] naming the account delegates: a role session with no policy of its own gets nothing",
        CI_SESSION,
        "ecr:PutImage",
        Reason.IMPLICIT_DENY,
        repository=resource({"Effect": "Allow", "Principal": {"AWS": A}, "Action": "ecr:*"}),
    ),
    Case(
        "[logic] naming the account delegates: the session's own identity policy decides",
        CI_SESSION,
        "ecr:PutImage",
        Reason.ALLOWED,
        {"push": identity({"Effect": "Allow", "Action": "ecr:PutImage", "Resource": REPO})},
        repository=resource({"Effect": "Allow", "Principal": {"AWS": A}, "Action": "ecr:*"}),
    ),
    Case(
        "[ecr] role ARN principal covers the role's sessions",
        CI_SESSION,
        "ecr:PutImage",
        Reason.ALLOWED,
        repository=resource(
            {
                "Effect": "Allow",
                "Action": "ecr:PutImage",
                "Principal": {"AWS": f"arn:aws:iam::{A}:role/pipelines/ci"},
            }
        ),
    ),
    Case(
        "[ecr] source IP inside the range",
        ALICE,
        "ecr:BatchGetImage",
        Reason.ALLOWED,
        {"ro": READ_ONLY},  # the Allow names the account: it delegates to Alice's own policies
        repository=SOURCE_IP_GUARD,
        context={"aws:SourceIp": "203.0.113.9"},
    ),
    Case(
        "[ecr] source IP outside the range",
        ALICE,
        "ecr:BatchGetImage",
        Reason.EXPLICIT_DENY,
        {"ro": READ_ONLY},
        repository=SOURCE_IP_GUARD,
        context={"aws:SourceIp": "198.51.100.9"},
    ),
    Case(
        "[logic] deny without TLS",
        ALICE,
        "ecr:BatchGetImage",
        Reason.EXPLICIT_DENY,
        {
            "ro": READ_ONLY,
            "tls": identity(
                {
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ),
        },
        context={"aws:SecureTransport": "false"},
    ),
    Case(
        "[logic] policy variable: own namespace",
        ALICE,
        "ecr:PutImage",
        Reason.ALLOWED,
        {"own": OWN_NAMESPACE},
        resource=f"arn:aws:ecr:us-east-1:{A}:repository/alice/scratch",
    ),
    Case(
        "[logic] policy variable: someone else's namespace",
        ALICE,
        "ecr:PutImage",
        Reason.IMPLICIT_DENY,
        {"own": OWN_NAMESPACE},
        resource=f"arn:aws:ecr:us-east-1:{A}:repository/bob/scratch",
    ),
    Case(
        "[logic] policy variable: a role has no aws:username",
        CI_SESSION,
        "ecr:PutImage",
        Reason.IMPLICIT_DENY,
        {"own": OWN_NAMESPACE},
        resource=f"arn:aws:ecr:us-east-1:{A}:repository/ci/scratch",
    ),
    Case(
        "[logic] NotAction deny leaves the listed actions alone",
        ALICE,
        "ecr:BatchGetImage",
        Reason.ALLOWED,
        {
            "ro": READ_ONLY,
            "no-writes": identity({"Effect": "Deny", "NotAction": "ecr:Batch*", "Resource": "*"}),
        },
    ),
    Case(
        "[logic] NotAction deny hits the rest",
        ALICE,
        "ecr:GetDownloadUrlForLayer",
        Reason.EXPLICIT_DENY,
        {
            "ro": READ_ONLY,
            "no-writes": identity({"Effect": "Deny", "NotAction": "ecr:Batch*", "Resource": "*"}),
        },
    ),
    Case(
        "[logic] NotResource allow",
        ALICE,
        "ecr:BatchGetImage",
        Reason.ALLOWED,
        {"not-web": identity({"Effect": "Allow", "Action": "ecr:*", "NotResource": OTHER_REPO})},
    ),
    Case(
        "[logic] actions compare case-insensitively",
        ALICE,
        "ecr:batchgetimage",
        Reason.ALLOWED,
        {"ro": READ_ONLY},
    ),
    Case(
        "[logic] aws:CurrentTime comes from the context",
        ALICE,
        "ecr:BatchGetImage",
        Reason.EXPLICIT_DENY,
        {
            "ro": READ_ONLY,
            "expiry": identity(
                {
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
                }
            ),
        },
        context={"aws:CurrentTime": "2026-03-01T00:00:00Z"},
    ),
    Case(
        "[ecr] PrincipalAccount derived from the caller",
        ALICE,
        "ecr:BatchGetImage",
        Reason.ALLOWED,
        repository=resource(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "ecr:BatchGetImage",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": A}},
            }
        ),
        context={"aws:PrincipalAccount": B},
    ),  # the caller wins over a contradicting context
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_documented_examples(case: Case) -> None:
    decision = case.decide()
    assert decision.reason is case.expected, decision.detail
    assert decision.allowed is (case.expected is Reason.ALLOWED)


NOT_PRINCIPAL = resource(  # [notp] deny everyone except the listed identities
    {
        "Sid": "OnlyCi",
        "Effect": "Deny",
        "NotPrincipal": {
            "AWS": [CI_SESSION.arn, f"arn:aws:iam::{A}:role/pipelines/ci", f"arn:aws:iam::{A}:root"]
        },
        "Action": "ecr:PutImage",
    },
    {"Effect": "Allow", "Principal": "*", "Action": "ecr:*"},
)


@pytest.mark.parametrize(
    ("caller", "expected"),
    [(CI_SESSION, Reason.ALLOWED), (ALICE, Reason.EXPLICIT_DENY), (ANONYMOUS, Reason.EXPLICIT_DENY)],
)
def test_not_principal_exempts_only_fully_listed_callers(caller: Caller, expected: Reason) -> None:
    decision = evaluate(Request(caller, "ecr:PutImage", REPO, A), {}, NOT_PRINCIPAL)
    assert decision.reason is expected


def test_not_principal_without_the_account_arn_denies_the_whole_account() -> None:
    # [notp] "you must also specify the account ARN … otherwise the policy might deny
    # access to the entire account that contains the principal".
    policy = resource(
        {"Effect": "Deny", "NotPrincipal": {"AWS": ALICE.arn}, "Action": "ecr:*"},
        {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "ecr:*"},
    )
    assert evaluate(Request(ALICE, "ecr:PutImage", REPO, A), {}, policy).reason is Reason.EXPLICIT_DENY


def test_decision_names_the_deciding_statement() -> None:
    decision = evaluate(Request(ALICE, "ecr:BatchGetImage", REPO, A), {"ro": READ_ONLY}, DENY_ALL)
    assert decision.statement is not None
    assert (decision.statement.source, decision.statement.index, decision.statement.sid) == (
        Source.REPOSITORY,
        0,
        "DenyAll",
    )
    assert decision.detail == "explicitly denied by repository policy, statement 0 (Sid 'DenyAll')"


def test_cross_account_allow_names_both_sides_and_a_denial_says_what_is_missing() -> None:
    request = Request(BOB, "ecr:BatchGetImage", REPO, A)
    allowed = evaluate(request, {"all": BOB_PULLS_ANYTHING}, CROSS_ACCOUNT_PULL)
    assert [ref.source for ref in allowed.statements] == [Source.IDENTITY, Source.REPOSITORY]
    assert str(allowed.statements[0]) == "identity policy 'all', statement 0"
    denied = evaluate(request, {}, CROSS_ACCOUNT_PULL)
    assert denied.detail.endswith("no allow from the caller's identity policies")
    assert [ref.source for ref in denied.statements] == [Source.REPOSITORY]
