"""Patch policies and the rules that hold an image out of compliance, each violation
naming its rule and saying why in words a person acts on ("built on base/python:3.11
digest X, superseded by Y 12 days ago").

A policy applies to one repository or to every repository under a prefix; the
repository's own wins, then the longest prefix (as pull policies do). Its rules:

- ``allowed-bases``: the image's parent is in a repository the policy lists (a name, or a
  prefix ending in ``*``); an image with no detected base breaks it too.
- ``max-base-age``: the image's parent was pushed no longer ago than this.
- ``max-rebuild-delay``: no ancestor's tag has moved on from the digest the image was
  built on for longer than this (the tag moving is what "the base was patched" means).
- ``no-inherited-critical``: no ancestor has an open CRITICAL finding with a fix
  available; when the ancestor's tag now names a newer digest without it, the violation
  says the newer base carries the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from strongroom.lineage.durations import format_age, format_duration

REPOSITORY, PREFIX = "repository", "prefix"
ALLOWED_BASES = "allowed-bases"
MAX_BASE_AGE = "max-base-age"
MAX_REBUILD_DELAY = "max-rebuild-delay"
INHERITED_CRITICAL = "no-inherited-critical"
RULES = (ALLOWED_BASES, MAX_BASE_AGE, MAX_REBUILD_DELAY, INHERITED_CRITICAL)
MAX_NAMED = 5
"""Finding ids a message names before it says how many more."""


@dataclass(frozen=True, slots=True)
class PatchPolicy:
    scope: str
    name: str
    max_base_age: timedelta | None = None
    max_rebuild_delay: timedelta | None = None
    no_inherited_critical: bool = False
    allowed_bases: tuple[str, ...] = ()
    enforce: bool = False
    """Refuse pulls of images that break it, and pushes of images that would (the pull gate)."""


def applicable(policies: Sequence[PatchPolicy], repository: str) -> PatchPolicy | None:
    """The policy for ``repository``: its own, else the longest prefix that covers it."""
    own = [p for p in policies if p.scope == REPOSITORY and p.name == repository]
    if own:
        return own[0]
    covering = [p for p in policies if p.scope == PREFIX and repository.startswith(p.name)]
    return max(covering, key=lambda p: len(p.name), default=None)


def allowed(patterns: Sequence[str], repository: str) -> bool:
    return any(repository.startswith(p[:-1]) if p.endswith("*") else repository == p for p in patterns)


@dataclass(frozen=True, slots=True)
class Ancestor:
    """One image an image is built on, as the report needs it."""

    name: str
    """The repository as people name it (``base/python``; ``<account>/name`` across accounts)."""
    repository: str | None
    """The repository's name in its account (None for a base outside this registry)."""
    digest: str
    tag: str | None
    """The tag it was built from (as annotated, else the tag the base had when detected)."""
    pushed_at: datetime | None
    current_digest: str | None = None
    """What ``tag`` names now (None when the tag is gone or there is none)."""
    moved_at: datetime | None = None
    """When ``tag`` moved to ``current_digest``."""
    fixable_critical: tuple[str, ...] = ()
    """Its open CRITICAL findings with a fix available (their ids)."""
    fixed_in_current: tuple[str, ...] = ()
    """Those of :attr:`fixable_critical` that ``current_digest``'s scan does not have."""

    @property
    def label(self) -> str:
        return f"{self.name}:{self.tag}" if self.tag else self.name

    @property
    def superseded(self) -> bool:
        return self.current_digest is not None and self.current_digest != self.digest


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    message: str


def evaluate(ancestors: Sequence[Ancestor], policy: PatchPolicy, now: datetime) -> list[Violation]:
    """Why an image built on ``ancestors`` (its parent first) breaks ``policy``; empty
    when it complies."""
    found: list[Violation] = []
    parent = ancestors[0] if ancestors else None
    if policy.allowed_bases:
        if parent is None:
            found.append(Violation(ALLOWED_BASES, f"no base detected; allowed bases: {_list(policy)}"))
        elif parent.repository is None or not allowed(policy.allowed_bases, parent.name):
            found.append(
                Violation(ALLOWED_BASES, f"built on {parent.label}, not an allowed base ({_list(policy)})")
            )
    if policy.max_base_age is not None and parent is not None and parent.pushed_at is not None:
        age = now - parent.pushed_at
        if age > policy.max_base_age:
            found.append(
                Violation(
                    MAX_BASE_AGE,
                    f"base older than {format_duration(policy.max_base_age)}: {parent.label} digest "
                    f"{parent.digest} was pushed {format_age(age)} ago",
                )
            )
    if policy.max_rebuild_delay is not None:
        for ancestor in ancestors:
            if ancestor.superseded and ancestor.moved_at is not None:
                waited = now - ancestor.moved_at
                if waited > policy.max_rebuild_delay:
                    found.append(Violation(MAX_REBUILD_DELAY, _superseded(ancestor, waited, policy)))
    if policy.no_inherited_critical:
        found += _inherited_critical(ancestors)
    return found


def _superseded(ancestor: Ancestor, waited: timedelta, policy: PatchPolicy) -> str:
    assert policy.max_rebuild_delay is not None
    return (
        f"built on {ancestor.label} digest {ancestor.digest}, superseded by {ancestor.current_digest} "
        f"{format_age(waited)} ago (rebuild within {format_duration(policy.max_rebuild_delay)})"
    )


def _inherited_critical(ancestors: Sequence[Ancestor]) -> list[Violation]:
    found = []
    for position, ancestor in enumerate(ancestors):
        if not ancestor.fixable_critical:
            continue
        count = len(ancestor.fixable_critical)
        plural = "s" if count != 1 else ""
        if ancestor.fixed_in_current:
            fixed = len(ancestor.fixed_in_current)
            found.append(
                Violation(
                    INHERITED_CRITICAL,
                    f"base {ancestor.label} digest {ancestor.digest} has {count} fixable CRITICAL finding"
                    f"{plural}, {fixed} fixed in the newer base {ancestor.current_digest}: "
                    f"{_ids(ancestor.fixed_in_current)}",
                )
            )
        elif position == 0:
            found.append(
                Violation(
                    INHERITED_CRITICAL,
                    f"base {ancestor.label} digest {ancestor.digest} has {count} fixable CRITICAL finding"
                    f"{plural}: {_ids(ancestor.fixable_critical)}",
                )
            )
    return found


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(sorted(ids)[:MAX_NAMED])
    return shown + (f" and {len(ids) - MAX_NAMED} more" if len(ids) > MAX_NAMED else "")


def _list(policy: PatchPolicy) -> str:
    return ", ".join(policy.allowed_bases)
