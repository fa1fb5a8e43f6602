"""Who asks to do what to which resource: the input of an evaluation.

The caller is established by authentication before policy is consulted. The keys it
implies (``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType``,
``aws:username``, ``aws:userid``) are derived from it and override anything the
context says, so a policy cannot be steered by a context that disagrees with the
authenticated caller. Values follow "AWS global condition context keys":
``aws:PrincipalType`` is ``User``, ``AssumedRole`` or ``Anonymous``; for a role
session ``aws:PrincipalArn`` is the role's ARN, not the session's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from strongroom.policy.context import Context, ContextValue


class CallerType(StrEnum):
    USER = "user"
    ROLE = "role"
    ASSUMED_ROLE = "assumed-role"
    ANONYMOUS = "anonymous"


_PRINCIPAL_TYPE = {
    CallerType.USER: "User",
    CallerType.ROLE: "AssumedRole",  # a role acts only through sessions
    CallerType.ASSUMED_ROLE: "AssumedRole",
    CallerType.ANONYMOUS: "Anonymous",
}


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated principal, or the anonymous one (no ARN, no account)."""

    type: CallerType
    arn: str | None = None
    account_id: str | None = None
    role_arn: str | None = None  # for a role session, the role it was issued by
    user_id: str | None = None
    principal_id: str | None = None
    """The unique id of the IAM entity that acts: the user's (``AIDA…``) or, for a role
    session, the role's (``AROA…``). Policies name entities by ARN but match them by this
    id, so a user deleted and recreated under the same name is not the one named."""

    @classmethod
    def user(cls, account_id: str, name: str, *, path: str = "/", user_id: str | None = None) -> Caller:
        arn = f"arn:aws:iam::{account_id}:user{path}{name}"
        return cls(CallerType.USER, arn, account_id, None, user_id, user_id)

    @classmethod
    def role(cls, account_id: str, name: str, *, path: str = "/") -> Caller:
        arn = f"arn:aws:iam::{account_id}:role{path}{name}"
        return cls(CallerType.ROLE, arn, account_id, arn)

    @classmethod
    def assumed_role(
        cls, account_id: str, role: str, session: str, *, path: str = "/", role_id: str | None = None
    ) -> Caller:
        arn = f"arn:aws:sts::{account_id}:assumed-role/{role}/{session}"
        role_arn = f"arn:aws:iam::{account_id}:role{path}{role}"
        user_id = None if role_id is None else f"{role_id}:{session}"
        return cls(CallerType.ASSUMED_ROLE, arn, account_id, role_arn, user_id, role_id)

    @classmethod
    def anonymous(cls) -> Caller:
        return cls(CallerType.ANONYMOUS)

    @property
    def is_anonymous(self) -> bool:
        return self.type is CallerType.ANONYMOUS

    @property
    def own_arns(self) -> frozenset[str]:
        """The ARNs that name this caller itself: its user ARN, or its session's and role's."""
        return frozenset(name for name in (self.arn, self.role_arn) if name is not None)

    @property
    def account_arn(self) -> str | None:
        """The ARN of the caller's account: naming it *delegates* to the account's own
        policies ("Specifying a principal": AWS account principals); it grants nobody."""
        return None if self.account_id is None else f"arn:aws:iam::{self.account_id}:root"

    @property
    def arns(self) -> frozenset[str]:
        """Every ARN a Principal element may name that covers this caller (NotPrincipal, Deny)."""
        account = self.account_arn
        return self.own_arns if account is None else self.own_arns | {account}

    @property
    def entity_arn(self) -> str | None:
        """The ARN of the IAM entity ``principal_id`` identifies (the user, or the session's role)."""
        return self.role_arn or self.arn

    def context_keys(self) -> dict[str, str]:
        keys = {"aws:PrincipalType": _PRINCIPAL_TYPE[self.type]}
        principal_arn = self.role_arn or self.arn
        if principal_arn is not None:
            keys["aws:PrincipalArn"] = principal_arn
        if self.account_id is not None:
            keys["aws:PrincipalAccount"] = self.account_id
        if self.type is CallerType.USER and self.arn is not None:
            keys["aws:username"] = self.arn.rsplit("/", 1)[-1]
        if self.user_id is not None:
            keys["aws:userid"] = self.user_id
        return keys


@dataclass(frozen=True, slots=True)
class Request:
    """One authorization question: may ``caller`` perform ``action`` on ``resource``?

    ``resource`` is an ARN (``arn:aws:ecr:<region>:<account>:repository/<name>``) or
    ``*`` for registry-wide actions; ``resource_account`` owns it. ``context`` holds the
    other condition keys (``aws:SourceIp``, ``aws:SecureTransport``, ``aws:CurrentTime``,
    ``aws:ResourceTag/…``); the policy engine never reads a clock.
    """

    caller: Caller
    action: str
    resource: str
    resource_account: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    @property
    def cross_account(self) -> bool:
        return self.caller.account_id != self.resource_account

    def condition_context(self) -> Context:
        return Context.of({**self.context, **self.caller.context_keys()})
