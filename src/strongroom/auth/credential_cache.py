"""Credentials this process has verified, so that no request pays a password hash twice,
and a revoked credential is refused within ``recheck`` seconds (docs/adr/0005).

An entry is keyed by an HMAC of the credential under a per-process random key (never
the secret itself) and remembers the database row it was verified against: the access
key's status and ciphertext, or the user's unique id and password hash. A hit younger
than ``recheck`` is trusted; an older one is confirmed by re-reading that row — one
indexed read, no hash — and dropped if the key was deactivated or deleted, the user
deleted or recreated, or the password changed. Entries are remembered for ``remember``
seconds, which is also what lets an owner through while the address they share with
someone guessing is refused (:mod:`strongroom.auth.throttle`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

import anyio

from strongroom.auth.principals import Principal
from strongroom.clock import Clock, monotonic
from strongroom.metadata.records import AccessKey, Role, User

RECORD_USE_EVERY = timedelta(minutes=1)
"""An access key's ``last_used_at`` is written at most this often per process."""


class CredentialRows(Protocol):
    async def get_user(self, account_id: str, name: str) -> User | None: ...

    async def get_access_key(self, key_id: str) -> AccessKey | None: ...

    async def record_access_key_use(self, key_id: str, now: datetime) -> None: ...

    async def get_role(self, account_id: str, name: str) -> Role | None: ...


@dataclass(slots=True)
class Verified:
    """A credential verified against one row; ``proof`` is what must not have changed."""

    principal: Principal
    kind: Literal["access-key", "password"]
    credential_id: str
    """The access key id, or the user name."""
    proof: bytes
    """The key's secret ciphertext, or the user's password hash."""
    remembered_until: float = field(default=0.0, compare=False)
    checked_at: float = field(default=0.0, compare=False)
    rechecking: anyio.Event | None = field(default=None, compare=False)

    @classmethod
    def access_key(cls, key: AccessKey) -> Verified:
        return cls(_principal(key.user), "access-key", key.id, key.secret_ciphertext)

    @classmethod
    def password(cls, user: User) -> Verified:
        return cls(_principal(user), "password", user.name, (user.password_hash or "").encode())


def _principal(user: User) -> Principal:
    return Principal(user.account_id, user.name, "user", user.path, user.user_id, user.id)


class CredentialCache:
    def __init__(
        self,
        rows: CredentialRows,
        clock: Clock,
        recheck: float = 1.0,
        remember: float = 3600.0,
        capacity: int = 10_000,
        now: Callable[[], float] = monotonic,
    ) -> None:
        self._rows = rows
        self._clock = clock
        self._recheck = recheck
        self._remember = remember
        self._capacity = capacity
        self._now = now
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, Verified] = OrderedDict()
        self._alive: OrderedDict[tuple[str, str, str], float] = OrderedDict()

    def key(self, *parts: str) -> bytes:
        message = "\0".join(parts).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def put(self, key: bytes, verified: Verified) -> None:
        now = self._now()
        verified.remembered_until, verified.checked_at = now + self._remember, now
        self._entries[key] = verified
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    async def get(self, key: bytes) -> Principal | None:
        """The principal of a credential verified before and unchanged since; None
        when it must be verified (again). Requests arriving while its row is re-read
        wait for that one read."""
        while (entry := self._entries.get(key)) is not None:
            now = self._now()
            if entry.remembered_until < now:
                break
            if now - entry.checked_at < self._recheck:
                return entry.principal
            if entry.rechecking is not None:
                await entry.rechecking.wait()
                continue
            entry.rechecking = anyio.Event()
            try:
                unchanged = await self._unchanged(entry)
            finally:
                entry.rechecking.set()
                entry.rechecking = None
            if unchanged:
                entry.checked_at = now  # when the read began: a change during it is seen next time
                return entry.principal
            break
        self._entries.pop(key, None)
        return None

    async def still_valid(self, principal: Principal, access_key_id: str | None = None) -> bool:
        """Whether what a signed token names still exists: the user (by unique id), the
        role of a session, and the access key the token was obtained with, if any, still
        active. Re-read at most every ``recheck`` seconds per principal and key, so a
        bearer token or registry password dies with its credential (docs/adr/0005)."""
        if principal.is_anonymous:
            return True
        key = (principal.account_id, principal.unique_id, access_key_id or "")
        now = self._now()
        checked = self._alive.get(key)
        if checked is not None and now - checked < self._recheck:
            return True
        if not await self._exists(principal, access_key_id):
            self._alive.pop(key, None)
            return False
        self._alive[key] = now
        self._alive.move_to_end(key)
        while len(self._alive) > self._capacity:
            self._alive.popitem(last=False)
        return True

    async def _exists(self, principal: Principal, access_key_id: str | None) -> bool:
        if principal.session is not None:
            role = await self._rows.get_role(principal.account_id, principal.session.role_name)
            return role is not None and principal.unique_id.startswith(f"{role.role_id}:")
        if access_key_id is not None:
            found = await self._rows.get_access_key(access_key_id)
            return (
                found is not None and found.status == "Active" and found.user.user_id == principal.unique_id
            )
        user = await self._rows.get_user(principal.account_id, principal.name)
        return user is not None and user.user_id == principal.unique_id

    async def _unchanged(self, entry: Verified) -> bool:
        if entry.kind == "password":
            user = await self._rows.get_user(entry.principal.account_id, entry.credential_id)
            return user is not None and Verified.password(user) == entry
        key = await self._rows.get_access_key(entry.credential_id)
        if key is None or key.status != "Active" or Verified.access_key(key) != entry:
            return False
        now = self._clock.now()
        if key.last_used_at is None or now - key.last_used_at >= RECORD_USE_EVERY:
            await self._rows.record_access_key_use(key.id, now)
        return True
