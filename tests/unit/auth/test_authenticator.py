from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from strongroom.auth.authenticator import BasicAuthenticator, CredentialCache
from strongroom.auth.passwords import Passwords
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
    return BasicAuthenticator(iam, passwords, CredentialCache(ttl), ACCOUNT), passwords


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
