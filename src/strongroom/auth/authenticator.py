"""HTTP Basic authentication: an access key, a user's password (with a short-lived cache
of verified credentials), or ``AWS`` and a registry password from ``GetAuthorizationToken``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import anyio

from strongroom.auth.passwords import Passwords
from strongroom.auth.principals import ANONYMOUS, Principal
from strongroom.auth.secretbox import SecretBox, SecretBoxError
from strongroom.auth.throttle import LoginThrottle, ThrottlePolicy
from strongroom.auth.tokens import TokenIssuer
from strongroom.clock import Clock, monotonic
from strongroom.errors import AuthenticationRequired
from strongroom.metadata.records import AccessKey, User
from strongroom.metadata.store import UserStore

MAX_CREDENTIAL_HEADER = 4096
ACCESS_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
REGISTRY_LOGIN_USER = "AWS"
"""The user name that goes with a ``GetAuthorizationToken`` password, as on ECR."""

logger = logging.getLogger("strongroom.auth")


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    expires: float


class CredentialCache:
    """Verified credentials, keyed by an HMAC of the secret (never the secret itself).

    Entries live ``ttl`` seconds; :meth:`forget` drops a user's entries at once when
    their credential changes in this process (other processes see it within ``ttl``).
    """

    def __init__(self, ttl: float = 30.0, capacity: int = 10_000) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = ttl
        self._capacity = capacity
        self._entries: OrderedDict[bytes, _Verified] = OrderedDict()

    def key(self, *parts: str) -> bytes:
        message = "\0".join(parts).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def get(self, key: bytes) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires < monotonic():
            del self._entries[key]
            return None
        return entry.principal

    def put(self, key: bytes, principal: Principal) -> None:
        self._entries[key] = _Verified(principal, monotonic() + self._ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, principal: Principal) -> None:
        for key in [k for k, v in self._entries.items() if v.principal == principal]:
            del self._entries[key]


class CredentialStore(UserStore, Protocol):
    async def get_access_key(self, key_id: str) -> AccessKey | None: ...

    async def record_access_key_use(self, key_id: str, now: datetime) -> None: ...


class BasicAuthenticator:
    """Basic credentials: an access key (``AKIA…`` id as user name, secret as password)
    of any account, or the name and password of a user of the default account.

    A password hash costs ~0.1 s and 64 MiB, so a credential is verified at most once
    at a time: concurrent requests with the same credential wait for the one
    verification in flight, and at most ``parallel_verifications`` run at once.
    """

    def __init__(
        self,
        users: CredentialStore,
        passwords: Passwords,
        secret_box: SecretBox,
        clock: Clock,
        cache: CredentialCache,
        default_account_id: str,
        throttle: LoginThrottle | None = None,
        parallel_verifications: int = 2,
        login_tokens: TokenIssuer | None = None,
    ) -> None:
        self._login_tokens = login_tokens
        self._throttle = throttle or LoginThrottle(ThrottlePolicy())
        # Decrypted when an access key id is unknown, so that costs what a wrong secret costs.
        self._decoy = secret_box.encrypt(b"\0" * 40, b"decoy")
        self._users = users
        self._passwords = passwords
        self._secrets = secret_box
        self._clock = clock
        self._cache = cache
        self._account_id = default_account_id
        self._in_flight: dict[bytes, anyio.Event] = {}
        self._verifications = anyio.Semaphore(parallel_verifications)

    async def authenticate(self, authorization: str | None, source: str | None = None) -> Principal:
        """The caller's principal; anonymous without credentials.

        Raises ``AuthenticationRequired`` for credentials that are malformed or wrong,
        late when failures repeat, and ``TooManyRequests`` while ``source`` (the
        client's address) or the credential is locked out."""
        if not authorization:
            return ANONYMOUS
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise AuthenticationRequired(f"unsupported authorization scheme {scheme[:20]!r}")
        username, password = _decode_basic(credentials.strip())
        throttle_keys = (f"credential:{username}", *((f"address:{source}",) if source else ()))
        if username == REGISTRY_LOGIN_USER and self._login_tokens is not None:
            return await self._registry_login(password, throttle_keys)
        key = self._cache.key("basic", username, password)
        while (cached := self._cache.get(key)) is None:
            pending = self._in_flight.get(key)
            if pending is None:
                self._throttle.check(*throttle_keys)
                try:
                    principal = await self._verify(key, username, password)
                except AuthenticationRequired:
                    await anyio.sleep(self._throttle.failed(*throttle_keys))
                    raise
                self._throttle.succeeded(throttle_keys[0])
                return principal
            await pending.wait()  # then look again: cached on success, or verify ourselves
        return cached

    async def _registry_login(self, password: str, throttle_keys: tuple[str, ...]) -> Principal:
        """``AWS`` + a password from ``GetAuthorizationToken``: a signed token, checked
        without the database; what it may do is decided per request by policy."""
        assert self._login_tokens is not None
        self._throttle.check(*throttle_keys[1:])
        try:
            return self._login_tokens.verify_login(password, self._clock.now())
        except AuthenticationRequired:
            await anyio.sleep(self._throttle.failed(*throttle_keys[1:]))
            raise

    async def _verify(self, key: bytes, username: str, password: str) -> Principal:
        done = self._in_flight[key] = anyio.Event()
        try:
            if ACCESS_KEY_ID.match(username):
                user = await self._verify_access_key(username, password)
            else:
                user = await self._verify_password(username, password)
            principal = Principal(user.account_id, user.name, "user", user.path, user.user_id, user.id)
            self._cache.put(key, principal)
            return principal
        finally:
            del self._in_flight[key]
            done.set()

    async def _verify_password(self, username: str, password: str) -> User:
        async with self._verifications:
            user = await self._users.get_user(self._account_id, username)
            ok = await self._passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok:
            raise AuthenticationRequired("invalid username or password")
        return user

    async def _verify_access_key(self, key_id: str, secret: str) -> User:
        found = await self._users.get_access_key(key_id)
        ciphertext, associated = (
            (found.secret_ciphertext, key_id.encode()) if found else (self._decoy, b"decoy")
        )
        try:
            expected = self._secrets.decrypt(ciphertext, associated)
        except SecretBoxError:
            logger.error("the secret of access key %s does not decrypt with the master key", key_id)
            expected = b"\0" * 40
        ok = hmac.compare_digest(expected, secret.encode("utf-8", "surrogatepass"))
        if found is None or not ok or found.status != "Active":
            raise AuthenticationRequired("invalid access key id or secret, or the key is inactive")
        await self._users.record_access_key_use(key_id, self._clock.now())
        return found.user


def _decode_basic(credentials: str) -> tuple[str, str]:
    if len(credentials) > MAX_CREDENTIAL_HEADER:
        raise AuthenticationRequired("credentials too long")
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationRequired("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise AuthenticationRequired("malformed Basic credentials")
    return username, password
