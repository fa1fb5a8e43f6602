"""Continuous scanning's rules, pure: which repositories are re-evaluated when the
vulnerability database changes, and when an image's scan eligibility expires.

A repository is covered when its account's registry scanning configuration is
``ENHANCED`` and a ``CONTINUOUS_SCAN`` rule's filter matches it (the same matching as
on push, :mod:`.configuration`); ``BASIC`` scans on push only, as in ECR. An image
stays eligible while it was pushed or pulled within the rescan duration (Amazon
Inspector's ``ecrConfiguration.rescanDuration``; a pull counts as Inspector's
``LAST_PULL_DATE`` mode does, with the same duration); ``LIFETIME`` never expires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from strongroom.scanning import configuration

RESCAN_DURATIONS: Mapping[str, timedelta | None] = {
    "DAYS_14": timedelta(days=14),
    "DAYS_30": timedelta(days=30),
    "DAYS_60": timedelta(days=60),
    "DAYS_90": timedelta(days=90),
    "DAYS_180": timedelta(days=180),
    "LIFETIME": None,
}


class Repository(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def scan_on_push(self) -> bool: ...


R = TypeVar("R", bound=Repository)


def covered(rules: Mapping[str, Any], name: str, scan_on_push: bool) -> bool:
    """Whether continuous scanning re-evaluates the repository ``name``."""
    if rules.get("scanType") != configuration.ENHANCED:
        return False
    return (
        configuration.effective_scanning(rules, name, scan_on_push).frequency == configuration.CONTINUOUS_SCAN
    )


def covered_repositories(stored: str | None, repositories: Iterable[R]) -> list[R]:
    """The repositories of an account (with its stored scanning configuration) that
    continuous scanning covers."""
    rules = configuration.parse(stored)
    return [r for r in repositories if covered(rules, r.name, r.scan_on_push)]


def expired(pushed_at: datetime, last_pulled_at: datetime | None, duration: str, now: datetime) -> bool:
    """Whether an image's scan eligibility has expired: neither pushed nor pulled
    within ``duration``."""
    span = RESCAN_DURATIONS[duration]
    if span is None:
        return False
    last = max(pushed_at, last_pulled_at) if last_pulled_at is not None else pushed_at
    return now - last > span


def expiry_description(duration: str) -> str:
    return (
        f"The image was not pushed or pulled within the rescan duration ({duration}): it is no "
        "longer re-evaluated when the vulnerability database changes. Its findings are those of "
        "its last evaluation; push it again or start a scan to scan it anew."
    )
