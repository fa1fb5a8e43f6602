from __future__ import annotations

import pytest

from strongroom.auth.policy_cache import CachedPolicySource
from strongroom.metadata.iam import PrincipalKind
from strongroom.metadata.records import RepositoryAccess

pytestmark = pytest.mark.anyio


class CountingSource:
    def __init__(self) -> None:
        self.reads = 0
        self.document = "v1"

    async def identity_policies(
        self, kind: PrincipalKind, principal_id: int, unique_id: str
    ) -> dict[str, str]:
        self.reads += 1
        return {"p": f"{self.document}:{kind}:{principal_id}"}

    async def repository_access(self, account_id: str, name: str) -> RepositoryAccess:
        self.reads += 1
        return RepositoryAccess(self.document, False, None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_reads_are_reused_until_the_ttl_passes() -> None:
    source, clock = CountingSource(), Clock()
    cached = CachedPolicySource(source, ttl=1.0, now=clock)
    assert await cached.identity_policies("user", 1, "AIDA1") == {"p": "v1:user:1"}
    assert await cached.identity_policies("user", 1, "AIDA1") == {"p": "v1:user:1"}
    assert await cached.identity_policies("role", 1, "AIDA1") == {"p": "v1:role:1"}
    assert (await cached.repository_access("111111111111", "a")).repository_policy == "v1"
    assert source.reads == 3
    source.document = "v2"
    clock.now = 1.5
    assert await cached.identity_policies("user", 1, "AIDA1") == {"p": "v2:user:1"}
    assert (await cached.repository_access("111111111111", "a")).repository_policy == "v2"


async def test_a_zero_ttl_always_reads() -> None:
    source = CountingSource()
    cached = CachedPolicySource(source, ttl=0)
    await cached.identity_policies("user", 1, "AIDA1")
    await cached.identity_policies("user", 1, "AIDA1")
    assert source.reads == 2
