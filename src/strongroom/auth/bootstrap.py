"""First start: the default account and the administrator credential (DESIGN §10)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from strongroom.auth.identifiers import USER_PREFIX, access_key_id, secret_access_key, unique_id
from strongroom.auth.passwords import Passwords, generate_password
from strongroom.auth.secretbox import SecretBox
from strongroom.clock import Clock
from strongroom.metadata.iam import PrincipalKind
from strongroom.metadata.records import User
from strongroom.metadata.store import AccountStore, UserStore


@dataclass(frozen=True, slots=True)
class Bootstrap:
    account_id: str
    admin_user: str
    generated_password: str | None
    """Set only when this start created the administrator with a generated password."""
    access_key_id: str | None = None
    """The administrator's access key, when this start created the administrator."""
    generated_secret: str | None = None
    """Its secret, when this start generated it (shown once)."""


ADMINISTRATOR_POLICY_NAME = "AdministratorAccess"
ADMINISTRATOR_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


class _UserStore(UserStore, Protocol):
    async def put_inline_policy(
        self, kind: PrincipalKind, principal_id: int, name: str, document: str
    ) -> None: ...

    async def create_access_key(
        self, user: User, key_id: str, secret_ciphertext: bytes, now: datetime
    ) -> None: ...


async def bootstrap(
    accounts: AccountStore,
    users: _UserStore,
    passwords: Passwords,
    clock: Clock,
    *,
    account_id: str | None,
    admin_user: str,
    admin_password: str | None,
    secret_box: SecretBox,
    admin_access_key: tuple[str, str] | None = None,
) -> Bootstrap:
    """``admin_access_key`` (id, secret) is given to the administrator when it is
    created; without it one is generated."""
    now = clock.now()
    account = await accounts.create_default_account(account_id or _new_account_id(), now)
    if await users.get_user(account, admin_user) is not None:
        return Bootstrap(account, admin_user, None)
    password = admin_password or generate_password()
    user = await users.create_user(
        account, admin_user, user_id=unique_id(USER_PREFIX), now=now, password_hash=passwords.hash(password)
    )
    await users.put_inline_policy("user", user.id, ADMINISTRATOR_POLICY_NAME, ADMINISTRATOR_POLICY)
    key_id, secret = admin_access_key or (access_key_id(), secret_access_key())
    await users.create_access_key(user, key_id, secret_box.encrypt(secret.encode(), key_id.encode()), now)
    return Bootstrap(
        account,
        admin_user,
        None if admin_password else password,
        key_id,
        None if admin_access_key else secret,
    )


def _new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)
