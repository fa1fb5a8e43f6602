"""First start: the default account and the administrator credential (DESIGN §10)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from strongroom.auth.passwords import Passwords, generate_password
from strongroom.clock import Clock
from strongroom.metadata.store import AccountStore, UserStore


@dataclass(frozen=True, slots=True)
class Bootstrap:
    account_id: str
    admin_user: str
    generated_password: str | None
    """Set only when this start created the administrator with a generated password."""


class _Store(AccountStore, UserStore, Protocol):
    pass


async def bootstrap(
    store: _Store,
    passwords: Passwords,
    clock: Clock,
    *,
    account_id: str | None,
    admin_user: str,
    admin_password: str | None,
) -> Bootstrap:
    now = clock.now()
    account = await store.create_default_account(account_id or _new_account_id(), now)
    if await store.get_user(account, admin_user) is not None:
        return Bootstrap(account, admin_user, None)
    password = admin_password or generate_password()
    await store.create_user(account, admin_user, passwords.hash(password), now)
    return Bootstrap(account, admin_user, None if admin_password else password)


def _new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)
