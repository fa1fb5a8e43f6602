"""Which images a lifecycle policy expires, and why.

Semantics from ../shared/reference/ecr-api.md §5 "Evaluation semantics" (ECR User Guide,
"How lifecycle policies work"):

1. Every rule computes the images it would mark, on its own, ignoring the others.
2. The results are applied in priority order (lowest ``rulePriority`` first), and an
   image is acted on by at most one rule.
3. An image that matches the tag selection of a higher-priority rule belongs to that
   rule: no lower-priority rule may act on it, even when the higher rule left it alone.
   Lower rules still *count* it — step 1 saw every image.
4. ``imageCountMoreThan N``: the selection ordered newest push first; everything after
   the first N is marked. ``sinceImagePushed N``: pushed more than N days before ``now``.
   ``sinceImagePulled N``: last pulled (or, never pulled, pushed) more than N days ago.

Tag selection: ``tagPatternList`` — every pattern is matched by at least one of the
image's tags, ``*`` matching any run of characters, the empty run included;
``tagPrefixList`` — every prefix starts at least one tag; ``untagged`` — no tags;
``any`` — every image.

Archive: Strongroom has no archive storage class. A rule whose action is ``transition``,
whose ``storageClass`` is ``archive`` or whose ``countType`` is ``sinceImageTransitioned``
marks nothing — nothing is archived, and there is nowhere to transition to — but its tag
selection still claims the images it matches, so it protects them from lower-priority
rules as it would in ECR. Verdicts are therefore always ``EXPIRE``.

Datetimes must all be timezone-aware (or all naive); digests in ``images`` are unique.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

from strongroom.lifecycle.document import (
    ActionType,
    CountType,
    LifecyclePolicy,
    LifecycleRule,
    StorageClass,
    TagStatus,
)

_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What the evaluator needs to know of one image (one manifest digest)."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    last_pulled_at: datetime | None = None  # None: never pulled since push


@dataclass(frozen=True, slots=True)
class Verdict:
    """One image a rule acts on; shaped like a ``previewResults`` entry."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    action: Literal["EXPIRE"]
    rule_priority: int  # appliedRulePriority
    reason: str  # e.g. "rule 1: tagged prod*, more than 1 image; 3rd newest of 4"


def evaluate(policy: LifecyclePolicy, images: Sequence[ImageFacts], now: datetime) -> list[Verdict]:
    """The images ``policy`` expires at ``now``: by rule priority, then oldest push first."""
    rules = sorted(policy.rules, key=lambda rule: rule.priority)
    selections = {
        rule.priority: [image for image in images if matches_selection(rule, image)] for rule in rules
    }
    marks = {rule.priority: _marks(rule, selections[rule.priority], now) for rule in rules}
    claimed: set[str] = set()
    verdicts: list[Verdict] = []
    for rule in rules:
        for image in sorted(selections[rule.priority], key=_push_order):
            if image.digest in claimed:
                continue
            claimed.add(image.digest)
            reason = marks[rule.priority].get(image.digest)
            if reason is not None:
                verdicts.append(
                    Verdict(image.digest, image.tags, image.pushed_at, "EXPIRE", rule.priority, reason)
                )
    return verdicts


def matches_selection(rule: LifecycleRule, image: ImageFacts) -> bool:
    """Whether ``image`` meets the rule's tag requirements (the claim of step 3)."""
    if rule.tag_status is TagStatus.ANY:
        return True
    if rule.tag_status is TagStatus.UNTAGGED:
        return not image.tags
    return all(
        any(_glob(pattern).fullmatch(tag) for tag in image.tags) for pattern in rule.tag_patterns
    ) and all(any(tag.startswith(prefix) for tag in image.tags) for prefix in rule.tag_prefixes)


def can_act(rule: LifecycleRule) -> bool:
    """Whether the rule can mark anything here (see "Archive" in the module docstring)."""
    return (
        rule.action_type is ActionType.EXPIRE
        and rule.effective_storage_class is StorageClass.STANDARD
        and rule.count_type is not CountType.SINCE_IMAGE_TRANSITIONED
    )


def _marks(rule: LifecycleRule, selection: Sequence[ImageFacts], now: datetime) -> dict[str, str]:
    """Digest → reason for each image the rule would mark, were it alone (step 1)."""
    if not can_act(rule):
        return {}
    where = f"rule {rule.priority}: {_describe_selection(rule)}"
    n = rule.count_number
    marks: dict[str, str] = {}
    if rule.count_type is CountType.IMAGE_COUNT_MORE_THAN:
        newest_first = sorted(selection, key=_push_order, reverse=True)
        for rank, image in enumerate(newest_first[n:], start=n + 1):
            marks[image.digest] = (
                f"{where}, more than {_plural(n, 'image')}; {_ordinal(rank)} newest of {len(newest_first)}"
            )
    elif rule.count_type is CountType.SINCE_IMAGE_PUSHED:
        for image in selection:
            age = _age_in_days(image.pushed_at, now)
            if age > n:
                marks[image.digest] = (
                    f"{where}, pushed more than {_plural(n, 'day')} ago; pushed {age:.1f} days ago"
                )
    elif rule.count_type is CountType.SINCE_IMAGE_PULLED:
        for image in selection:
            last_use = image.last_pulled_at or image.pushed_at
            age = _age_in_days(last_use, now)
            if age > n:
                seen = "last pulled" if image.last_pulled_at is not None else "never pulled; pushed"
                marks[image.digest] = (
                    f"{where}, not pulled for more than {_plural(n, 'day')}; {seen} {age:.1f} days ago"
                )
    return marks


def _push_order(image: ImageFacts) -> tuple[datetime, str]:
    # The digest breaks ties so that equal push times give the same answer whatever the input order.
    return (image.pushed_at, image.digest)


def _age_in_days(moment: datetime, now: datetime) -> float:
    # Seconds, not timedelta(days=n): countNumber may exceed timedelta's range.
    return (now - moment).total_seconds() / _SECONDS_PER_DAY


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _describe_selection(rule: LifecycleRule) -> str:
    if rule.tag_patterns:
        return "tagged " + " and ".join(rule.tag_patterns)
    if rule.tag_prefixes:
        return f"tagged with {'prefix' if len(rule.tag_prefixes) == 1 else 'prefixes'} " + " and ".join(
            rule.tag_prefixes
        )
    return "untagged" if rule.tag_status is TagStatus.UNTAGGED else "any image"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
