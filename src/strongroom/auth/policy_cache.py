"""A short-lived cache in front of the policy store, so that authorizing a request does
not cost two database round trips.

It wraps the :class:`~strongroom.auth.iam_authorizer.PolicySource` role and the
authorizer never learns of it. A policy change takes effect within ``ttl`` seconds in
every process (IAM itself is eventually consistent, for seconds); ``ttl=0`` disables it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from strongroom.auth.iam_authorizer import PolicySource
from strongroom.clock import monotonic
from strongroom.metadata.iam import PrincipalKind
from strongroom.metadata.records import RepositoryAccess

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, now: Callable[[], float], capacity: int) -> None:
        self._ttl = ttl
        self._now = now
        self._capacity = capacity
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        if self._ttl <= 0:
            return await load()
        now = self._now()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = await load()
        self._entries[key] = (now + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return value


class CachedPolicySource:
    def __init__(
        self, source: PolicySource, ttl: float, now: Callable[[], float] = monotonic, capacity: int = 10_000
    ) -> None:
        self._source = source
        self._identity: _TtlCache[tuple[str, int, str], dict[str, str]] = _TtlCache(ttl, now, capacity)
        self._access: _TtlCache[tuple[str, str], RepositoryAccess] = _TtlCache(ttl, now, capacity)

    async def identity_policies(
        self, kind: PrincipalKind, principal_id: int, unique_id: str
    ) -> dict[str, str]:
        return await self._identity.get(
            (kind, principal_id, unique_id),
            lambda: self._source.identity_policies(kind, principal_id, unique_id),
        )

    async def repository_access(self, account_id: str, name: str) -> RepositoryAccess:
        return await self._access.get(
            (account_id, name), lambda: self._source.repository_access(account_id, name)
        )
