"""Authorization by IAM policies: the caller's identity policies, the repository
policy and the registry policy, evaluated by :mod:`strongroom.policy` with AWS rules.

Which policies govern a request depends on the resource ARN, that is on the front door
(docs/adr/0004-ecr-public-authorization.md):

=============================================  ===========================================
resource                                        resource policies evaluated
=============================================  ===========================================
``arn:aws:ecr:<region>:<acct>:repository/…``   the repository policy and the registry
(the ECR API and ``/v2/``; ``ecr:`` actions)    policy (under ``REGISTRY_POLICY_SCOPE=V1``
                                                only for V1's three actions)
``arn:aws:ecr-public::<acct>:repository/…``     the policy set through ECR Public
(ECR Public; ``ecr-public:`` actions)
anything else (IAM users, registries, …)        none: identity policies alone, never
                                                across accounts
=============================================  ===========================================

Anonymous callers get only what a public repository offers: pulls (DESIGN §10). A
policy's ``Principal: "*"`` means any authenticated caller, never an anonymous one.
Stored policies were validated when written; one that no longer parses fails closed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Protocol

from strongroom.auth.actions import PULL_ACTIONS
from strongroom.auth.authorizer import AccessRequest, Decision, Denial
from strongroom.auth.principals import Principal
from strongroom.errors import StrongroomError
from strongroom.metadata.iam import PrincipalKind
from strongroom.metadata.records import BoundPolicy, RepositoryAccess
from strongroom.policy.document import Policy, PolicyKind
from strongroom.policy.evaluation import Decision as Verdict
from strongroom.policy.evaluation import Reason, Source, evaluate
from strongroom.policy.request import Caller, Request

logger = logging.getLogger("strongroom.auth")

_REPOSITORY_ARN = re.compile(
    r"^arn:aws:(?P<service>ecr|ecr-public):(?P<region>[^:]*):(?P<account>[0-9]{12}):repository/(?P<name>.+)$"
)
_ACCOUNT_ARN = re.compile(r"^arn:aws:[a-z0-9-]+:[^:]*:(?P<account>[0-9]{12}):")
_INVALID = Verdict(False, Reason.IMPLICIT_DENY, (), "a stored policy is invalid; denied")
V1_REGISTRY_ACTIONS = frozenset(
    {"ecr:ReplicateImage", "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"}
)
"""What a registry policy governs under ``REGISTRY_POLICY_SCOPE=V1`` (ECR User Guide,
"Private registry permissions")."""


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
        if verdict.allowed:
            return Decision(True, verdict.detail)
        if request.principal.is_anonymous and verdict.reason is not Reason.EXPLICIT_DENY:
            return Decision(False, verdict.detail, Denial.NOT_PUBLIC)
        return Decision(False, verdict.detail, denial_of(verdict))

    async def explain(self, request: AccessRequest) -> Verdict:
        """The policy engine's whole decision on ``request``, with the statements that made
        it: what :meth:`decide` answers, and what simulations show. A stored policy that no
        longer parses fails closed."""
        try:
            match = _REPOSITORY_ARN.match(request.resource)
            if match is None:
                return await self._by_identity(request)
            return await self._by_repository(
                request, match.group("service"), match.group("account"), match.group("name")
            )
        except StrongroomError as error:
            logger.error("a stored policy no longer parses; denying: %s", error.message)
            return _INVALID

    async def explain_for(
        self, caller: Caller, identity: Mapping[str, Policy], action: str, resource: str,
        context: Mapping[str, str | list[str]],
    ) -> Verdict:  # fmt: skip
        """The decision on a request the registry makes itself on an account's behalf (a
        replication into another account, ADR 0020): ``caller`` with ``identity`` as its
        identity policies, against the repository's and registry's policies like any
        request on a repository ARN. Fails closed as :meth:`explain` does."""
        match = _REPOSITORY_ARN.match(resource)
        if match is None:
            return Verdict(False, Reason.IMPLICIT_DENY, (), f"no policy governs resource {resource}")
        try:
            account, name = match.group("account"), match.group("name")
            access = await self._policies.repository_access(account, name)
            where = (match.group("service"), account)
            return self._on_repository(caller, identity, action, resource, context, where, access)
        except StrongroomError as error:
            logger.error("a stored policy no longer parses; denying: %s", error.message)
            return _INVALID

    def _on_repository(
        self, caller: Caller, identity: Mapping[str, Policy], action: str, resource: str,
        given: Mapping[str, str | list[str]], where: tuple[str, str], access: RepositoryAccess,
    ) -> Verdict:  # fmt: skip
        service, account = where
        if service == "ecr-public":
            repository, registry = access.public_policy, None
        else:
            repository, registry = access.repository_policy, access.registry_policy
            if access.registry_policy_scope == "V1" and action not in V1_REGISTRY_ACTIONS:
                registry = None
        context = dict(given)
        for key, value in access.resource_tags:
            context[f"aws:ResourceTag/{key}"] = value
            context[f"ecr:ResourceTag/{key}"] = value
        request = Request(caller, action, resource, account, context)
        return evaluate(request, identity, _bound(repository), _bound(registry))

    async def _by_repository(self, request: AccessRequest, service: str, account: str, name: str) -> Verdict:
        principal = request.principal
        access = await self._policies.repository_access(account, name)
        verdict = self._on_repository(
            caller_of(principal), await self._identity(principal), request.action, request.resource,
            request.context, (service, account), access,
        )  # fmt: skip
        if verdict.allowed or verdict.reason is Reason.EXPLICIT_DENY:
            return verdict
        if access.public and request.action in PULL_ACTIONS:
            # What anyone may do, signed in or not: nobody gets less than anonymous.
            return Verdict(True, Reason.ALLOWED, (), "the repository is public")
        if principal.is_anonymous:
            return Verdict(
                False, Reason.IMPLICIT_DENY, (), "anonymous callers may only pull public repositories"
            )
        return verdict

    async def _by_identity(self, request: AccessRequest) -> Verdict:
        match = _ACCOUNT_ARN.match(request.resource)
        if match is None:
            return Verdict(False, Reason.IMPLICIT_DENY, (), f"no policy governs resource {request.resource}")
        if request.principal.is_anonymous:
            return Verdict(False, Reason.IMPLICIT_DENY, (), "anonymous callers have no identity policies")
        account = match.group("account")
        return evaluate(
            Request(caller_of(request.principal), request.action, request.resource, account, request.context),
            await self._identity(request.principal),
            None,
        )

    async def _identity(self, principal: Principal) -> dict[str, Policy]:
        return await identity_policies(self._policies, principal)


def denial_of(verdict: Verdict) -> Denial:
    """The category AWS's denial message names for a refusal by the policy engine."""
    if verdict.reason is Reason.EXPLICIT_DENY:
        statement = verdict.statement
        if statement is not None and statement.source is Source.IDENTITY:
            return Denial.EXPLICIT_IN_IDENTITY
        return Denial.EXPLICIT_IN_RESOURCE
    if any(ref.source is Source.IDENTITY for ref in verdict.statements):
        return Denial.NO_RESOURCE_ALLOW  # across accounts, the identity side allowed
    return Denial.NO_IDENTITY_ALLOW


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
        role_id = principal.unique_id.split(":", 1)[0]
        return Caller.assumed_role(
            principal.account_id,
            session.role_name,
            session.session_name,
            path=session.role_path,
            role_id=role_id,
        )
    return Caller.user(principal.account_id, principal.name, path=principal.path, user_id=principal.unique_id)


def bound_policy(document: str, principal_ids: Mapping[str, str]) -> Policy:
    """A stored resource or trust policy, naming the entities it was saved with."""
    return _bound_cached(document, tuple(sorted(principal_ids.items())))


def _bound(stored: BoundPolicy | None) -> Policy | None:
    return None if stored is None else bound_policy(stored.document, stored.principal_ids)


@lru_cache(maxsize=4096)
def _bound_cached(document: str, principal_ids: tuple[tuple[str, str], ...]) -> Policy:
    return _parse_required(document, PolicyKind.RESOURCE).bound(dict(principal_ids))


@lru_cache(maxsize=4096)
def _parse_required(text: str, kind: PolicyKind) -> Policy:
    return Policy.from_json(text, kind)
