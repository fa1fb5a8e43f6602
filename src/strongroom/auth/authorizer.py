"""The authorization seam: one place decides whether a principal may take an action
on a resource. Routes declare the action and resource; they never decide.

A denial says why in AWS's words (``AccessDeniedException`` messages), rendered once
here for every front door: which kind of policy refused, never which statement or what
it says, so a caller learns no more than AWS would tell it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from strongroom.auth.principals import Principal
from strongroom.policy.evaluation import Decision as Verdict


@dataclass(frozen=True, slots=True)
class AccessRequest:
    principal: Principal
    action: str
    resource: str
    """An ARN, e.g. ``arn:aws:ecr:<region>:<account>:repository/<name>``."""
    context: Mapping[str, str | list[str]] = field(default_factory=dict)
    """Condition keys of the request: ``aws:SourceIp``, ``aws:SecureTransport``, ``aws:CurrentTime``…"""


class Denial(StrEnum):
    """Why a request was refused, in the categories AWS's denial messages name."""

    EXPLICIT_IN_IDENTITY = "explicit deny in an identity-based policy"
    EXPLICIT_IN_RESOURCE = "explicit deny in a resource-based policy"
    NO_IDENTITY_ALLOW = "no identity-based policy allows"
    NO_RESOURCE_ALLOW = "no resource-based policy allows"
    NOT_PUBLIC = "anonymous callers may only pull public repositories"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    """For the audit log and the operator: which statement decided, and why."""
    denial: Denial | None = None
    """For the caller: the category of a refusal (None when allowed)."""


def denial_message(principal: Principal, action: str, resource: str, decision: Decision) -> str:
    """AWS's ``AccessDeniedException`` wording for a refusal."""
    who = "User: anonymous" if principal.is_anonymous else f"User: {principal.arn}"
    head = f"{who} is not authorized to perform: {action} on resource: {resource}"
    match decision.denial:
        case Denial.EXPLICIT_IN_IDENTITY | Denial.EXPLICIT_IN_RESOURCE:
            return f"{head} with an {decision.denial.value}"
        case Denial.NO_RESOURCE_ALLOW:
            return f"{head} because no resource-based policy allows the {action} action"
        case Denial.NOT_PUBLIC:
            return f"{head} because {Denial.NOT_PUBLIC.value}"
        case _:
            return f"{head} because no identity-based policy allows the {action} action"


class Authorizer(Protocol):
    async def decide(self, request: AccessRequest) -> Decision: ...

    async def explain(self, request: AccessRequest) -> Verdict:
        """The policy engine's whole decision (with the deciding statements), for simulations."""
        ...
