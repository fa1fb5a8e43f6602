"""HTTP Basic authentication: an access key, a user's password (verified credentials
are remembered, and re-read from the database every second, see
:mod:`strongroom.auth.credential_cache`), or ``AWS`` and a registry password from
``GetAuthorizationToken``. Failures are throttled per address and per address and
credential (:mod:`strongroom.auth.throttle`)."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from datetime import datetime
from typing import Protocol

import anyio

from strongroom.auth.credential_cache import CredentialCache, Verified
from strongroom.auth.passwords import Passwords
from strongroom.auth.principals import ANONYMOUS, Principal
from strongroom.auth.secretbox import SecretBox, SecretBoxError
from strongroom.auth.throttle import LoginThrottle, ThrottlePolicy, attempt_keys
from strongroom.auth.tokens import TokenIssuer
from strongroom.clock import Clock
from strongroom.errors import AuthenticationRequired
from strongroom.metadata.records import AccessKey, User
from strongroom.metadata.store import UserStore

MAX_CREDENTIAL_HEADER = 4096
ACCESS_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$")
REGISTRY_LOGIN_USER = "AWS"
"""The user name that goes with a ``GetAuthorizationToken`` password, as on ECR."""

logger = logging.getLogger("strongroom.auth")


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
        late when failures repeat, and ``TooManyRequests`` for a wrong credential, or
        one that would need a password hash, while ``source`` (the client's address),
        or ``source`` with this credential, is locked out."""
        if not authorization:
            return ANONYMOUS
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise AuthenticationRequired(f"unsupported authorization scheme {scheme[:20]!r}")
        username, password = _decode_basic(credentials.strip())
        keys = attempt_keys(source, username)
        try:
            principal = await self._principal(username, password, keys)
        except AuthenticationRequired:
            self._throttle.check(*keys)  # locked: refused at once, and not counted again
            await anyio.sleep(self._throttle.failed(*keys))
            raise
        self._throttle.succeeded(keys[-1])
        return principal

    async def _principal(self, username: str, password: str, keys: tuple[str, ...]) -> Principal:
        """Cheap checks first (a registry password's signature, a remembered credential,
        an access key's secret); a password hash only while the attempt is not locked."""
        if username == REGISTRY_LOGIN_USER and self._login_tokens is not None:
            principal = self._login_tokens.verify_login(password, self._clock.now())
            await self.require_valid(principal)
            return principal
        key = self._cache.key("basic", username, password)
        while (cached := await self._cache.get(key)) is None:
            if ACCESS_KEY_ID.match(username):
                verified = await self._verify_access_key(username, password)
                self._cache.put(key, verified)
                return verified.principal
            pending = self._in_flight.get(key)
            if pending is None:
                self._throttle.check(*keys)
                return await self._verify_password_once(key, username, password)
            await pending.wait()  # then look again: cached on success, or verify ourselves
        return cached

    async def require_valid(self, principal: Principal, access_key_id: str | None = None) -> None:
        """Refuse a signed token (registry password, bearer token) whose principal was
        deleted, or whose access key was deactivated or deleted, since it was issued."""
        if not await self._cache.still_valid(principal, access_key_id):
            raise AuthenticationRequired("the credentials this token was issued for are no longer valid")

    async def _verify_password_once(self, key: bytes, username: str, password: str) -> Principal:
        """Concurrent requests with one password wait for this single verification."""
        done = self._in_flight[key] = anyio.Event()
        try:
            verified = Verified.password(await self._verify_password(username, password))
            self._cache.put(key, verified)
            return verified.principal
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

    async def _verify_access_key(self, key_id: str, secret: str) -> Verified:
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
        return Verified.access_key(found)


def claimed_identity(authorization: str | None) -> str:
    """Who a failed ``Authorization`` header claimed to be, for the audit log: a Basic
    user name or access key id (never the password), else the scheme."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return scheme[:20].lower() or "none"
    try:
        return _decode_basic(credentials.strip())[0]
    except AuthenticationRequired:
        return "malformed basic credentials"


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
