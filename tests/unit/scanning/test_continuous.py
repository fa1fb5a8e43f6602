"""Continuous scanning's pure rules: which repositories are covered, and when an image's
scan eligibility expires."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.scanning.continuous import RESCAN_DURATIONS, covered_repositories, expired, expiry_description
from strongroom.settings import Settings

NOW = datetime(2026, 12, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Repo:
    name: str
    scan_on_push: bool = False


def configuration(scan_type: str, *rules: tuple[str, str]) -> str:
    return json.dumps(
        {
            "scanType": scan_type,
            "rules": [
                {
                    "scanFrequency": frequency,
                    "repositoryFilters": [{"filter": pattern, "filterType": "WILDCARD"}],
                }
                for frequency, pattern in rules
            ],
        }
    )


REPOSITORIES = [Repo("team/app"), Repo("team/base", scan_on_push=True), Repo("ml/model"), Repo("other")]


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (None, []),
        (configuration("BASIC", ("CONTINUOUS_SCAN", "*")), []),  # BASIC scans on push only
        (configuration("ENHANCED"), []),
        (configuration("ENHANCED", ("SCAN_ON_PUSH", "*")), []),
        (configuration("ENHANCED", ("CONTINUOUS_SCAN", "team/*")), ["team/app", "team/base"]),
        # A repository matched by both: continuous scanning takes precedence, as in ECR.
        (configuration("ENHANCED", ("SCAN_ON_PUSH", "team/*"), ("CONTINUOUS_SCAN", "*/app")), ["team/app"]),
        (configuration("ENHANCED", ("CONTINUOUS_SCAN", "*")), ["team/app", "team/base", "ml/model", "other"]),
    ],
)
def test_only_enhanced_continuous_rules_cover_a_repository(stored: str | None, expected: list[str]) -> None:
    assert [r.name for r in covered_repositories(stored, REPOSITORIES)] == expected


@pytest.mark.parametrize(
    ("duration", "pushed_days_ago", "pulled_days_ago", "is_expired"),
    [
        ("LIFETIME", 5000, None, False),
        ("DAYS_14", 13, None, False),
        ("DAYS_14", 15, None, True),
        ("DAYS_14", 15, 3, False),  # a recent pull keeps it eligible
        ("DAYS_14", 40, 20, True),
        ("DAYS_180", 179, None, False),
        ("DAYS_180", 181, None, True),
    ],
)
def test_eligibility_expires_when_neither_pushed_nor_pulled_within_the_duration(
    duration: str, pushed_days_ago: int, pulled_days_ago: int | None, is_expired: bool
) -> None:
    pushed = NOW - timedelta(days=pushed_days_ago)
    pulled = None if pulled_days_ago is None else NOW - timedelta(days=pulled_days_ago)
    assert expired(pushed, pulled, duration, NOW) is is_expired


def test_the_durations_are_the_settings_values_and_inspectors() -> None:
    allowed = Settings.model_fields["scan_rescan_duration"].annotation.__args__  # type: ignore[union-attr]
    assert set(allowed) == set(RESCAN_DURATIONS)
    assert {"LIFETIME", "DAYS_14", "DAYS_30", "DAYS_180"} <= set(RESCAN_DURATIONS)
    assert "DAYS_30" in expiry_description("DAYS_30")
