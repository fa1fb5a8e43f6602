"""Slowing, then refusing, repeated failed sign-ins (issue 9 §2.3).

Failures are counted in a sliding window per source address and per source address
and credential (user name or access key id) together — never per credential alone, so
that someone guessing a known key id or user name from elsewhere cannot lock its owner
out. Past ``slow_after`` failures each further failure is answered late (a growing
delay, capped); past ``refuse_after`` the address (or the address and credential) is
locked for ``lockout`` seconds. A lock refuses only what would cost the server a
password hash, and wrong credentials: the authenticator still lets through a credential
it can check cheaply (an access key, a registry password, a password verified
recently and remembered by an HMAC of it), so a correct credential is never refused
because someone else, even behind the same address, guessed wrong.

Counters live in each process: a deployment with N processes allows N times the
budget, which still defeats online guessing of 238-bit secrets and argon2-hashed
passwords.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from strongroom.clock import monotonic
from strongroom.errors import TooManyRequests


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    slow_after: int = 5
    refuse_after: int = 20
    window: float = 300.0
    lockout: float = 900.0
    max_delay: float = 5.0


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


def attempt_keys(source: str | None, credential: str) -> tuple[str, ...]:
    """What a sign-in attempt's failures count against: its address, and its address
    with the credential it named (the last one; a success forgives it)."""
    if source is None:
        return (f"attempt:\0{credential}",)
    return (f"address:{source}", f"attempt:{source}\0{credential}")


class LoginThrottle:
    def __init__(
        self, policy: ThrottlePolicy, now: Callable[[], float] = monotonic, capacity: int = 100_000
    ) -> None:
        self._policy = policy
        self._now = now
        self._capacity = capacity
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def check(self, *keys: str) -> None:
        """Refuse at once while any of ``keys`` is locked out."""
        now = self._now()
        for key in keys:
            record = self._records.get(key)
            if record is not None and record.locked_until > now:
                raise TooManyRequests(
                    "too many failed sign-in attempts; try again later", retry_after=record.locked_until - now
                )

    def failed(self, *keys: str) -> float:
        """Count a failure; returns how long to wait before answering it."""
        now = self._now()
        worst = 0
        for key in keys:
            record = self._record(key)
            record.failures.append(now)
            while record.failures and record.failures[0] < now - self._policy.window:
                record.failures.popleft()
            while len(record.failures) > self._policy.refuse_after:
                record.failures.popleft()
            if len(record.failures) >= self._policy.refuse_after:
                record.locked_until = now + self._policy.lockout
            worst = max(worst, len(record.failures))
        excess = worst - self._policy.slow_after
        return 0.0 if excess <= 0 else min(self._policy.max_delay, 0.25 * 2 ** min(excess - 1, 8))

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            record = self._records.get(key)
            if record is not None and record.locked_until <= self._now():
                del self._records[key]

    def _record(self, key: str) -> _Record:
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record()
            while len(self._records) > self._capacity:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(key)
        return record
