"""When a failed job is tried again: exponential backoff with full jitter, so jobs
that failed together (a receiver down, a database restart) do not retry together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

MAX_DOUBLINGS = 40
"""Beyond any cap; keeps the arithmetic within timedelta's range."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: timedelta
    """The delay before the second attempt, at most (it doubles with each attempt)."""
    cap: timedelta = timedelta(hours=1)

    def delay(self, attempts: int, random: Callable[[], float]) -> timedelta:
        """The delay after the ``attempts``-th failed attempt: uniformly in [½d, d],
        where d = base·2^(attempts-1), capped. ``random`` returns a float in [0, 1)."""
        doublings = min(max(attempts - 1, 0), MAX_DOUBLINGS)
        ceiling = min(self.cap, self.base * (1 << doublings))
        return ceiling * (0.5 + random() / 2)
