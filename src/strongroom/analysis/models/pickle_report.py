"""What a pickle walk reports: the globals an unpickler would import (and whether it
would call them), what the walk could not follow, and the bounds it ran under."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PickleLimits:
    """Bounds for one walk; hitting one is reported as a finding, never as clean."""

    max_opcodes: int = 20_000_000
    max_pickles: int = 16
    max_nested_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class GlobalRef:
    """A ``module.name`` the unpickler would import; ``called`` if the pickle calls it."""

    module: str
    name: str
    called: bool
    nested: int = 0


@dataclass(frozen=True)
class PickleProblem:
    """Something the walk could not follow: ``kind`` is a stable rule name."""

    kind: str
    detail: str


@dataclass
class PickleReport:
    globals: list[GlobalRef] = field(default_factory=list)
    problems: list[PickleProblem] = field(default_factory=list)
    pickles: int = 0
    opcodes: int = 0

    @property
    def parsed(self) -> bool:
        return self.pickles > 0


def iter_globals(report: PickleReport) -> Iterator[tuple[str, str]]:
    """Each distinct ``(module, name)`` once, in the order first seen."""
    seen: set[tuple[str, str]] = set()
    for ref in report.globals:
        key = (ref.module, ref.name)
        if key not in seen:
            seen.add(key)
            yield key
