"""Which scans apply to a repository: ECR's registry scanning configuration (scan type and
rules with wildcard repository filters) over the repository's own scan-on-push flag.
Pure: the same rules answer BatchGetRepositoryScanningConfiguration and decide, in a
push's transaction, whether the push queues a scan."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BASIC = "BASIC"
ENHANCED = "ENHANCED"
SCAN_ON_PUSH = "SCAN_ON_PUSH"
CONTINUOUS_SCAN = "CONTINUOUS_SCAN"
MANUAL = "MANUAL"
PRECEDENCE = (CONTINUOUS_SCAN, SCAN_ON_PUSH, MANUAL)
"""When a repository matches rules of several frequencies, the first of these wins."""
DEFAULT: Mapping[str, Any] = {"scanType": BASIC, "rules": []}


@dataclass(frozen=True, slots=True)
class Effective:
    frequency: str
    filters: list[dict[str, str]]

    @property
    def on_push(self) -> bool:
        return self.frequency != MANUAL


def filter_matches(pattern: str, name: str) -> bool:
    """A WILDCARD filter: ``*`` stands for any run of characters, ``/`` included."""
    return _compiled(pattern).fullmatch(name) is not None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def effective_scanning(configuration: Mapping[str, Any], name: str, scan_on_push: bool) -> Effective:
    """The scan frequency that applies to the repository ``name`` and the filters that made
    it so: a matching registry rule, else the repository's own scan-on-push flag."""
    matched: dict[str, list[dict[str, str]]] = {}
    for rule in configuration.get("rules", ()):
        filters = [f for f in rule["repositoryFilters"] if filter_matches(f["filter"], name)]
        if filters:
            matched.setdefault(rule["scanFrequency"], []).extend(filters)
    for frequency in PRECEDENCE:
        if frequency in matched:
            return Effective(frequency, matched[frequency])
    return Effective(SCAN_ON_PUSH if scan_on_push else MANUAL, [])


@functools.lru_cache(maxsize=64)
def parse(stored: str | None) -> Mapping[str, Any]:
    """The stored configuration (JSON as PutRegistryScanningConfiguration wrote it);
    unset is BASIC with no rules. Cached: every push with rules asks."""
    if not stored:
        return DEFAULT
    document = json.loads(stored)
    return document if isinstance(document, dict) else DEFAULT
