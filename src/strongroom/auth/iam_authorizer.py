"""Authorization by IAM policies: the caller's identity policies, the repository
policy and the registry policy, evaluated by :mod:`strongroom.policy` with AWS rules.

Resources other than ECR repositories (IAM users and policies: ``arn:aws:iam::…``)
have no resource policy here, so only the caller's identity policies decide, and never
across accounts.

Anonymous callers get only what a public repository offers: pulls (DESIGN §10). A
policy's ``Principal: "*"`` means any authenticated caller, never an anonymous one.
Stored policies were validated when written; one that no longer parses fails closed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from functools import lru_cache
from typing import Protocol

from strongroom.auth.actions import PULL_ACTIONS
from strongroom.auth.authorizer import AccessRequest, Decision
from strongroom.auth.principals import Principal
from strongroom.errors import StrongroomError
from strongroom.metadata.iam import PrincipalKind
from strongroom.metadata.records import RepositoryAccess
from strongroom.policy.document import Policy, PolicyKind
from strongroom.policy.evaluation import Decision as Verdict
from strongroom.policy.evaluation import Reason, evaluate
from strongroom.policy.request import Caller, Request

logger = logging.getLogger("strongroom.auth")

_REPOSITORY_ARN = re.compile(r"^arn:aws:ecr:[^:]*:(?P<account>[0-9]{12}):repository/(?P<name>.+)$")
_ACCOUNT_ARN = re.compile(r"^arn:aws:[a-z0-9-]+:[^:]*:(?P<account>[0-9]{12}):")
_INVALID = Verdict(False, Reason.IMPLICIT_DENY, (), "a stored policy is invalid; denied")


class PolicySource(Protocol):
    async def identity_policies(
        self, kind: PrincipalKind, principal_id: int, unique_id: str
    ) -> dict[str, str]: ...

    async def repository_access(self, account_id: str, name: str) -> RepositoryAccess: ...


class IamAuthorizer:
    def __init__(self, policies: PolicySource) -> None:
        self._policies = policies

    async def decide(self, request: AccessRequest) -> Decision:
        verdict = await self.explain(request)
        return Decision(verdict.allowed, verdict.detail)

    async def explain(self, request: AccessRequest) -> Verdict:
        """The policy engine's whole decision on ``request``, with the statements that
        made it: what :meth:`decide` answers, and what simulations show."""
        match = _REPOSITORY_ARN.match(request.resource)
        if match is None:
            return await self._decide_by_identity(request)
        account, name = match.group("account"), match.group("name")
        access = await self._policies.repository_access(account, name)
        principal = request.principal
        try:
            repository = _parse(access.repository_policy, PolicyKind.RESOURCE)
            registry = _parse(access.registry_policy, PolicyKind.RESOURCE)
            identity = await self._identity(principal)
        except StrongroomError as error:
            logger.error("a stored policy no longer parses; denying: %s", error.message)
            return _INVALID
        context = dict(request.context)
        for key, value in access.resource_tags:
            context[f"aws:ResourceTag/{key}"] = value
            context[f"ecr:ResourceTag/{key}"] = value
        verdict = evaluate(
            Request(caller_of(principal), request.action, request.resource, account, context),
            identity,
            repository,
            registry,
        )
        public_pull = access.public and request.action in PULL_ACTIONS
        if principal.is_anonymous and public_pull and verdict.reason != "explicit_deny":
            return Verdict(True, Reason.ALLOWED, (), "the repository is public")
        return verdict

    async def _decide_by_identity(self, request: AccessRequest) -> Verdict:
        match = _ACCOUNT_ARN.match(request.resource)
        if match is None:
            return Verdict(False, Reason.IMPLICIT_DENY, (), f"no policy governs resource {request.resource}")
        if request.principal.is_anonymous:
            return Verdict(False, Reason.IMPLICIT_DENY, (), "anonymous callers have no identity policies")
        try:
            identity = await self._identity(request.principal)
        except StrongroomError as error:
            logger.error("a stored policy no longer parses; denying: %s", error.message)
            return _INVALID
        account = match.group("account")
        context = dict(request.context)
        return evaluate(
            Request(caller_of(request.principal), request.action, request.resource, account, context),
            identity,
            None,
        )

    async def _identity(self, principal: Principal) -> dict[str, Policy]:
        return await identity_policies(self._policies, principal)


async def identity_policies(source: PolicySource, principal: Principal) -> dict[str, Policy]:
    """The principal's identity policies: a user's own, or for a role session the role's.

    Raises the policy error if a stored one no longer parses (callers fail closed).
    """
    documents = await identity_documents(source, principal)
    return {name: _parse_required(text, PolicyKind.IDENTITY) for name, text in documents.items()}


async def identity_documents(source: PolicySource, principal: Principal) -> dict[str, str]:
    """The texts of :func:`identity_policies`, by policy name."""
    if principal.is_anonymous:
        return {}
    if principal.session is not None:
        role_id = principal.unique_id.split(":", 1)[0]
        return await source.identity_policies("role", principal.session.role_pk, role_id)
    return await source.identity_policies("user", principal.pk, principal.unique_id)


def caller_of(principal: Principal) -> Caller:
    """The policy engine's view of an authenticated (or anonymous) principal."""
    if principal.is_anonymous:
        return Caller.anonymous()
    if principal.session is not None:
        session = principal.session
        caller = Caller.assumed_role(
            principal.account_id, session.role_name, session.session_name, path=session.role_path
        )
        return replace(caller, user_id=principal.unique_id)
    return Caller.user(principal.account_id, principal.name, path=principal.path, user_id=principal.unique_id)


def _parse(text: str | None, kind: PolicyKind) -> Policy | None:
    return None if text is None else _parse_required(text, kind)


@lru_cache(maxsize=4096)
def _parse_required(text: str, kind: PolicyKind) -> Policy:
    return Policy.from_json(text, kind)
