"""The authorization seam: one place decides whether a principal may take an action
on a resource. Routes declare the action and resource; they never decide."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str


class Authorizer(Protocol):
    async def decide(self, request: AccessRequest) -> Decision: ...

    async def explain(self, request: AccessRequest) -> Verdict:
        """The policy engine's whole decision (with the deciding statements), for simulations."""
        ...
