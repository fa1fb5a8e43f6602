"""Which images a lifecycle policy expires, and why (lifecycle/evaluation.py).

Source: ../shared/reference/ecr-api.md §5, "Evaluation semantics", including the ECR User
Guide's worked example; then properties that must hold for any policy and any images.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from strongroom.lifecycle import (
    CountType,
    ImageFacts,
    LifecyclePolicy,
    Verdict,
    evaluate,
    matches_selection,
    normalise,
    parse_lifecycle_policy,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def image(name: str, *tags: str, pushed: float, pulled: float | None = None) -> ImageFacts:
    return ImageFacts(
        digest=f"sha256:{name}",
        tags=tags,
        pushed_at=days_ago(pushed),
        last_pulled_at=None if pulled is None else days_ago(pulled),
    )


def rule(priority: int, tag_status: str = "tagged", **selection: object) -> dict[str, object]:
    return {
        "rulePriority": priority,
        "selection": {"tagStatus": tag_status, **selection},
        "action": {"type": "expire"},
    }


def count(priority: int, n: int, tag_status: str = "tagged", **tags: object) -> dict[str, object]:
    return rule(priority, tag_status, countType="imageCountMoreThan", countNumber=n, **tags)


def since(
    priority: int, count_type: str, n: int, tag_status: str = "tagged", **tags: object
) -> dict[str, object]:
    return rule(priority, tag_status, countType=count_type, countUnit="days", countNumber=n, **tags)


def policy(*rules: Mapping[str, object]) -> LifecyclePolicy:
    return parse_lifecycle_policy(json.dumps({"rules": list(rules)}).ljust(100))


def expired(verdicts: Sequence[Verdict]) -> list[str]:
    return [verdict.digest.removeprefix("sha256:") for verdict in verdicts]


# The ECR User Guide's worked example.
A = image("A", "beta-1", "prod-1", pushed=10)
B = image("B", "beta-2", "prod-2", pushed=9)
C = image("C", "beta-3", pushed=8)
PROD_KEEP_1 = count(1, 1, tagPrefixList=["prod"])
BETA_KEEP_1 = count(1, 1, tagPrefixList=["beta"])


def at(priority: int, rule_: dict[str, object]) -> dict[str, object]:
    return rule_ | {"rulePriority": priority}


def test_worked_example_prod_first_expires_only_a() -> None:
    # Rule 1 keeps B, the newest prod image, and marks A. Rule 2 (beta, keep 1) would mark
    # A and B, but both matched rule 1's tags first, so it may act on neither.
    verdicts = evaluate(policy(at(1, PROD_KEEP_1), at(2, BETA_KEEP_1)), [A, B, C], NOW)
    assert expired(verdicts) == ["A"]
    assert verdicts[0] == Verdict(
        digest="sha256:A",
        tags=("beta-1", "prod-1"),
        pushed_at=days_ago(10),
        action="EXPIRE",
        rule_priority=1,
        reason="rule 1: tagged with prefix prod, more than 1 image; 2nd newest of 2",
    )


def test_worked_example_beta_first_expires_a_and_b() -> None:
    verdicts = evaluate(policy(at(1, BETA_KEEP_1), at(2, PROD_KEEP_1)), [A, B, C], NOW)
    assert expired(verdicts) == ["A", "B"]  # oldest first
    assert [v.rule_priority for v in verdicts] == [1, 1]
    assert [v.reason for v in verdicts] == [
        "rule 1: tagged with prefix beta, more than 1 image; 3rd newest of 3",
        "rule 1: tagged with prefix beta, more than 1 image; 2nd newest of 3",
    ]


def test_lower_rule_counts_images_a_higher_rule_claimed() -> None:
    # Rule 1 claims every prod image without marking any; rule 2 keeps the newest two of
    # *all* images, prod ones included, so only the oldest non-prod image goes.
    images = [
        image("old", "dev-1", pushed=5),
        image("p1", "prod-1", pushed=3),
        image("p2", "prod-2", pushed=1),
    ]
    verdicts = evaluate(
        policy(count(1, 10, tagPatternList=["prod*"]), count(2, 2, "any")),
        images,
        NOW,
    )
    assert expired(verdicts) == ["old"]
    assert verdicts[0].reason == "rule 2: any image, more than 2 images; 3rd newest of 3"


def test_higher_rule_protects_even_when_it_marks_nothing() -> None:
    images = [image("p", "prod", pushed=400), image("d", "dev", pushed=400), image("u", pushed=400)]
    verdicts = evaluate(
        policy(
            since(1, "sinceImagePushed", 1000, tagPrefixList=["prod"]),
            since(2, "sinceImagePushed", 30, "any"),
        ),
        images,
        NOW,
    )
    assert expired(verdicts) == ["d", "u"]


def test_untagged_selects_only_images_without_tags() -> None:
    images = [image("t", "v1", pushed=3), image("u1", pushed=2), image("u2", pushed=1)]
    verdicts = evaluate(policy(count(1, 1, "untagged")), images, NOW)
    assert expired(verdicts) == ["u1"]
    assert verdicts[0].reason == "rule 1: untagged, more than 1 image; 2nd newest of 2"


def test_since_image_pushed_needs_strictly_more_than_n_days() -> None:
    images = [
        image("exact", "x", pushed=7),
        image("older", "y", pushed=7 + 1 / 86_400),
        image("new", "z", pushed=1),
    ]
    verdicts = evaluate(policy(since(1, "sinceImagePushed", 7, "any")), images, NOW)
    assert expired(verdicts) == ["older"]
    assert verdicts[0].reason == "rule 1: any image, pushed more than 7 days ago; pushed 7.0 days ago"


def test_since_image_pulled_falls_back_to_push_time() -> None:
    images = [
        image("pulled-recently", "a", pushed=100, pulled=2),
        image("pulled-long-ago", "b", pushed=100, pulled=40),
        image("never-pulled-old", "c", pushed=31),
        image("never-pulled-new", "d", pushed=29),
    ]
    verdicts = evaluate(policy(since(1, "sinceImagePulled", 30, "any")), images, NOW)
    assert sorted(expired(verdicts)) == ["never-pulled-old", "pulled-long-ago"]
    reasons = {v.digest: v.reason for v in verdicts}
    assert reasons["sha256:pulled-long-ago"] == (
        "rule 1: any image, not pulled for more than 30 days; last pulled 40.0 days ago"
    )
    assert reasons["sha256:never-pulled-old"] == (
        "rule 1: any image, not pulled for more than 30 days; never pulled; pushed 31.0 days ago"
    )


def test_every_pattern_must_be_matched_by_some_tag() -> None:
    both = image("both", "prod", "v1-rc2", pushed=3)
    only_prod = image("only-prod", "prod-eu", pushed=2)
    selected = policy(count(1, 1, tagPatternList=["prod*", "*-rc*"])).rules[0]
    assert matches_selection(selected, both)
    assert not matches_selection(selected, only_prod)


def test_wildcard_matches_the_empty_run_and_nothing_else_is_special() -> None:
    rule_ = policy(count(1, 1, tagPatternList=["prod*", "v1.?*"])).rules[0]
    assert matches_selection(rule_, image("x", "prod", "v1.?", pushed=1))  # '*' matches ""
    assert not matches_selection(rule_, image("y", "prod", "v1x?", pushed=1))  # '.' is literal
    assert not matches_selection(rule_, image("z", "prod", "v1.0", pushed=1))  # '?' is literal
    exact = policy(count(1, 1, tagPatternList=["latest"])).rules[0]
    assert matches_selection(exact, image("l", "latest", pushed=1))
    assert not matches_selection(exact, image("m", "latest-1", pushed=1))


def test_every_prefix_must_start_some_tag() -> None:
    rule_ = policy(count(1, 1, tagPrefixList=["prod", "release-"])).rules[0]
    assert matches_selection(rule_, image("x", "prod-1", "release-7", pushed=1))
    assert not matches_selection(rule_, image("y", "prod-1", "rel", pushed=1))
    assert not matches_selection(rule_, image("z", pushed=1))


def test_archive_and_transition_rules_mark_nothing_but_still_protect() -> None:
    images = [image(f"p{i}", f"prod-{i}", pushed=100 + i) for i in range(3)] + [image("d", "dev", pushed=200)]
    transition = since(1, "sinceImagePushed", 1, tagPrefixList=["prod"])
    transition["action"] = {"type": "transition", "targetStorageClass": "archive"}
    archived = since(1, "sinceImageTransitioned", 1, tagPrefixList=["prod"], storageClass="archive")
    for protecting in (transition, archived):
        verdicts = evaluate(policy(protecting, count(2, 1, "any")), images, NOW)
        # Rule 2 keeps p0, the newest image, and would mark p1, p2 and d; rule 1 claimed the p*.
        assert expired(verdicts) == ["d"]
        assert verdicts[0].rule_priority == 2


def test_equal_push_times_give_the_same_answer_whatever_the_input_order() -> None:
    images = [image(name, name, pushed=1) for name in "abcd"]
    chosen = policy(count(1, 2, "any"))
    assert evaluate(chosen, images, NOW) == evaluate(chosen, list(reversed(images)), NOW)


def test_ordinals_and_huge_counts() -> None:
    images = [image(f"i{n:02}", pushed=n) for n in range(1, 23)]
    verdicts = evaluate(policy(count(1, 10, "untagged")), images, NOW)
    reasons = [v.reason.rsplit("; ", 1)[1] for v in verdicts]
    assert reasons[0] == "22nd newest of 22"
    assert "21st newest of 22" in reasons
    assert "11th newest of 22" in reasons
    assert "13th newest of 22" in reasons
    # countNumber beyond timedelta's range must neither overflow nor mark anything.
    assert evaluate(policy(since(1, "sinceImagePushed", 2**31 - 1, "any")), images, NOW) == []


# Properties over generated policies and images.

TAGS = ["prod-1", "prod-2", "prod-3", "beta-1", "beta-2", "latest", "v1.0", "v1.1", "rc-1"]
PATTERNS = ["prod*", "*-1", "beta-*", "*", "latest", "*e*", "v1.*"]
PREFIXES = ["prod", "beta", "l", "v1.", "rc"]
Document = dict[str, Any]


@st.composite
def rule_documents(draw: st.DrawFn, priority: int) -> Document:
    selection: Document = {"tagStatus": draw(st.sampled_from(["tagged", "tagged", "untagged"]))}
    if selection["tagStatus"] == "tagged":
        key, choices = draw(st.sampled_from([("tagPatternList", PATTERNS), ("tagPrefixList", PREFIXES)]))
        selection[key] = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=2, unique=True))
    count_type = draw(st.sampled_from([t.value for t in CountType] + ["imageCountMoreThan"] * 2))
    selection["countType"] = count_type
    if count_type != "imageCountMoreThan":
        selection["countUnit"] = "days"
    if count_type == "sinceImageTransitioned":
        selection["storageClass"] = "archive"
    elif draw(st.booleans()):
        selection["storageClass"] = "standard"
    selection["countNumber"] = draw(st.integers(1, 6))
    action: Document = {"type": "expire"}
    if count_type != "sinceImageTransitioned" and draw(st.integers(0, 4)) == 0:
        action = {"type": "transition", "targetStorageClass": "archive"}
    return {"rulePriority": priority, "selection": selection, "action": action}


@st.composite
def policies(draw: st.DrawFn) -> LifecyclePolicy:
    size = draw(st.integers(1, 4))
    priorities = sorted(draw(st.lists(st.integers(1, 50), min_size=size, max_size=size, unique=True)))
    rules = [draw(rule_documents(priority)) for priority in priorities]
    if draw(st.booleans()):  # the last rule becomes an "any" rule: it carries the highest priority
        selection = rules[-1]["selection"]
        selection.pop("tagPatternList", None)
        selection.pop("tagPrefixList", None)
        selection["tagStatus"] = "any"
    return policy(*draw(st.permutations(rules)))


@st.composite
def image_sets(draw: st.DrawFn) -> list[ImageFacts]:
    size = draw(st.integers(0, 10))
    if size == 0:
        return []
    # A tag names at most one image of a repository.
    owners = draw(st.lists(st.none() | st.integers(0, size - 1), min_size=len(TAGS), max_size=len(TAGS)))
    images = []
    for index in range(size):
        tags = tuple(tag for tag, owner in zip(TAGS, owners, strict=True) if owner == index)
        pushed_at = NOW - timedelta(hours=draw(st.integers(0, 24 * 10)))
        pulled_hours = draw(st.none() | st.integers(0, int((NOW - pushed_at).total_seconds() // 3600)))
        pulled_at = None if pulled_hours is None else pushed_at + timedelta(hours=pulled_hours)
        images.append(ImageFacts(f"sha256:{index:064x}", tags, pushed_at, pulled_at))
    return images


@given(policies(), image_sets())
def test_no_image_is_acted_on_twice(chosen: LifecyclePolicy, images: list[ImageFacts]) -> None:
    digests = [v.digest for v in evaluate(chosen, images, NOW)]
    assert len(digests) == len(set(digests))


@given(policies(), image_sets())
def test_each_verdict_comes_from_the_first_rule_whose_selection_matches(
    chosen: LifecyclePolicy, images: list[ImageFacts]
) -> None:
    by_digest = {i.digest: i for i in images}
    for verdict in evaluate(chosen, images, NOW):
        first = next(r for r in chosen.rules if matches_selection(r, by_digest[verdict.digest]))
        assert verdict.rule_priority == first.priority
        assert verdict.action == "EXPIRE"
        assert verdict.reason.startswith(f"rule {first.priority}: ")


@given(policies(), image_sets())
def test_an_image_no_rule_selects_is_never_expired(chosen: LifecyclePolicy, images: list[ImageFacts]) -> None:
    expired_digests = {v.digest for v in evaluate(chosen, images, NOW)}
    for unselected in images:
        if not any(matches_selection(r, unselected) for r in chosen.rules):
            assert unselected.digest not in expired_digests


@given(policies(), image_sets())
def test_image_count_rules_keep_their_newest_n(chosen: LifecyclePolicy, images: list[ImageFacts]) -> None:
    verdicts = evaluate(chosen, images, NOW)
    for rule_ in chosen.rules:
        if rule_.count_type is not CountType.IMAGE_COUNT_MORE_THAN:
            continue
        selection = [i for i in images if matches_selection(rule_, i)]
        marked = {v.digest for v in verdicts if v.rule_priority == rule_.priority}
        assert len([i for i in selection if i.digest not in marked]) >= min(
            rule_.count_number, len(selection)
        )
        newest = sorted(selection, key=lambda i: i.pushed_at, reverse=True)[: rule_.count_number]
        cutoff = newest[-1].pushed_at if newest else None
        for i in selection:
            if i.digest in marked:
                assert cutoff is not None
                assert i.pushed_at <= cutoff  # older images always go before newer ones


@given(policies(), image_sets(), st.randoms(use_true_random=False))
def test_the_order_of_the_images_does_not_matter(
    chosen: LifecyclePolicy, images: list[ImageFacts], random: Any
) -> None:
    shuffled = list(images)
    random.shuffle(shuffled)
    assert evaluate(chosen, shuffled, NOW) == evaluate(chosen, images, NOW)


@given(policies())
def test_a_normalised_policy_parses_back_to_itself(chosen: LifecyclePolicy) -> None:
    assert parse_lifecycle_policy(normalise(chosen)) == chosen
