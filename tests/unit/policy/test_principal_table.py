"""Issue 9 §1, row by row: whom a resource policy's Principal grants, and whom it only
delegates to (IAM User Guide, "Policy evaluation for requests within a single account",
"Cross-account policy evaluation logic", "Specifying a principal").

The same table runs end to end through boto3 in tests/e2e/test_principal_table.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from strongroom.policy import Caller, Policy, PolicyKind, Reason, Request, evaluate, parse_policy

A = "111122223333"  # the repository's account
B = "444455556666"  # another account
REPO = f"arn:aws:ecr:us-east-1:{A}:repository/team/app"
ALICE = Caller.user(A, "alice", user_id="AIDAALICE00000000001")
SESSION = Caller.assumed_role(A, "ci", "build-7", role_id="AROACI00000000000001")
BOB = Caller.user(B, "bob", user_id="AIDABOB0000000000001")
ANONYMOUS = Caller.anonymous()

ROOT_A, ROOT_B = f"arn:aws:iam::{A}:root", f"arn:aws:iam::{B}:root"
ROLE_ARN = f"arn:aws:iam::{A}:role/ci"
IDS = {
    ALICE.arn or "": "AIDAALICE00000000001",
    ROLE_ARN: "AROACI00000000000001",
    BOB.arn or "": "AIDABOB0000000000001",
}


def grant(principal: object | None, effect: str = "Allow") -> Policy | None:
    if principal is None:
        return None
    statement = {"Effect": effect, "Principal": principal, "Action": "ecr:*"}
    policy = parse_policy({"Version": "2012-10-17", "Statement": [statement]}, PolicyKind.RESOURCE)
    return policy.bound(IDS)


ALLOWS = {"allow": parse_policy(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:PutImage", "Resource": REPO}]},
    PolicyKind.IDENTITY,
)}  # fmt: skip
DENIES = {"deny": parse_policy(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ecr:*", "Resource": "*"}]},
    PolicyKind.IDENTITY,
)}  # fmt: skip


@dataclass(frozen=True)
class Row:
    caller: Caller
    names: object | None  # the resource policy's Principal, or None for no resource policy
    identity: dict[str, Policy]
    expected: Reason

    @property
    def id(self) -> str:
        who = {ALICE: "alice", SESSION: "session", BOB: "other-account", ANONYMOUS: "anonymous"}[self.caller]
        policies = "+".join(self.identity) or "none"
        return f"{who}|{self.names}|{policies}->{self.expected}"


ROWS = [
    # same account, the resource policy names the caller itself: allowed without identity policy
    Row(ALICE, {"AWS": ALICE.arn}, {}, Reason.ALLOWED),
    Row(SESSION, {"AWS": ROLE_ARN}, {}, Reason.ALLOWED),
    Row(SESSION, {"AWS": SESSION.arn}, {}, Reason.ALLOWED),
    # same account, "*"
    Row(ALICE, "*", {}, Reason.ALLOWED),
    Row(SESSION, {"AWS": "*"}, {}, Reason.ALLOWED),
    # same account, the account: delegation, never a grant by itself
    Row(ALICE, {"AWS": A}, {}, Reason.IMPLICIT_DENY),
    Row(ALICE, {"AWS": ROOT_A}, {}, Reason.IMPLICIT_DENY),
    Row(SESSION, {"AWS": ROOT_A}, {}, Reason.IMPLICIT_DENY),
    Row(ALICE, {"AWS": ROOT_A}, ALLOWS, Reason.ALLOWED),
    Row(SESSION, {"AWS": A}, ALLOWS, Reason.ALLOWED),
    # same account, no resource policy: the identity policy decides
    Row(ALICE, None, ALLOWS, Reason.ALLOWED),
    Row(ALICE, None, {}, Reason.IMPLICIT_DENY),
    # another account: both sides must allow
    Row(BOB, {"AWS": BOB.arn}, {}, Reason.IMPLICIT_DENY),
    Row(BOB, {"AWS": B}, {}, Reason.IMPLICIT_DENY),
    Row(BOB, {"AWS": ROOT_B}, {}, Reason.IMPLICIT_DENY),
    Row(BOB, "*", {}, Reason.IMPLICIT_DENY),
    Row(BOB, {"AWS": BOB.arn}, ALLOWS, Reason.ALLOWED),
    Row(BOB, {"AWS": B}, ALLOWS, Reason.ALLOWED),
    Row(BOB, "*", ALLOWS, Reason.ALLOWED),
    Row(BOB, None, ALLOWS, Reason.IMPLICIT_DENY),
    Row(BOB, {"AWS": ROOT_A}, ALLOWS, Reason.IMPLICIT_DENY),  # naming another account is not naming Bob's
    # an explicit Deny anywhere wins
    Row(ALICE, {"AWS": ALICE.arn}, DENIES, Reason.EXPLICIT_DENY),
    Row(BOB, "*", {**ALLOWS, **DENIES}, Reason.EXPLICIT_DENY),
    # anonymous: no Allow reaches it (public pull is the visibility flag's, outside the engine)
    Row(ANONYMOUS, "*", {}, Reason.IMPLICIT_DENY),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_principal_table(row: Row) -> None:
    request = Request(row.caller, "ecr:PutImage", REPO, A)
    assert evaluate(request, row.identity, grant(row.names)).reason is row.expected


@pytest.mark.parametrize("principal", [{"AWS": ALICE.arn}, "*", {"AWS": ROOT_A}])
def test_an_explicit_deny_in_the_resource_policy_wins(principal: object) -> None:
    request = Request(ALICE, "ecr:PutImage", REPO, A)
    denial = grant(principal, effect="Deny")
    assert evaluate(request, ALLOWS, denial).reason is Reason.EXPLICIT_DENY


def test_a_trust_policy_must_allow_even_within_the_account() -> None:
    # "role trust policies … must explicitly allow access for principals"
    assume = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
        },
        PolicyKind.IDENTITY,
    )
    unrelated = grant({"AWS": BOB.arn})
    request = Request(ALICE, "sts:AssumeRole", ROLE_ARN, A)
    assert evaluate(request, {"a": assume}, unrelated).reason is Reason.ALLOWED  # as a repository policy
    verdict = evaluate(request, {"a": assume}, unrelated, resource_must_allow=True)
    assert verdict.reason is Reason.IMPLICIT_DENY
    assert "trust policy" in verdict.detail


def test_a_namesake_created_after_the_policy_was_saved_is_not_the_one_named() -> None:
    recreated = Caller.user(A, "alice", user_id="AIDAALICE00000000002")
    policy = grant({"AWS": ALICE.arn})
    assert evaluate(Request(ALICE, "ecr:PutImage", REPO, A), {}, policy).allowed
    assert not evaluate(Request(recreated, "ecr:PutImage", REPO, A), {}, policy).allowed
    role_again = Caller.assumed_role(A, "ci", "build-8", role_id="AROACI00000000000002")
    assert not evaluate(Request(role_again, "ecr:PutImage", REPO, A), {}, grant({"AWS": ROLE_ARN})).allowed


def test_a_deny_naming_a_deleted_user_does_not_reach_its_namesake() -> None:
    recreated = Caller.user(A, "alice", user_id="AIDAALICE00000000002")
    assert evaluate(
        Request(recreated, "ecr:PutImage", REPO, A), ALLOWS, grant({"AWS": ALICE.arn}, "Deny")
    ).allowed


def test_an_entity_unknown_when_the_policy_was_saved_matches_nobody() -> None:
    carol = Caller.user(A, "carol", user_id="AIDACAROL00000000001")
    assert not evaluate(Request(carol, "ecr:PutImage", REPO, A), {}, grant({"AWS": carol.arn})).allowed


def test_an_unbound_document_is_judged_as_written() -> None:
    # A simulation of a document as given (no stored bindings) matches the ARN itself.
    carol = Caller.user(A, "carol", user_id="AIDACAROL00000000001")
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": carol.arn}, "Action": "ecr:*"}],
        },
        PolicyKind.RESOURCE,
    )
    assert evaluate(Request(carol, "ecr:PutImage", REPO, A), {}, policy).allowed
