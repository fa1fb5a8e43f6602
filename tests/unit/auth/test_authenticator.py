from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from strongroom.auth.authenticator import BasicAuthenticator
from strongroom.auth.credential_cache import CredentialCache
from strongroom.auth.passwords import Passwords
from strongroom.auth.secretbox import SecretBox
from strongroom.auth.throttle import LoginThrottle, ThrottlePolicy
from strongroom.clock import SystemClock
from strongroom.errors import AuthenticationRequired, TooManyRequests
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio
ACCOUNT = "123456789012"


class SteppedMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingPasswords(Passwords):
    """Real argon2, counting how often a hash is verified."""

    def __init__(self) -> None:
        super().__init__()
        self.verifications = 0

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.verifications += 1
        return await super().verify(password_hash, password)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    store = SqlMetadataStore(Database(engine))
    yield store
    store.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def make(
    store: SqlMetadataStore,
    recheck: float = 1,
    monotonic: SteppedMonotonic | None = None,
    throttle: LoginThrottle | None = None,
) -> tuple[BasicAuthenticator, CountingPasswords]:
    passwords = CountingPasswords()
    now = datetime.now(UTC)
    await store.create_default_account(ACCOUNT, now)
    iam = SqlIamStore(store.database)
    if await iam.get_user(ACCOUNT, "ci") is None:
        await iam.create_user(
            ACCOUNT, "ci", user_id="AIDATEST", now=now, password_hash=passwords.hash("right")
        )
    box = SecretBox.from_keys(b"k" * 32)
    cache = CredentialCache(iam, SystemClock(), recheck=recheck, now=monotonic or SteppedMonotonic())
    return BasicAuthenticator(iam, passwords, box, SystemClock(), cache, ACCOUNT, throttle), passwords


async def test_concurrent_requests_share_one_verification(store: SqlMetadataStore) -> None:
    authenticator, passwords = await make(store)
    principals = []

    async def one() -> None:
        principals.append(await authenticator.authenticate(basic("ci", "right")))

    async with anyio.create_task_group() as tasks:
        for _ in range(32):
            tasks.start_soon(one)
    assert passwords.verifications == 1
    assert {p.name for p in principals} == {"ci"}
    assert principals[0].arn == f"arn:aws:iam::{ACCOUNT}:user/ci"


async def test_wrong_and_unknown_credentials_are_refused_every_time(store: SqlMetadataStore) -> None:
    authenticator, passwords = await make(store)
    for header in (basic("ci", "wrong"), basic("ci", "wrong"), basic("nobody", "right")):
        with pytest.raises(AuthenticationRequired):
            await authenticator.authenticate(header)
    assert passwords.verifications == 3  # the unknown user costs a (decoy) hash too
    for header in ("Bearer x", "Basic", "Basic ???", basic("", "x"), "Basic " + "A" * 5000):
        with pytest.raises(AuthenticationRequired):
            await authenticator.authenticate(header)
    assert (await authenticator.authenticate(None)).is_anonymous


async def test_a_remembered_password_is_rechecked_without_hashing(store: SqlMetadataStore) -> None:
    clock = SteppedMonotonic()
    authenticator, passwords = await make(store, recheck=1, monotonic=clock)
    for _ in range(3):
        clock.now += 5  # each use after the recheck interval re-reads the row, no hash
        await authenticator.authenticate(basic("ci", "right"))
    assert passwords.verifications == 1
    iam = SqlIamStore(store.database)
    assert await iam.set_password(ACCOUNT, "ci", passwords.hash("changed"))
    await authenticator.authenticate(basic("ci", "right"))  # within the interval: trusted
    clock.now += 1
    with pytest.raises(AuthenticationRequired):
        await authenticator.authenticate(basic("ci", "right"))  # re-read: the hash changed
    assert passwords.verifications == 2


async def test_access_keys_authenticate_across_accounts(store: SqlMetadataStore) -> None:
    authenticator, passwords = await make(store)
    iam = SqlIamStore(store.database)
    await store.create_default_account("999999999999", datetime.now(UTC))  # no-op: default exists
    user = await iam.get_user(ACCOUNT, "ci")
    assert user is not None
    box = SecretBox.from_keys(b"k" * 32)
    key_id, secret = "AKIAABCDEFGHIJKLMNOP", "s3cr3t/with+chars"
    await iam.create_access_key(
        user, key_id, box.encrypt(secret.encode(), key_id.encode()), datetime.now(UTC)
    )
    principal = await authenticator.authenticate(basic(key_id, secret))
    assert (principal.name, principal.unique_id, principal.pk) == ("ci", "AIDATEST", user.id)
    assert passwords.verifications == 0  # keys need no password hash
    (key,) = await iam.list_access_keys(user)
    assert key.last_used_at is not None
    for wrong in (basic(key_id, "nope"), basic("AKIAZZZZZZZZZZZZZZZZ", secret)):
        with pytest.raises(AuthenticationRequired):
            await authenticator.authenticate(wrong)
    clock = SteppedMonotonic()
    fresh, _ = await make(store, monotonic=clock)
    await fresh.authenticate(basic(key_id, secret))
    await iam.set_access_key_status(user, key_id, "Inactive")
    await fresh.authenticate(basic(key_id, secret))  # trusted for the recheck interval
    clock.now += 1
    with pytest.raises(AuthenticationRequired, match="inactive"):
        await fresh.authenticate(basic(key_id, secret))


async def test_a_locked_address_gets_no_password_hash_but_cheap_right_credentials_pass(
    store: SqlMetadataStore,
) -> None:
    throttle = LoginThrottle(ThrottlePolicy(slow_after=10, refuse_after=2, lockout=60))
    authenticator, passwords = await make(store, throttle=throttle)
    await authenticator.authenticate(basic("ci", "right"), "10.0.0.9")  # remembered
    for _ in range(2):
        with pytest.raises(AuthenticationRequired):
            await authenticator.authenticate(basic("ci", "guess"), "10.0.0.1")
    hashed = passwords.verifications
    for _ in range(5):
        with pytest.raises(TooManyRequests):
            await authenticator.authenticate(basic("ci", "guess"), "10.0.0.1")
    assert passwords.verifications == hashed  # refused before any hash
    assert (await authenticator.authenticate(basic("ci", "right"), "10.0.0.1")).name == "ci"
    assert (await authenticator.authenticate(basic("ci", "right"), "10.0.0.2")).name == "ci"


async def test_requests_arriving_during_a_recheck_wait_for_its_answer(store: SqlMetadataStore) -> None:
    clock = SteppedMonotonic()
    authenticator, _ = await make(store, monotonic=clock)
    iam = SqlIamStore(store.database)
    user = await iam.get_user(ACCOUNT, "ci")
    assert user is not None
    box = SecretBox.from_keys(b"k" * 32)
    key_id, secret = "AKIAQRSTUVWXYZ234567", "concurrent-secret"
    await iam.create_access_key(
        user, key_id, box.encrypt(secret.encode(), key_id.encode()), datetime.now(UTC)
    )
    await authenticator.authenticate(basic(key_id, secret))
    await iam.set_access_key_status(user, key_id, "Inactive")
    clock.now += 1
    outcomes: list[str] = []

    async def one() -> None:
        try:
            await authenticator.authenticate(basic(key_id, secret))
            outcomes.append("accepted")
        except AuthenticationRequired:
            outcomes.append("refused")

    async with anyio.create_task_group() as tasks:
        for _ in range(16):
            tasks.start_soon(one)
    assert outcomes == ["refused"] * 16
