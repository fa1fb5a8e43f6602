"""Policy evaluation: may this request go ahead, and which statement decided?

Sources (IAM User Guide): "Policy evaluation logic", "Policy evaluation for requests
within a single account" and "Cross-account policy evaluation logic".

1. Collect the statements that apply: action, resource and conditions match and, in
   a resource policy, the principal matches.
2. Any applicable ``Deny`` in any policy → ``explicit_deny``.
3. Same account: an ``Allow`` in the identity policies *or* the resource policies →
   ``allowed``. Different accounts: the identity policies *and* the resource policies
   must each allow.
4. Otherwise ``implicit_deny``.

The repository policy and the registry policy are both resource policies: either may
grant the resource side. ``Principal: "*"`` means every authenticated caller, never
the anonymous one (DESIGN §10): no ``Allow`` applies to an anonymous caller — public
pull is granted by the repository's visibility flag, outside this engine — while a
``Deny`` naming ``"*"``, or a ``NotPrincipal`` (Deny only), does reach it. Not modelled: the
account root user's implicit full access, permissions boundaries, session policies
and organisation policies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from strongroom.policy.conditions import conditions_hold
from strongroom.policy.context import Context
from strongroom.policy.document import Effect, Policy, Principal, Statement
from strongroom.policy.patterns import literal
from strongroom.policy.request import Caller, Request


class Source(StrEnum):
    IDENTITY = "identity"
    REPOSITORY = "repository"
    REGISTRY = "registry"


class Reason(StrEnum):
    EXPLICIT_DENY = "explicit_deny"
    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicit_deny"


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Where a statement lives: which policy, its position (from 0) and Sid."""

    source: Source
    policy_name: str | None
    index: int
    sid: str | None

    def __str__(self) -> str:
        policy = f"{self.source} policy" + (f" {self.policy_name!r}" if self.policy_name else "")
        sid = f" (Sid {self.sid!r})" if self.sid else ""
        return f"{policy}, statement {self.index}{sid}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict and what decided it: the denying statement, or the allowing ones."""

    allowed: bool
    reason: Reason
    statements: tuple[StatementRef, ...]
    detail: str

    @property
    def statement(self) -> StatementRef | None:
        return self.statements[0] if self.statements else None


def evaluate(
    request: Request,
    identity_policies: Mapping[str, Policy],
    resource_policy: Policy | None,
    registry_policy: Policy | None = None,
) -> Decision:
    """Decide ``request`` against every policy that bears on it (pure)."""
    context = request.condition_context()
    applicable = [
        (ref, statement)
        for ref, statement in _statements(identity_policies, resource_policy, registry_policy)
        if _applies(statement, ref.source, request, context)
    ]
    denies = tuple(ref for ref, statement in applicable if statement.effect is Effect.DENY)
    if denies:
        return Decision(False, Reason.EXPLICIT_DENY, denies, f"explicitly denied by {denies[0]}")
    allows = [ref for ref, _ in applicable]
    identity = next((ref for ref in allows if ref.source is Source.IDENTITY), None)
    resource = next((ref for ref in allows if ref.source is not Source.IDENTITY), None)
    if request.cross_account:
        return _cross_account(identity, resource)
    granted = identity or resource
    if granted is None:
        return Decision(False, Reason.IMPLICIT_DENY, (), "no statement allows the request")
    return Decision(True, Reason.ALLOWED, (granted,), f"allowed by {granted}")


def _cross_account(identity: StatementRef | None, resource: StatementRef | None) -> Decision:
    if identity is not None and resource is not None:
        return Decision(True, Reason.ALLOWED, (identity, resource), f"allowed by {identity} and {resource}")
    granted = tuple(ref for ref in (identity, resource) if ref is not None)
    missing = "the caller's identity policies" if identity is None else "the resource policy"
    if identity is None and resource is None:
        missing = "either side"
    detail = f"cross-account request needs both sides to allow; no allow from {missing}"
    return Decision(False, Reason.IMPLICIT_DENY, granted, detail)


def _statements(
    identity_policies: Mapping[str, Policy], resource_policy: Policy | None, registry_policy: Policy | None
) -> Iterator[tuple[StatementRef, Statement]]:
    sources: list[tuple[Source, str | None, Policy]] = [
        (Source.IDENTITY, name, policy) for name, policy in identity_policies.items()
    ]
    if resource_policy is not None:
        sources.append((Source.REPOSITORY, None, resource_policy))
    if registry_policy is not None:
        sources.append((Source.REGISTRY, None, registry_policy))
    for source, name, policy in sources:
        for statement in policy.statements:
            yield StatementRef(source, name, statement.index, statement.sid), statement


def _applies(statement: Statement, source: Source, request: Request, context: Context) -> bool:
    if request.caller.is_anonymous and statement.effect is Effect.ALLOW:
        return False
    if source is not Source.IDENTITY and not _principal_matches(statement.principal, request.caller):
        return False
    return (
        _action_matches(statement, request.action)
        and _resource_matches(statement, request.resource, context)
        and conditions_hold(statement.conditions, context)
    )


def _principal_matches(principal: Principal | None, caller: Caller) -> bool:
    """Principal: any of the caller's identities is named (its ARN, its role, its account).

    NotPrincipal ("AWS JSON policy elements: NotPrincipal"): AWS checks the account,
    then the role, then the session, so a caller escapes the statement only when every
    one of its identities is listed — hence the advice to list the account ARN too.
    """
    if principal is None:
        return False
    if principal.negated:
        return not principal.wildcard and (caller.is_anonymous or not caller.arns <= principal.arns)
    if caller.is_anonymous:
        return principal.wildcard  # only a Deny gets here: "Deny *" reaches anonymous too
    return principal.wildcard or not caller.arns.isdisjoint(principal.arns)


def _action_matches(statement: Statement, action: str) -> bool:
    found = any(literal(pattern).like(action, ignore_case=True) for pattern in statement.actions.patterns)
    return found != statement.actions.negated


def _resource_matches(statement: Statement, resource: str, context: Context) -> bool:
    if statement.resources is None:
        return True  # a resource policy without Resource covers the resource it is attached to
    resolved = (template.resolve(context) for template in statement.resources.patterns)
    found = any(pattern is not None and pattern.arn_like(resource) for pattern in resolved)
    return found != statement.resources.negated
