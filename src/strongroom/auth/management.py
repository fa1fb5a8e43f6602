"""Managing identities and access: accounts, users, access keys and identity policies
(inline and managed) here, composed with the rest into :class:`IdentityAdmin`::

    admin_base.py           what every use case shares: stores, audit, names, conflicts
    role_sessions.py        roles, trust policies, STS AssumeRole and its sessions
    repository_policies.py  repository and registry policies, repository visibility

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

import re
from dataclasses import dataclass
from datetime import datetime

from strongroom.auth.admin_base import (
    DESCRIPTION_MAX,
    IAM_NAME,
    LOCAL_OPERATOR,
    PATH,
    POLICY_NAME,
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
    as_conflict,
    check,
)
from strongroom.auth.identifiers import (
    POLICY_PREFIX,
    USER_PREFIX,
    access_key_id,
    secret_access_key,
    unique_id,
)
from strongroom.auth.repository_policies import ResourcePolicies
from strongroom.auth.role_sessions import (
    ASSUME_ROLE,
    EXTERNAL_ID,
    MAX_SESSION_SECONDS,
    MIN_SESSION_SECONDS,
    ExpiredToken,
    InvalidSessionToken,
    RoleSessions,
    Session,
    session_token_hash,
    verify_session,
)
from strongroom.errors import InvalidRequest

# The records these use cases return, re-exported so that HTTP layers can name them.
from strongroom.metadata.records import AccessKey as AccessKey
from strongroom.metadata.records import ManagedPolicy as ManagedPolicy
from strongroom.metadata.records import Role as Role
from strongroom.metadata.records import TemporaryCredential as TemporaryCredential
from strongroom.metadata.records import User as User
from strongroom.oci.names import is_account_id
from strongroom.policy.document import Policy, PolicyKind

__all__ = [  # one import for the identity use cases and what they raise and return
    "ASSUME_ROLE", "EXTERNAL_ID", "LOCAL_OPERATOR", "MAX_SESSION_SECONDS", "MIN_SESSION_SECONDS",
    "AccessKey", "DeleteConflict", "EntityAlreadyExists", "ExpiredToken", "IdentityAdmin",
    "InvalidSessionToken", "LimitExceeded", "ManagedPolicy", "NewAccessKey", "NoSuchEntity", "Role",
    "Session", "TemporaryCredential", "User", "session_token_hash", "verify_session",
]  # fmt: skip

_POLICY_ARN = re.compile(r"^arn:aws:iam::(?P<account>[0-9]{12}|aws):policy/(?:.*/)?(?P<name>[^/]+)$")


@dataclass(frozen=True, slots=True)
class NewAccessKey:
    user: User
    access_key_id: str
    secret_access_key: str
    """Shown once; stored only encrypted."""
    created_at: datetime


class IdentityAdmin(RoleSessions, ResourcePolicies):
    """Every identity use case: users, keys and identity policies here; roles and their
    sessions (auth/role_sessions.py); repository and registry policies
    (auth/repository_policies.py)."""

    async def create_account(self, account_id: str) -> str:
        if not is_account_id(account_id):
            raise InvalidRequest(f"account ids are 12 digits, not {account_id[:40]!r}")
        if not await self._metadata.create_account(account_id, self._clock.now()):
            raise EntityAlreadyExists(f"account {account_id} already exists")
        await self._record("strongroom:CreateAccount", f"arn:aws:iam::{account_id}:root")
        return account_id

    async def create_user(self, account_id: str, name: str, path: str = "/") -> User:
        check(IAM_NAME, name, "user name")
        check(PATH, path, "path")
        await self._account(account_id)
        user = await as_conflict(
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
        await as_conflict(DeleteConflict, self._iam.delete_user(user))
        await self._record("iam:DeleteUser", user.arn)

    async def create_access_key(self, account_id: str, user_name: str) -> NewAccessKey:
        user = await self.user(account_id, user_name)
        key_id, secret = access_key_id(), secret_access_key()
        ciphertext = self._secrets.encrypt(secret.encode(), key_id.encode())
        now = self._clock.now()
        await as_conflict(LimitExceeded, self._iam.create_access_key(user, key_id, ciphertext, now))
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
        check(POLICY_NAME, policy_name, "policy name")
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
        check(POLICY_NAME, name, "policy name")
        check(PATH, path, "path")
        if description is not None and len(description) > DESCRIPTION_MAX:
            raise InvalidRequest(f"a policy description is at most {DESCRIPTION_MAX} characters")
        Policy.from_json(document, PolicyKind.IDENTITY)
        await self._account(account_id)
        created = self._iam.create_managed_policy(
            account_id, name, policy_id=unique_id(POLICY_PREFIX), document=document,
            now=self._clock.now(), path=path, description=description,
        )  # fmt: skip
        policy = await as_conflict(EntityAlreadyExists, created)
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
        await as_conflict(DeleteConflict, self._iam.delete_managed_policy(policy))
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

    # role policies

    async def put_role_policy(self, account_id: str, role_name: str, policy_name: str, document: str) -> None:
        check(POLICY_NAME, policy_name, "policy name")
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
