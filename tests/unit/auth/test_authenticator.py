from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from strongroom.auth.authenticator import BasicAuthenticator, CredentialCache
from strongroom.auth.passwords import Passwords
from strongroom.auth.secretbox import SecretBox
from strongroom.clock import SystemClock
from strongroom.errors import AuthenticationRequired
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio
ACCOUNT = "123456789012"


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


async def make(store: SqlMetadataStore, ttl: float = 30) -> tuple[BasicAuthenticator, CountingPasswords]:
    passwords = CountingPasswords()
    now = datetime.now(UTC)
    await store.create_default_account(ACCOUNT, now)
    iam = SqlIamStore(store.database)
    await iam.create_user(ACCOUNT, "ci", user_id="AIDATEST", now=now, password_hash=passwords.hash("right"))
    box = SecretBox.from_keys(b"k" * 32)
    authenticator = BasicAuthenticator(iam, passwords, box, SystemClock(), CredentialCache(ttl), ACCOUNT)
    return authenticator, passwords


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


async def test_cache_expires_and_forgets(store: SqlMetadataStore) -> None:
    authenticator, passwords = await make(store, ttl=0)
    await authenticator.authenticate(basic("ci", "right"))
    await authenticator.authenticate(basic("ci", "right"))
    assert passwords.verifications == 2
    cache = CredentialCache(ttl=60)
    key = cache.key("basic", "ci", "right")
    principal = await authenticator.authenticate(basic("ci", "right"))
    cache.put(key, principal)
    cache.forget(principal)
    assert cache.get(key) is None


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
    await iam.set_access_key_status(user, key_id, "Inactive")
    fresh, _ = await make_again(store)
    with pytest.raises(AuthenticationRequired, match="inactive"):
        await fresh.authenticate(basic(key_id, secret))


async def make_again(store: SqlMetadataStore) -> tuple[BasicAuthenticator, CountingPasswords]:
    passwords = CountingPasswords()
    box = SecretBox.from_keys(b"k" * 32)
    iam = SqlIamStore(store.database)
    return BasicAuthenticator(iam, passwords, box, SystemClock(), CredentialCache(30), ACCOUNT), passwords
