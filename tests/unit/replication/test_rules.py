"""Which destinations a push goes to: ECR's replication rules, table by table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from strongroom.replication.rules import (
    SourceSettings,
    Target,
    parse,
    repository_arn,
    source_keys,
    source_settings,
    targets_for,
)

HERE = ("us-west-2", "111111111111")
EAST = {"region": "us-east-1", "registryId": "111111111111"}
EU = {"region": "eu-west-1", "registryId": "222222222222"}
E, W = ("us-east-1", "111111111111"), ("eu-west-1", "222222222222")


def rule(*destinations: dict[str, str], prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
    found: dict[str, Any] = {"destinations": list(destinations)}
    if prefixes:
        found["repositoryFilters"] = [{"filter": p, "filterType": "PREFIX_MATCH"} for p in prefixes]
    return found


CASES = [
    ("no configuration", None, "team/app", []),
    ("no rules", {"rules": []}, "team/app", []),
    ("no filters match every repository", {"rules": [rule(EAST)]}, "x", [E]),
    ("a prefix that matches", {"rules": [rule(EAST, prefixes=("team/",))]}, "team/app", [E]),
    ("a prefix that does not", {"rules": [rule(EAST, prefixes=("team/",))]}, "other/app", []),
    ("a prefix is not a wildcard", {"rules": [rule(EAST, prefixes=("team*",))]}, "team/app", []),
    ("any of several filters", {"rules": [rule(EU, prefixes=("a/", "team/"))]}, "team/x", [W]),
    ("prefix is case sensitive", {"rules": [rule(EAST, prefixes=("Team/",))]}, "team/app", []),
    ("two rules, distinct destinations in rule order",
     {"rules": [rule(EU), rule(EAST, prefixes=("team/",))]}, "team/app",
     [W, E]),
    ("a destination named twice goes once", {"rules": [rule(EAST, EAST), rule(EAST)]}, "a", [E]),
    ("this registry in this region is never a destination",
     {"rules": [rule({"region": HERE[0], "registryId": HERE[1]}, EAST)]}, "a", [E]),
    ("another account in this region is one",
     {"rules": [rule({"region": HERE[0], "registryId": "333333333333"})]}, "a",
     [("us-west-2", "333333333333")]),
    ("an unknown filter type matches nothing",
     {"rules": [{"destinations": [EAST], "repositoryFilters": [{"filter": "a", "filterType": "REGEX"}]}]},
     "a", []),
    ("a destination missing its region is skipped",
     {"rules": [rule({"registryId": "111111111111"})]}, "a", []),
]  # fmt: skip


@pytest.mark.parametrize(("why", "configuration", "repository", "expected"), CASES, ids=[c[0] for c in CASES])
def test_targets(why: str, configuration: Any, repository: str, expected: list[tuple[str, str]]) -> None:
    document = None if configuration is None else json.dumps(configuration)
    assert targets_for(parse(document), repository, *HERE) == [Target(*item) for item in expected]


@pytest.mark.parametrize("stored", ["", "not json", "[]", '{"rules": 3}', '{"rules": ["x", null]}'])
def test_an_unreadable_configuration_replicates_nothing(stored: str) -> None:
    assert targets_for(parse(stored), "a", *HERE) == []


def test_the_replication_header_claims_the_arn_and_its_own_account() -> None:
    arn = repository_arn("us-west-2", "111111111111", "team/app")
    assert source_keys(arn) == {"aws:SourceArn": arn, "aws:SourceAccount": "111111111111"}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "team/app",
        "arn:aws:ecr:us-west-2:1111:repository/team/app",  # not a 12-digit account
        "arn:aws:ecr-public:us-west-2:111111111111:repository/team/app",
        "arn:aws:iam::111111111111:role/x",
        "arn:aws:ecr:us-west-2:111111111111:repository/team/app\nx",
        "arn:aws:ecr:us-west-2:111111111111:repository/*",  # a pattern is not a source
    ],
)
def test_anything_but_an_ecr_repository_arn_claims_nothing(header: str | None) -> None:
    assert source_keys(header) is None


def test_the_source_settings_header_round_trips() -> None:
    settings = SourceSettings("IMMUTABLE_WITH_EXCLUSION", ("latest", "dev-*"), True, "KMS")
    assert source_settings(settings.header()) == settings


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "not json",
        "[]",
        '{"imageTagMutability":"FROZEN","scanOnPush":true,"encryptionType":"AES256"}',
        '{"imageTagMutability":"IMMUTABLE","scanOnPush":"yes","encryptionType":"AES256"}',
        '{"imageTagMutability":"IMMUTABLE","scanOnPush":true,"encryptionType":"ROT13"}',
        '{"imageTagMutability":"IMMUTABLE","imageTagMutabilityExclusionFilters":["a"],'
        '"scanOnPush":true,"encryptionType":"AES256"}',  # filters without an exclusion mode
        '{"imageTagMutability":"IMMUTABLE_WITH_EXCLUSION","scanOnPush":true,"encryptionType":"AES256"}',
        '{"imageTagMutability":"IMMUTABLE_WITH_EXCLUSION","imageTagMutabilityExclusionFilters":'
        '["1","2","3","4","5","6"],"scanOnPush":true,"encryptionType":"AES256"}',
    ],
)
def test_malformed_source_settings_are_not_used(header: str | None) -> None:
    assert source_settings(header) is None
