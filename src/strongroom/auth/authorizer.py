"""The authorization seam: one place decides whether a principal may take an action
on a resource. Routes declare the action and resource; they never decide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from strongroom.auth.principals import Principal


@dataclass(frozen=True, slots=True)
class AccessRequest:
    principal: Principal
    action: str
    resource: str
    """An ARN, e.g. ``arn:aws:ecr:<region>:<account>:repository/<name>``."""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str


class Authorizer(Protocol):
    async def decide(self, request: AccessRequest) -> Decision: ...


class AuthenticatedUsersAuthorizer:
    """Until IAM policies exist every user is an administrator of the registry:
    authenticated principals may do everything, anonymous ones nothing."""

    async def decide(self, request: AccessRequest) -> Decision:
        if request.principal.is_anonymous:
            return Decision(False, "anonymous access is not allowed")
        return Decision(True, "authenticated users are administrators")
