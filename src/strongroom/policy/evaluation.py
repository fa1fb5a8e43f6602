"""Policy evaluation: may this request go ahead, and which statement decided?

Sources (IAM User Guide): "Policy evaluation logic", "Policy evaluation for requests
within a single account" and "Cross-account policy evaluation logic".

1. Collect the statements that apply: action, resource and conditions match and, in
   a resource policy, the principal matches.
2. Any applicable ``Deny`` in any policy → ``explicit_deny``.
3. Same account: an ``Allow`` in the identity policies, *or* a resource-policy ``Allow``
   that names the caller itself (its user ARN, its role's ARN, its session's ARN) or
   ``"*"`` → ``allowed``. A resource policy that names the caller's *account* (its id or
   ``:root`` ARN) only delegates to that account's identity policies: it grants nobody
   by itself ("Specifying a principal": AWS account principals). Different accounts:
   the identity policies *and* the resource policy (naming the caller, its account or
   ``"*"``) must each allow. A role trust policy must allow in every case.
4. Otherwise ``implicit_deny``.

An IAM user or role named by ARN in a stored policy is matched by the unique id it had
when the policy was saved (:attr:`Policy.principal_ids`), so a namesake created later
inherits nothing.

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
from enum import Enum, StrEnum

from strongroom.policy.conditions import conditions_hold
from strongroom.policy.context import Context
from strongroom.policy.document import ENTITY_ARN, Effect, Policy, Principal, Statement
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
    *,
    resource_must_allow: bool = False,
) -> Decision:
    """Decide ``request`` against every policy that bears on it (pure).

    ``resource_must_allow`` is for role trust policies, which "must explicitly allow
    access for principals" even within one account ("Policy evaluation for requests
    within a single account"): an identity policy alone cannot assume a role.
    """
    context = request.condition_context()
    applicable = [
        (ref, statement, grant)
        for ref, statement, policy in _statements(identity_policies, resource_policy, registry_policy)
        if (grant := _applies(statement, ref.source, policy, request, context)) is not None
    ]
    denies = tuple(ref for ref, statement, _ in applicable if statement.effect is Effect.DENY)
    if denies:
        return Decision(False, Reason.EXPLICIT_DENY, denies, f"explicitly denied by {denies[0]}")
    identity = next((ref for ref, _, grant in applicable if grant is _Grant.IDENTITY), None)
    direct = next((ref for ref, _, grant in applicable if grant is _Grant.CALLER), None)
    delegated = next((ref for ref, _, grant in applicable if grant is _Grant.ACCOUNT), None)
    if request.cross_account:
        return _cross_account(identity, direct or delegated)
    if resource_must_allow and direct is None and delegated is None:
        return Decision(False, Reason.IMPLICIT_DENY, (), "the trust policy does not name the caller")
    granted = direct or identity
    if granted is None:
        if delegated is not None:
            detail = (
                f"{delegated} names the caller's account, which delegates to the account's identity "
                "policies, and no identity policy allows the request"
            )
            return Decision(False, Reason.IMPLICIT_DENY, (delegated,), detail)
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
) -> Iterator[tuple[StatementRef, Statement, Policy]]:
    sources: list[tuple[Source, str | None, Policy]] = [
        (Source.IDENTITY, name, policy) for name, policy in identity_policies.items()
    ]
    if resource_policy is not None:
        sources.append((Source.REPOSITORY, None, resource_policy))
    if registry_policy is not None:
        sources.append((Source.REGISTRY, None, registry_policy))
    for source, name, policy in sources:
        for statement in policy.statements:
            yield StatementRef(source, name, statement.index, statement.sid), statement, policy


class _Grant(Enum):
    """How an applicable statement reaches the caller."""

    IDENTITY = "identity"  # the caller's own identity policy
    CALLER = "caller"  # a resource policy naming the caller (its ARN, its role's, or "*")
    ACCOUNT = "account"  # a resource policy naming the caller's account: delegation only


def _applies(
    statement: Statement, source: Source, policy: Policy, request: Request, context: Context
) -> _Grant | None:
    if request.caller.is_anonymous and statement.effect is Effect.ALLOW:
        return None
    grant = _Grant.IDENTITY
    if source is not Source.IDENTITY:
        found = _principal_matches(statement.principal, request.caller, policy.principal_ids)
        if found is None:
            return None
        grant = found
    if (
        _action_matches(statement, request.action)
        and _resource_matches(statement, request.resource, context)
        and conditions_hold(statement.conditions, context)
    ):
        return grant
    return None


def _principal_matches(
    principal: Principal | None, caller: Caller, bindings: Mapping[str, str] | None
) -> _Grant | None:
    """Whether the Principal element reaches the caller, and how.

    NotPrincipal ("AWS JSON policy elements: NotPrincipal"): AWS checks the account,
    then the role, then the session, so a caller escapes the statement only when every
    one of its identities is listed — hence the advice to list the account ARN too.
    """
    if principal is None:
        return None
    if principal.negated:
        if principal.wildcard:
            return None
        escapes = not caller.is_anonymous and all(
            _names(principal, arn, caller, bindings) for arn in caller.arns
        )
        return None if escapes else _Grant.CALLER
    if principal.wildcard:
        return _Grant.CALLER  # only a Deny gets here for anonymous: "Deny *" reaches it too
    if caller.is_anonymous:
        return None
    if any(_names(principal, arn, caller, bindings) for arn in caller.own_arns):
        return _Grant.CALLER
    if caller.account_arn in principal.arns:
        return _Grant.ACCOUNT
    return None


def _names(principal: Principal, arn: str, caller: Caller, bindings: Mapping[str, str] | None) -> bool:
    """Whether ``principal`` names ``arn``, one of the caller's ARNs; an IAM user or role is
    named only if it is the same entity the policy was saved with (its unique id)."""
    if arn not in principal.arns:
        return False
    if bindings is None or ENTITY_ARN.match(arn) is None:
        return True
    return (
        arn == caller.entity_arn
        and caller.principal_id is not None
        and bindings.get(arn) == caller.principal_id
    )


def _action_matches(statement: Statement, action: str) -> bool:
    found = any(literal(pattern).like(action, ignore_case=True) for pattern in statement.actions.patterns)
    return found != statement.actions.negated


def _resource_matches(statement: Statement, resource: str, context: Context) -> bool:
    if statement.resources is None:
        return True  # a resource policy without Resource covers the resource it is attached to
    resolved = (template.resolve(context) for template in statement.resources.patterns)
    found = any(pattern is not None and pattern.arn_like(resource) for pattern in resolved)
    return found != statement.resources.negated
