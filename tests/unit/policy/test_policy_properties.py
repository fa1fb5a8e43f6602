"""Invariants of evaluation, checked over generated policies (policy/evaluation.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from strongroom.policy import Caller, Decision, Policy, PolicyKind, Reason, Request, evaluate, parse_policy

A = "111122223333"
B = "444455556666"
REPOS = [f"arn:aws:ecr:us-east-1:{A}:repository/ml/model-a", f"arn:aws:ecr:us-east-1:{A}:repository/web"]
ALICE = Caller.user(A, "alice")
CI = Caller.assumed_role(A, "ci", "build-1")
BOB = Caller.user(B, "bob")
CALLERS = [ALICE, CI, BOB, Caller.anonymous()]
ACTIONS = ["ecr:BatchGetImage", "ecr:PutImage", "ecr:ListImages"]

Document = dict[str, Any]

action_patterns = st.sampled_from(
    ["*", "ecr:*", "ecr:Batch*", "ecr:PutImage", "ecr:BatchGetImage", "ECR:list*"]
)
resource_patterns = st.sampled_from(
    ["*", *REPOS, f"arn:aws:ecr:*:{A}:repository/*", "arn:aws:ecr:*:*:repository/ml/*"]
)
principals = st.sampled_from(["*", {"AWS": A}, {"AWS": B}, {"AWS": ALICE.arn}, {"AWS": [CI.arn, A]}])
conditions = st.sampled_from(
    [
        None,
        {"Bool": {"aws:SecureTransport": "true"}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        {"StringNotEquals": {"aws:PrincipalAccount": A}},
        {"StringLikeIfExists": {"ecr:ResourceTag/env": "prod*"}},
    ]
)
contexts = st.fixed_dictionaries(
    {},
    optional={
        "aws:SecureTransport": st.sampled_from(["true", "false"]),
        "aws:SourceIp": st.sampled_from(["10.1.2.3", "192.0.2.1"]),
        "ecr:ResourceTag/env": st.sampled_from(["prod-eu", "dev"]),
    },
)
requests = st.builds(
    Request, st.sampled_from(CALLERS), st.sampled_from(ACTIONS), st.sampled_from(REPOS), st.just(A), contexts
)


@st.composite
def statements(draw: st.DrawFn, kind: PolicyKind) -> Document:
    effect = draw(st.sampled_from(["Allow", "Deny"]))
    statement: Document = {"Effect": effect}
    statement["NotAction" if draw(st.booleans()) else "Action"] = draw(
        st.lists(action_patterns, min_size=1, max_size=2)
    )
    resource_key = draw(st.sampled_from(["Resource", "NotResource", None]))
    if resource_key is not None or kind is PolicyKind.IDENTITY:
        statement[resource_key or "Resource"] = draw(resource_patterns)
    if kind is PolicyKind.RESOURCE:
        negated = effect == "Deny" and draw(st.booleans())
        statement["NotPrincipal" if negated else "Principal"] = draw(principals)
    condition = draw(conditions)
    if condition is not None:
        statement["Condition"] = condition
    return statement


def documents(kind: PolicyKind) -> st.SearchStrategy[list[Document]]:
    return st.lists(statements(kind), min_size=1, max_size=3)


@st.composite
def policy_sets(
    draw: st.DrawFn,
) -> tuple[dict[str, list[Document]], list[Document] | None, list[Document] | None]:
    identity = draw(
        st.dictionaries(st.sampled_from(["p1", "p2"]), documents(PolicyKind.IDENTITY), max_size=2)
    )
    repository = draw(st.none() | documents(PolicyKind.RESOURCE))
    registry = draw(st.none() | documents(PolicyKind.RESOURCE))
    return identity, repository, registry


PolicySet = tuple[dict[str, list[Document]], list[Document] | None, list[Document] | None]


def build(statements: list[Document] | None, kind: PolicyKind) -> Policy | None:
    if statements is None:
        return None
    return parse_policy({"Version": "2012-10-17", "Statement": statements}, kind)


def decide(request: Request, policies: PolicySet) -> Decision:
    identity, repository, registry = policies
    built = {name: build(docs, PolicyKind.IDENTITY) for name, docs in identity.items()}
    return evaluate(
        request,
        {name: policy for name, policy in built.items() if policy is not None},
        build(repository, PolicyKind.RESOURCE),
        build(registry, PolicyKind.RESOURCE),
    )


def verdict(decision: Decision) -> tuple[bool, Reason]:
    return decision.allowed, decision.reason


@given(requests)
def test_with_no_policies_everything_is_implicitly_denied(request: Request) -> None:
    assert verdict(decide(request, ({}, None, None))) == (False, Reason.IMPLICIT_DENY)


@given(requests, policy_sets(), st.sampled_from(["identity", "repository", "registry"]))
def test_a_matching_deny_always_denies(request: Request, policies: PolicySet, where: str) -> None:
    identity, repository, registry = policies
    deny: Document = {"Effect": "Deny", "Action": request.action, "Resource": request.resource}
    if where == "identity":
        identity = {**identity, "deny": [deny]}
    elif where == "repository":
        repository = [*(repository or []), {**deny, "Principal": "*"}]
    else:
        registry = [{**deny, "Principal": "*"}, *(registry or [])]
    assert verdict(decide(request, (identity, repository, registry))) == (False, Reason.EXPLICIT_DENY)


@given(requests, policy_sets(), st.sampled_from(["Allow", "Deny"]), st.booleans(), st.booleans())
def test_an_unrelated_statement_changes_nothing(
    request: Request, policies: PolicySet, effect: str, other_action: bool, in_identity: bool
) -> None:
    unrelated: Document = {"Effect": effect, "Action": "s3:GetObject", "Resource": request.resource}
    if not other_action:
        unrelated = {"Effect": effect, "Action": request.action, "Resource": "arn:aws:s3:::bucket/*"}
    identity, repository, registry = policies
    if in_identity:
        widened: PolicySet = ({**identity, "extra": [unrelated]}, repository, registry)
    else:
        widened = (identity, [*(repository or []), {**unrelated, "Principal": "*"}], registry)
    assert verdict(decide(request, widened)) == verdict(decide(request, policies))


@given(requests, policy_sets(), st.data())
def test_statement_order_never_matters(request: Request, policies: PolicySet, data: st.DataObject) -> None:
    identity, repository, registry = policies
    shuffled: PolicySet = (
        {name: data.draw(st.permutations(docs)) for name, docs in identity.items()},
        None if repository is None else data.draw(st.permutations(repository)),
        None if registry is None else data.draw(st.permutations(registry)),
    )
    assert verdict(decide(request, shuffled)) == verdict(decide(request, policies))


@given(requests, policy_sets(), st.booleans())
def test_cross_account_needs_both_sides(request: Request, policies: PolicySet, keep_identity: bool) -> None:
    identity, repository, registry = policies
    one_side: PolicySet = (identity, None, None) if keep_identity else ({}, repository, registry)
    cross = Request(BOB, request.action, request.resource, A, request.context)
    assert not decide(cross, one_side).allowed


@given(requests, policy_sets())
def test_anonymous_is_never_allowed_by_a_policy(request: Request, policies: PolicySet) -> None:
    anonymous = Request(Caller.anonymous(), request.action, request.resource, A, request.context)
    assert not decide(anonymous, policies).allowed


@given(requests, policy_sets())
def test_every_verdict_is_consistent_and_explained(request: Request, policies: PolicySet) -> None:
    decision = decide(request, policies)
    assert decision.allowed is (decision.reason is Reason.ALLOWED)
    if decision.reason is not Reason.IMPLICIT_DENY:
        assert decision.statement is not None  # an allow or a deny can always be explained
