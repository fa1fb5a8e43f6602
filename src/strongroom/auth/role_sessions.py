"""Roles and their sessions: creating and deleting roles, their trust policies, and STS
AssumeRole, where a trust policy is evaluated (with the caller's identity policies, AWS's
rules) before temporary credentials are issued and verified."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from strongroom.audit.log import AuditEvent
from strongroom.auth.admin_base import (
    DESCRIPTION_MAX,
    IAM_NAME,
    PATH,
    AdminBase,
    DeleteConflict,
    EntityAlreadyExists,
    NoSuchEntity,
    as_conflict,
    check,
)
from strongroom.auth.iam_authorizer import bound_policy, caller_of, identity_policies
from strongroom.auth.identifiers import (
    ROLE_PREFIX,
    TEMPORARY_KEY_PREFIX,
    access_key_id,
    secret_access_key,
    unique_id,
)
from strongroom.auth.principals import Principal, RoleSession
from strongroom.errors import AccessDenied, AuthenticationRequired, InvalidRequest, StrongroomError
from strongroom.metadata.principals import loads
from strongroom.metadata.records import Role, TemporaryCredential
from strongroom.policy.context import ContextValue
from strongroom.policy.document import Policy, PolicyKind
from strongroom.policy.evaluation import Decision, evaluate
from strongroom.policy.request import Request

_ROLE_ARN = re.compile(r"^arn:aws:iam::(?P<account>[0-9]{12}):role/(?:.*/)?(?P<name>[^/]+)$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
MIN_SESSION_SECONDS = 900
MAX_SESSION_SECONDS = 43200
"""A role's MaxSessionDuration is 3,600 to 43,200 seconds; a session lasts at least 900."""
ASSUME_ROLE = "sts:AssumeRole"
EXTERNAL_ID = "sts:ExternalId"
"""The condition key AssumeRole's ``ExternalId`` parameter is evaluated as."""
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


@dataclass(frozen=True, slots=True)
class Session:
    """Temporary credentials from AssumeRole."""

    role: Role
    principal: Principal
    """Who the credentials act as (the assumed-role ARN)."""
    access_key_id: str
    secret_access_key: str
    session_token: str
    """Shown once, like the secret; only its SHA-256 is stored."""
    expiration: datetime


class InvalidSessionToken(AuthenticationRequired):
    pass


class ExpiredToken(AuthenticationRequired):
    pass


def session_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def verify_session(credential: TemporaryCredential, token: str | None, now: datetime) -> Principal:
    """The role session that ``credential`` signs for, if ``token`` is its session token
    (compared by hash, in constant time) and it has not expired at ``now``."""
    if token is None or not hmac.compare_digest(session_token_hash(token), credential.session_token_hash):
        raise InvalidSessionToken("The security token included in the request is invalid.")
    if now >= credential.expires_at:
        raise ExpiredToken("The security token included in the request is expired")
    role = credential.role
    session = RoleSession(role.name, role.id, credential.session_name, role.path, credential.expires_at)
    return Principal.assumed_role(role.account_id, role.role_id, session)


class RoleSessions(AdminBase):
    # roles

    async def create_role(
        self, account_id: str, name: str, trust_policy: str, path: str = "/",
        description: str | None = None, max_session_seconds: int = 3600,
    ) -> Role:  # fmt: skip
        check(IAM_NAME, name, "role name")
        check(PATH, path, "path")
        if description is not None and len(description) > DESCRIPTION_MAX:
            raise InvalidRequest(f"a role description is at most {DESCRIPTION_MAX} characters")
        if not 3600 <= max_session_seconds <= MAX_SESSION_SECONDS:
            raise InvalidRequest(f"MaxSessionDuration must be from 3600 to {MAX_SESSION_SECONDS} seconds")
        Policy.from_json(trust_policy, PolicyKind.RESOURCE)  # a trust policy names who may assume
        await self._account(account_id)
        created = self._iam.create_role(
            account_id, name, role_id=unique_id(ROLE_PREFIX), trust_policy=trust_policy,
            now=self._clock.now(), path=path, description=description,
            max_session_seconds=max_session_seconds,
        )  # fmt: skip
        role = await as_conflict(EntityAlreadyExists, created)
        await self._record("iam:CreateRole", role.arn, trust_policy=trust_policy)
        return role

    async def role(self, account_id: str, name: str) -> Role:
        role = await self._iam.get_role(account_id, name)
        if role is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        return role

    async def list_roles(self, account_id: str, path_prefix: str = "/") -> list[Role]:
        return [role for role in await self._iam.list_roles(account_id) if role.path.startswith(path_prefix)]

    async def delete_role(self, account_id: str, name: str) -> None:
        role = await self.role(account_id, name)
        await as_conflict(DeleteConflict, self._iam.delete_role(role))
        await self._record("iam:DeleteRole", role.arn)

    async def update_assume_role_policy(self, account_id: str, name: str, trust_policy: str) -> None:
        Policy.from_json(trust_policy, PolicyKind.RESOURCE)
        role = await self.role(account_id, name)
        await self._iam.update_trust_policy(role, trust_policy)
        await self._record("iam:UpdateAssumeRolePolicy", role.arn, trust_policy=trust_policy)

    async def assume_role(
        self, caller: Principal, role_arn: str, session_name: str, duration: int,
        context: Mapping[str, ContextValue] | None = None,
    ) -> Session:  # fmt: skip
        """Temporary credentials for ``role_arn``, if its trust policy (and, across accounts,
        the caller's identity policy) allows the caller ``sts:AssumeRole``.

        An unknown role is refused like an untrusted one (AccessDenied, as STS does), so
        that role names cannot be probed. The session token is returned once; only its
        SHA-256 is stored, and :func:`verify_session` checks it and the expiry.
        ``context`` holds the request's condition keys (``aws:SourceIp``, ``sts:ExternalId``…)
        that the trust policy's conditions are evaluated against."""
        check(_SESSION_NAME, session_name, "role session name")
        external_id = (context or {}).get(EXTERNAL_ID)
        if isinstance(external_id, str):
            check(_EXTERNAL_ID, external_id, "ExternalId")
        match = _ROLE_ARN.match(role_arn)
        if match is None:
            raise InvalidRequest(f"invalid role ARN: {role_arn[:200]!r}")
        found = await self._iam.get_role(match.group("account"), match.group("name"))
        if caller.is_anonymous or found is None or found.arn != role_arn:
            await self._deny(caller, role_arn, "no such role")
        role = found
        await self._authorize_assume(caller, role, context or {})
        if not MIN_SESSION_SECONDS <= duration <= role.max_session_seconds:
            raise InvalidRequest(
                f"The requested DurationSeconds exceeds the MaxSessionDuration set for this role "
                f"({MIN_SESSION_SECONDS} to {role.max_session_seconds} seconds)."
            )
        key_id, secret = access_key_id(TEMPORARY_KEY_PREFIX), secret_access_key()
        token = secrets.token_urlsafe(96)
        now = self._clock.now()
        credential = TemporaryCredential(
            key_id, role, session_name, self._secrets.encrypt(secret.encode(), key_id.encode()),
            session_token_hash(token), now, now + timedelta(seconds=duration),
        )  # fmt: skip
        await self._iam.create_temporary_credential(credential)
        principal = verify_session(credential, token, now)
        await self._record(
            ASSUME_ROLE, role.arn, access_key_id=key_id, session=principal.arn, duration=duration
        )
        return Session(role, principal, key_id, secret, token, credential.expires_at)

    async def assume_verdict(
        self, caller: Principal, role: Role, context: Mapping[str, ContextValue] | None = None
    ) -> Decision:
        """Whether ``caller`` may assume ``role``, and which statements decided: what
        AssumeRole enforces and what simulations show. The trust policy is the role's
        resource policy, judged with AWS's rules (naming the caller's account only
        delegates to the caller's identity policies; across accounts both sides must
        allow), except that it must allow in every case ("role trust policies … must
        explicitly allow access"). ``context`` holds the request's condition keys
        (``sts:ExternalId``…). Raises the policy error if a stored policy no longer parses."""
        trust = bound_policy(role.trust_policy, loads(role.trust_principals))
        identity = await identity_policies(self._iam, caller)
        request = Request(caller_of(caller), ASSUME_ROLE, role.arn, role.account_id, context or {})
        return evaluate(request, identity, trust, resource_must_allow=True)

    async def _authorize_assume(
        self, caller: Principal, role: Role, context: Mapping[str, ContextValue]
    ) -> None:
        try:
            verdict = await self.assume_verdict(caller, role, context)
        except StrongroomError as error:  # a stored policy that no longer parses fails closed
            await self._deny(caller, role.arn, f"a stored policy is invalid: {error.message}")
        if not verdict.allowed:
            await self._deny(caller, role.arn, verdict.detail)

    async def _deny(self, caller: Principal, role_arn: str, reason: str) -> NoReturn:
        """Audit the refusal, then raise the one error IAM gives for all of them."""
        now = self._clock.now()
        event = AuditEvent(
            now, self._actor, ASSUME_ROLE, role_arn, self._source_ip, "deny", {"reason": reason}
        )
        await self._audit.record(event)
        raise AccessDenied(
            f"User: {caller.arn} is not authorized to perform: {ASSUME_ROLE} on resource: {role_arn}"
        )
