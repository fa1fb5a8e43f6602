"""Managing identities and access: accounts, users, roles and their sessions (STS
AssumeRole), access keys, identity policies (inline and managed), repository and
registry policies, repository visibility.

The CLI (as the local operator) and the IAM query API (as the signed-in caller) call
the same use cases; every change is audited as whoever made it. Every policy is
validated (IAM's grammar, see :mod:`strongroom.policy`) before it is stored.

Conflicts are raised as the IAM error they are, all of them :class:`Conflict`::

    Conflict
     ├── EntityAlreadyExists    a user or policy of that name exists
     ├── DeleteConflict         the entity still has keys, policies or attachments
     └── LimitExceeded          a quota (two access keys per user) would be exceeded

A role session's credentials are refused as :class:`AuthenticationRequired`:
:class:`InvalidSessionToken` (missing or wrong token) or :class:`ExpiredToken`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn, TypeVar

from strongroom.audit.log import AuditEvent, AuditRecorder, JsonValue
from strongroom.auth.iam_authorizer import bound_policy, caller_of, identity_policies
from strongroom.auth.identifiers import (
    POLICY_PREFIX,
    ROLE_PREFIX,
    TEMPORARY_KEY_PREFIX,
    USER_PREFIX,
    access_key_id,
    secret_access_key,
    unique_id,
)
from strongroom.auth.principals import Principal, RoleSession
from strongroom.auth.secretbox import SecretBox
from strongroom.clock import Clock
from strongroom.errors import (
    AccessDenied,
    AuthenticationRequired,
    Conflict,
    InvalidRequest,
    NameUnknown,
    NotFound,
    StrongroomError,
)
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.principals import loads

# The records these use cases return, re-exported so that HTTP layers can name them.
from strongroom.metadata.records import AccessKey as AccessKey
from strongroom.metadata.records import ManagedPolicy as ManagedPolicy
from strongroom.metadata.records import Role as Role
from strongroom.metadata.records import TemporaryCredential as TemporaryCredential
from strongroom.metadata.records import User as User
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.names import is_account_id, validate_name
from strongroom.policy.context import ContextValue
from strongroom.policy.document import Policy, PolicyKind
from strongroom.policy.evaluation import Decision, evaluate
from strongroom.policy.findings import Finding
from strongroom.policy.request import Request
from strongroom.registry.policy_review import PolicyReview, audit_findings

_IAM_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_PATH = re.compile(r"^/([\x21-\x7e]{0,510}/)?$")
_POLICY_ARN = re.compile(r"^arn:aws:iam::(?P<account>[0-9]{12}|aws):policy/(?:.*/)?(?P<name>[^/]+)$")
_ROLE_ARN = re.compile(r"^arn:aws:iam::(?P<account>[0-9]{12}):role/(?:.*/)?(?P<name>[^/]+)$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
_DESCRIPTION_MAX = 1000
MIN_SESSION_SECONDS = 900
MAX_SESSION_SECONDS = 43200
"""A role's MaxSessionDuration is 3,600 to 43,200 seconds; a session lasts at least 900."""
ASSUME_ROLE = "sts:AssumeRole"
EXTERNAL_ID = "sts:ExternalId"
"""The condition key AssumeRole's ``ExternalId`` parameter is evaluated as."""
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")

T = TypeVar("T")


LOCAL_OPERATOR = "local-operator"
"""Who the administrative commands act as: whoever runs them on the server's store."""


class NoSuchEntity(NotFound):
    pass


class EntityAlreadyExists(Conflict):
    pass


class DeleteConflict(Conflict):
    pass


class LimitExceeded(Conflict):
    pass


async def _as(error: type[Conflict], work: Awaitable[T]) -> T:
    """Name a store's :class:`Conflict` for what it means to the use case."""
    try:
        return await work
    except Conflict as conflict:
        raise error(conflict.message) from None


@dataclass(frozen=True, slots=True)
class NewAccessKey:
    user: User
    access_key_id: str
    secret_access_key: str
    """Shown once; stored only encrypted."""
    created_at: datetime


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


class IdentityAdmin:
    def __init__(
        self,
        metadata: SqlMetadataStore,
        iam: SqlIamStore,
        secrets: SecretBox,
        clock: Clock,
        audit: AuditRecorder,
        actor: str = LOCAL_OPERATOR,
        review: PolicyReview | None = None,
        source_ip: str | None = None,
    ) -> None:
        self._review = review or PolicyReview()
        self._metadata = metadata
        self._iam = iam
        self._secrets = secrets
        self._clock = clock
        self._audit = audit
        self._actor = actor
        self._source_ip = source_ip

    async def _record(self, action: str, resource: str, **detail: JsonValue) -> None:
        """Every change is audited, as the operator who made it (DESIGN §10)."""
        event = AuditEvent(self._clock.now(), self._actor, action, resource, self._source_ip, "allow", detail)
        await self._audit.record(event)

    async def create_account(self, account_id: str) -> str:
        if not is_account_id(account_id):
            raise InvalidRequest(f"account ids are 12 digits, not {account_id[:40]!r}")
        if not await self._metadata.create_account(account_id, self._clock.now()):
            raise EntityAlreadyExists(f"account {account_id} already exists")
        await self._record("strongroom:CreateAccount", f"arn:aws:iam::{account_id}:root")
        return account_id

    async def create_user(self, account_id: str, name: str, path: str = "/") -> User:
        _check(_IAM_NAME, name, "user name")
        _check(_PATH, path, "path")
        await self._account(account_id)
        user = await _as(
            EntityAlreadyExists,
            self._iam.create_user(
                account_id, name, user_id=unique_id(USER_PREFIX), now=self._clock.now(), path=path
            ),
        )
        await self._record("iam:CreateUser", user.arn)
        return user

    async def list_users(self, account_id: str, path_prefix: str = "/") -> list[User]:
        """The account's users whose path starts with ``path_prefix``, by name."""
        return [user for user in await self._iam.list_users(account_id) if user.path.startswith(path_prefix)]

    async def user(self, account_id: str, name: str) -> User:
        user = await self._iam.get_user(account_id, name)
        if user is None:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        return user

    async def delete_user(self, account_id: str, name: str) -> None:
        user = await self.user(account_id, name)
        await _as(DeleteConflict, self._iam.delete_user(user))
        await self._record("iam:DeleteUser", user.arn)

    async def create_access_key(self, account_id: str, user_name: str) -> NewAccessKey:
        user = await self.user(account_id, user_name)
        key_id, secret = access_key_id(), secret_access_key()
        ciphertext = self._secrets.encrypt(secret.encode(), key_id.encode())
        now = self._clock.now()
        await _as(LimitExceeded, self._iam.create_access_key(user, key_id, ciphertext, now))
        await self._record("iam:CreateAccessKey", user.arn, access_key_id=key_id)
        return NewAccessKey(user, key_id, secret, now)

    async def list_access_keys(self, account_id: str, user_name: str) -> list[AccessKey]:
        return await self._iam.list_access_keys(await self.user(account_id, user_name))

    async def set_access_key_status(self, account_id: str, user_name: str, key_id: str, active: bool) -> None:
        user = await self.user(account_id, user_name)
        if not await self._iam.set_access_key_status(user, key_id, "Active" if active else "Inactive"):
            raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")
        await self._record("iam:UpdateAccessKey", user.arn, access_key_id=key_id, active=active)

    async def delete_access_key(self, account_id: str, user_name: str, key_id: str) -> None:
        user = await self.user(account_id, user_name)
        if not await self._iam.delete_access_key(user, key_id):
            raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")
        await self._record("iam:DeleteAccessKey", user.arn, access_key_id=key_id)

    async def put_user_policy(self, account_id: str, user_name: str, policy_name: str, document: str) -> None:
        _check(_POLICY_NAME, policy_name, "policy name")
        Policy.from_json(document, PolicyKind.IDENTITY)
        user = await self.user(account_id, user_name)
        await self._iam.put_inline_policy("user", user.id, policy_name, document)
        await self._record("iam:PutUserPolicy", user.arn, policy_name=policy_name, document=document)

    async def delete_user_policy(self, account_id: str, user_name: str, policy_name: str) -> None:
        user = await self.user(account_id, user_name)
        if not await self._iam.delete_inline_policy("user", user.id, policy_name):
            raise NoSuchEntity(f"The user policy with name {policy_name} cannot be found.")
        await self._record("iam:DeleteUserPolicy", user.arn, policy_name=policy_name)

    async def get_user_policy(self, account_id: str, user_name: str, policy_name: str) -> str:
        user = await self.user(account_id, user_name)
        document = await self._iam.get_inline_policy("user", user.id, policy_name)
        if document is None:
            raise NoSuchEntity(f"The user policy with name {policy_name} cannot be found.")
        return document

    async def list_user_policies(self, account_id: str, user_name: str) -> list[str]:
        user = await self.user(account_id, user_name)
        return await self._iam.list_inline_policies("user", user.id)

    # managed policies

    async def create_policy(
        self, account_id: str, name: str, document: str, path: str = "/", description: str | None = None
    ) -> ManagedPolicy:
        _check(_POLICY_NAME, name, "policy name")
        _check(_PATH, path, "path")
        if description is not None and len(description) > _DESCRIPTION_MAX:
            raise InvalidRequest(f"a policy description is at most {_DESCRIPTION_MAX} characters")
        Policy.from_json(document, PolicyKind.IDENTITY)
        await self._account(account_id)
        created = self._iam.create_managed_policy(
            account_id, name, policy_id=unique_id(POLICY_PREFIX), document=document,
            now=self._clock.now(), path=path, description=description,
        )  # fmt: skip
        policy = await _as(EntityAlreadyExists, created)
        await self._record("iam:CreatePolicy", policy.arn, document=document)
        return policy

    async def policy(self, account_id: str, arn: str) -> ManagedPolicy:
        """The account's managed policy named by ``arn`` (AWS managed policies are not held)."""
        match = _POLICY_ARN.match(arn)
        if match is None:
            raise InvalidRequest(f"invalid policy ARN: {arn[:200]!r}")
        found = None
        if match.group("account") == account_id:
            found = await self._iam.get_managed_policy(account_id, match.group("name"))
        if found is None or found.arn != arn:
            raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
        return found

    async def list_policies(self, account_id: str, path_prefix: str = "/") -> list[ManagedPolicy]:
        policies = await self._iam.list_managed_policies(account_id)
        return [policy for policy in policies if policy.path.startswith(path_prefix)]

    async def attachment_counts(self, account_id: str) -> dict[int, int]:
        """How many principals each managed policy is attached to, by policy row id."""
        return await self._iam.attachment_counts(account_id)

    async def delete_policy(self, account_id: str, arn: str) -> None:
        policy = await self.policy(account_id, arn)
        await _as(DeleteConflict, self._iam.delete_managed_policy(policy))
        await self._record("iam:DeletePolicy", policy.arn)

    async def attach_user_policy(self, account_id: str, user_name: str, arn: str) -> None:
        user = await self.user(account_id, user_name)
        policy = await self.policy(account_id, arn)
        await self._iam.attach_policy(policy, "user", user.id)
        await self._record("iam:AttachUserPolicy", user.arn, policy_arn=policy.arn)

    async def detach_user_policy(self, account_id: str, user_name: str, arn: str) -> None:
        user = await self.user(account_id, user_name)
        policy = await self.policy(account_id, arn)
        if not await self._iam.detach_policy(policy, "user", user.id):
            raise NoSuchEntity(f"Policy {arn} was not found.")
        await self._record("iam:DetachUserPolicy", user.arn, policy_arn=policy.arn)

    async def list_attached_user_policies(self, account_id: str, user_name: str) -> list[ManagedPolicy]:
        user = await self.user(account_id, user_name)
        return await self._iam.list_attached_policies("user", user.id)

    # roles

    async def create_role(
        self, account_id: str, name: str, trust_policy: str, path: str = "/",
        description: str | None = None, max_session_seconds: int = 3600,
    ) -> Role:  # fmt: skip
        _check(_IAM_NAME, name, "role name")
        _check(_PATH, path, "path")
        if description is not None and len(description) > _DESCRIPTION_MAX:
            raise InvalidRequest(f"a role description is at most {_DESCRIPTION_MAX} characters")
        if not 3600 <= max_session_seconds <= MAX_SESSION_SECONDS:
            raise InvalidRequest(f"MaxSessionDuration must be from 3600 to {MAX_SESSION_SECONDS} seconds")
        Policy.from_json(trust_policy, PolicyKind.RESOURCE)  # a trust policy names who may assume
        await self._account(account_id)
        created = self._iam.create_role(
            account_id, name, role_id=unique_id(ROLE_PREFIX), trust_policy=trust_policy,
            now=self._clock.now(), path=path, description=description,
            max_session_seconds=max_session_seconds,
        )  # fmt: skip
        role = await _as(EntityAlreadyExists, created)
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
        await _as(DeleteConflict, self._iam.delete_role(role))
        await self._record("iam:DeleteRole", role.arn)

    async def update_assume_role_policy(self, account_id: str, name: str, trust_policy: str) -> None:
        Policy.from_json(trust_policy, PolicyKind.RESOURCE)
        role = await self.role(account_id, name)
        await self._iam.update_trust_policy(role, trust_policy)
        await self._record("iam:UpdateAssumeRolePolicy", role.arn, trust_policy=trust_policy)

    async def put_role_policy(self, account_id: str, role_name: str, policy_name: str, document: str) -> None:
        _check(_POLICY_NAME, policy_name, "policy name")
        Policy.from_json(document, PolicyKind.IDENTITY)
        role = await self.role(account_id, role_name)
        await self._iam.put_inline_policy("role", role.id, policy_name, document)
        await self._record("iam:PutRolePolicy", role.arn, policy_name=policy_name, document=document)

    async def get_role_policy(self, account_id: str, role_name: str, policy_name: str) -> str:
        role = await self.role(account_id, role_name)
        document = await self._iam.get_inline_policy("role", role.id, policy_name)
        if document is None:
            raise NoSuchEntity(f"The role policy with name {policy_name} cannot be found.")
        return document

    async def delete_role_policy(self, account_id: str, role_name: str, policy_name: str) -> None:
        role = await self.role(account_id, role_name)
        if not await self._iam.delete_inline_policy("role", role.id, policy_name):
            raise NoSuchEntity(f"The role policy with name {policy_name} cannot be found.")
        await self._record("iam:DeleteRolePolicy", role.arn, policy_name=policy_name)

    async def list_role_policies(self, account_id: str, role_name: str) -> list[str]:
        return await self._iam.list_inline_policies("role", (await self.role(account_id, role_name)).id)

    async def attach_role_policy(self, account_id: str, role_name: str, arn: str) -> None:
        role = await self.role(account_id, role_name)
        policy = await self.policy(account_id, arn)
        await self._iam.attach_policy(policy, "role", role.id)
        await self._record("iam:AttachRolePolicy", role.arn, policy_arn=policy.arn)

    async def detach_role_policy(self, account_id: str, role_name: str, arn: str) -> None:
        role = await self.role(account_id, role_name)
        policy = await self.policy(account_id, arn)
        if not await self._iam.detach_policy(policy, "role", role.id):
            raise NoSuchEntity(f"Policy {arn} was not found.")
        await self._record("iam:DetachRolePolicy", role.arn, policy_arn=policy.arn)

    async def list_attached_role_policies(self, account_id: str, role_name: str) -> list[ManagedPolicy]:
        return await self._iam.list_attached_policies("role", (await self.role(account_id, role_name)).id)

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
        _check(_SESSION_NAME, session_name, "role session name")
        external_id = (context or {}).get(EXTERNAL_ID)
        if isinstance(external_id, str):
            _check(_EXTERNAL_ID, external_id, "ExternalId")
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

    async def set_repository_policy(
        self, account_id: str, repository: str, document: str | None
    ) -> list[Finding]:
        """Set (or with None, remove) a repository's policy; the repository must exist.
        Returns the policy's findings (registry/policy_review.py), also audited."""
        found = await self._repository(account_id, repository)
        arn = _repository_arn(account_id, repository)
        reviewed = [] if document is None else self._review.review(document, arn)
        await self._iam.set_repository_policy(found, document)
        action = "ecr:SetRepositoryPolicy" if document is not None else "ecr:DeleteRepositoryPolicy"
        await self._record(action, arn, document=document, findings=audit_findings(reviewed))
        return reviewed

    async def set_repository_public(self, account_id: str, repository: str, public: bool) -> None:
        await self._iam.set_repository_public(await self._repository(account_id, repository), public)
        await self._record(
            "strongroom:SetRepositoryVisibility", _repository_arn(account_id, repository), public=public
        )

    async def put_registry_policy(self, account_id: str, document: str | None) -> list[Finding]:
        """Set (or with None, remove) the registry policy; returns its findings."""
        arn = f"arn:aws:ecr:*:{account_id}:registry"
        reviewed = [] if document is None else self._review.review(document, arn)
        await self._account(account_id)
        await self._iam.put_registry_policy(account_id, document, self._clock.now())
        action = "ecr:PutRegistryPolicy" if document is not None else "ecr:DeleteRegistryPolicy"
        await self._record(action, arn, document=document, findings=audit_findings(reviewed))
        return reviewed

    async def _account(self, account_id: str) -> None:
        if account_id not in {account.account_id for account in await self._metadata.list_accounts()}:
            raise NoSuchEntity(f"account {account_id} does not exist")

    async def _repository(self, account_id: str, name: str) -> int:
        repository = await self._metadata.get_repository(account_id, validate_name(name))
        if repository is None:
            raise NameUnknown(name)
        return repository.id


def _repository_arn(account_id: str, name: str) -> str:
    return f"arn:aws:ecr:*:{account_id}:repository/{name}"


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if pattern.match(value) is None:
        raise InvalidRequest(f"invalid {what}: {value[:80]!r}")
