"""Simulating a request as a stored user or role: what the server would decide, and the
statements that decided it (IAM's SimulatePrincipalPolicy, ``strongroom iam simulate
--principal-arn``).

Nothing is composed here: the decision comes from the code that authorizes real
requests (:meth:`IamAuthorizer.explain` with the principal's identity policies, the
repository policy and the registry policy; :meth:`IdentityAdmin.assume_verdict` with the
role's trust policy for ``sts:AssumeRole`` on a role), so a simulation can never
disagree with the server. A role is simulated as a session of itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from strongroom.auth.authorizer import AccessRequest, Authorizer
from strongroom.auth.iam_authorizer import PolicySource, identity_documents
from strongroom.auth.management import ASSUME_ROLE, IdentityAdmin, NoSuchEntity
from strongroom.auth.principals import ANONYMOUS, Principal, RoleSession
from strongroom.errors import InvalidRequest, StrongroomError
from strongroom.metadata.iam import PrincipalKind
from strongroom.metadata.records import RepositoryAccess
from strongroom.policy.evaluation import Decision, Reason, Source

_PRINCIPAL = re.compile(
    r"^arn:aws:iam::(?P<account>[0-9]{12}):(?P<type>user|role)(?P<path>/(?:[^/]+/)*)(?P<name>[^/]+)$"
)
_ROLE = re.compile(r"^arn:aws:iam::(?P<account>[0-9]{12}):role/(?:[^/]+/)*(?P<name>[^/]+)$")
ANONYMOUS_NAME = "anonymous"
SESSION_NAME = "simulation"
"""The session name a simulated role acts under (``aws:userid`` ends with it)."""


_REPOSITORY = re.compile(
    r"^arn:aws:(?P<service>ecr|ecr-public):[^:]*:(?P<account>[0-9]{12}):repository/(?P<name>.+)$"
)


@dataclass(frozen=True, slots=True)
class Simulated:
    principal: Principal
    decision: Decision
    kind: str
    """``user``, ``role`` or ``anonymous``: whose identity policies were read."""
    documents: Mapping[tuple[Source, str | None], str]
    """The texts decided on, keyed as the decision's statements name them (source, policy
    name); for ``sts:AssumeRole`` the trust policy stands as the resource policy."""


class Simulator:
    """One simulation call: what it reads for its own account (the principal, its policy
    texts, repositories' policy texts) is read once however many decisions it asks for;
    the decisions themselves read what the authorizer reads."""

    def __init__(self, admin: IdentityAdmin, authorizer: Authorizer, policies: PolicySource) -> None:
        self._admin = admin
        self._authorizer = authorizer
        self._policies: PolicySource = _ReadOnce(policies)
        self._principals: dict[str, tuple[Principal, str, dict[str, str]]] = {}

    async def principal(self, arn: str) -> tuple[Principal, str]:
        """The stored user or role ``arn`` names (or ``anonymous``), as the authorizer sees
        it acting, and its kind; raises NoSuchEntity when it does not exist."""
        if arn == ANONYMOUS_NAME:
            return ANONYMOUS, ANONYMOUS_NAME
        found = _PRINCIPAL.match(arn)
        if found is None:
            raise InvalidRequest(f"PolicySourceArn must be an IAM user or role ARN, not {arn[:200]!r}")
        account, name = found["account"], found["name"]
        if found["type"] == "user":
            user = await self._admin.user(account, name)
            if user.arn != arn:
                raise NoSuchEntity(f"The user with name {name} cannot be found.")
            return Principal(account, user.name, "user", user.path, user.user_id, user.id), "user"
        role = await self._admin.role(account, name)
        if role.arn != arn:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        session = RoleSession(role.name, role.id, SESSION_NAME, role.path)
        return Principal.assumed_role(account, role.role_id, session), "role"

    async def decide(
        self, principal_arn: str, action: str, resource: str, context: Mapping[str, str | list[str]]
    ) -> Simulated:
        """The server's decision on ``principal_arn`` doing ``action`` on ``resource``."""
        principal, kind, identity = await self._resolved(principal_arn)
        documents: dict[tuple[Source, str | None], str] = {
            (Source.IDENTITY, name): text for name, text in identity.items()
        }
        if action.lower() == ASSUME_ROLE.lower() and _ROLE.match(resource) and not principal.is_anonymous:
            verdict = await self._assume(principal, resource, documents)
            return Simulated(principal, verdict, kind, documents)
        verdict = await self._authorizer.explain(AccessRequest(principal, action, resource, context))
        repository = _REPOSITORY.match(resource)
        if repository is not None:
            access = await self._policies.repository_access(repository["account"], repository["name"])
            public = repository["service"] == "ecr-public"  # docs/adr/0004
            for source, stored in (
                (Source.REPOSITORY, access.public_policy if public else access.repository_policy),
                (Source.REGISTRY, None if public else access.registry_policy),
            ):
                if stored is not None:
                    documents[(source, None)] = stored.document
        return Simulated(principal, verdict, kind, documents)

    async def _resolved(self, arn: str) -> tuple[Principal, str, dict[str, str]]:
        if arn not in self._principals:
            principal, kind = await self.principal(arn)
            self._principals[arn] = (principal, kind, await identity_documents(self._policies, principal))
        return self._principals[arn]

    async def _assume(
        self, principal: Principal, role_arn: str, documents: dict[tuple[Source, str | None], str]
    ) -> Decision:
        """AssumeRole's decision, refusing an unknown role as AssumeRole does (as untrusted,
        so that simulations cannot probe which roles exist in other accounts)."""
        found = _ROLE.match(role_arn)
        assert found is not None
        try:
            role = await self._admin.role(found["account"], found["name"])
        except NoSuchEntity:
            role = None
        if role is None or role.arn != role_arn:
            return Decision(False, Reason.IMPLICIT_DENY, (), "no such role, or it does not trust the caller")
        documents[(Source.REPOSITORY, None)] = role.trust_policy
        try:
            return await self._admin.assume_verdict(principal, role)
        except StrongroomError:  # a stored policy that no longer parses fails closed
            return Decision(False, Reason.IMPLICIT_DENY, (), "a stored policy is invalid; denied")


class _ReadOnce:
    """The store's policies as one simulation call sees them: each read once."""

    def __init__(self, source: PolicySource) -> None:
        self._source = source
        self._identity: dict[tuple[PrincipalKind, int, str], dict[str, str]] = {}
        self._access: dict[tuple[str, str], RepositoryAccess] = {}

    async def identity_policies(
        self, kind: PrincipalKind, principal_id: int, unique_id: str
    ) -> dict[str, str]:
        key = (kind, principal_id, unique_id)
        if key not in self._identity:
            self._identity[key] = await self._source.identity_policies(kind, principal_id, unique_id)
        return self._identity[key]

    async def repository_access(self, account_id: str, name: str) -> RepositoryAccess:
        if (account_id, name) not in self._access:
            self._access[(account_id, name)] = await self._source.repository_access(account_id, name)
        return self._access[(account_id, name)]
