"""The pure lineage rules, table-driven: prefix chain hashes, the base annotations, the
choice of a parent, durations, which policy applies, and each compliance rule's verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.lineage.chains import MAX_LAYERS, chain_hash, diff_ids, prefix_hashes
from strongroom.lineage.compliance import (
    ALLOWED_BASES,
    INHERITED_CRITICAL,
    MAX_BASE_AGE,
    MAX_REBUILD_DELAY,
    PREFIX,
    REPOSITORY,
    Ancestor,
    PatchPolicy,
    applicable,
    evaluate,
)
from strongroom.lineage.durations import DurationInvalid, format_age, format_duration, parse_duration
from strongroom.lineage.parents import (
    BASE_DIGEST,
    BASE_NAME,
    AnnotatedBase,
    Candidate,
    annotated_base,
    choose_parent,
)
from strongroom.lineage.roles import parse_role, role_of

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
D = ["sha256:" + c * 64 for c in "0123456789"]


def _config(rootfs: object) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "rootfs": rootfs}).encode()


@pytest.mark.parametrize(
    ("config", "count", "expected"),
    [
        (_config({"type": "layers", "diff_ids": D[:2]}), 2, D[:2]),
        (_config({"type": "layers", "diff_ids": D[:2]}), 3, "the config names 2 diff ids for 3 layers"),
        (_config({"type": "layers"}), 1, "the config has no rootfs.diff_ids"),
        (_config({"type": "layers", "diff_ids": ["sha256:short"]}), 1,
         "the config's rootfs.diff_ids are not digests"),
        (_config({"type": "layers", "diff_ids": [7]}), 1, "the config's rootfs.diff_ids are not digests"),
        (b"[1, 2]", 1, "the config has no rootfs.diff_ids"),
        (b"\xff{", 1, "the config is not JSON"),
    ],
)  # fmt: skip
def test_diff_ids_are_the_configs_one_per_layer_or_why_not(
    config: bytes, count: int, expected: list[str] | str
) -> None:
    assert diff_ids(config, count) == expected


def test_prefix_hashes_roll_so_a_shared_prefix_has_the_same_hash() -> None:
    base, child = prefix_hashes(D[:2]), prefix_hashes(D[:4])
    assert child[:2] == base and len(set(child)) == 4
    assert chain_hash(D[:2]) == base[-1] and chain_hash([]) is None
    assert prefix_hashes([D[1], D[0]])[1] != base[1]  # order matters
    assert len(prefix_hashes(D * 100)) == MAX_LAYERS


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, None),
        ({BASE_DIGEST: D[0]}, None),
        ({BASE_NAME: "base/python:3.11", BASE_DIGEST: D[0]},
         AnnotatedBase("base/python:3.11", None, None, "base/python", "3.11", D[0])),
        ({BASE_NAME: "registry.example:5000/base/python:3.11"},
         AnnotatedBase("registry.example:5000/base/python:3.11", "registry.example:5000", None, "base/python",
                       "3.11", None)),
        ({BASE_NAME: "localhost/debian"},
         AnnotatedBase("localhost/debian", "localhost", None, "debian", None, None)),
        ({BASE_NAME: "111122223333/base/os:12"},
         AnnotatedBase("111122223333/base/os:12", None, "111122223333", "base/os", "12", None)),
        ({BASE_NAME: f"base/os@{D[1]}"}, AnnotatedBase(f"base/os@{D[1]}", None, None, "base/os", None, D[1])),
        ({BASE_NAME: "base/os:12", BASE_DIGEST: "not-a-digest"},
         AnnotatedBase("base/os:12", None, None, "base/os", "12", None)),
        ({BASE_NAME: "x" * 600}, None),
    ],
)  # fmt: skip
def test_the_base_annotations_are_read(annotations: dict[str, str], expected: AnnotatedBase | None) -> None:
    assert annotated_base(annotations) == expected


def _candidate(name: str, layers: int, role: str | None = None, *, tagged: bool = True, age: int = 0,
               digest: str = D[0], repository_id: int = 1) -> Candidate:  # fmt: skip
    return Candidate(
        repository_id, "111122223333", name, digest, layers, role, tagged, NOW - timedelta(days=age)
    )


@pytest.mark.parametrize(
    ("candidates", "chosen"),
    [
        ([], None),
        ([_candidate("public/debian", 1), _candidate("base/python", 2)], "base/python"),
        ([_candidate("mirror/python", 2), _candidate("base/python", 2, "base")], "base/python"),
        ([_candidate("a/x", 2, "application"), _candidate("f/x", 2, "framework")], "f/x"),
        ([_candidate("copy/x", 2, tagged=False), _candidate("orig/x", 2)], "orig/x"),
        ([_candidate("later/x", 2, age=1), _candidate("first/x", 2, age=9)], "first/x"),
        ([_candidate("same/size", 4)], None),  # as long as the image: a copy, not a base
        ([_candidate("itself", 2, digest=D[9], repository_id=7)], None),
    ],
)
def test_the_longest_prefix_wins_then_the_role_the_tag_and_the_original(
    candidates: list[Candidate], chosen: str | None
) -> None:
    found = choose_parent(candidates, 4, (7, D[9]))
    assert (found.repository if found else None) == chosen


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("45s", 45), ("2w", 14 * 86400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


@pytest.mark.parametrize("text", ["", "30", "d", "0d", "-1d", "1y", "30 days", "99999999d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(DurationInvalid):
        parse_duration(text)


def test_ages_read_as_people_say_them() -> None:
    assert [format_age(timedelta(seconds=s)) for s in (5, 60, 7200, 86400 * 12)] == [
        "5 seconds", "1 minute", "2 hours", "12 days",
    ]  # fmt: skip


def test_roles() -> None:
    assert role_of(" Base ") == "base" and role_of("tool") is None and role_of(None) is None
    with pytest.raises(ValueError, match="role is one of"):
        parse_role("tool")


POLICIES = [
    PatchPolicy(PREFIX, "apps/", max_base_age=timedelta(days=30)),
    PatchPolicy(PREFIX, "apps/team/", max_base_age=timedelta(days=7)),
    PatchPolicy(REPOSITORY, "apps/team/web", no_inherited_critical=True),
]


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("apps/x", "apps/"),
        ("apps/team/x", "apps/team/"),
        ("apps/team/web", "apps/team/web"),
        ("base/x", None),
    ],
)
def test_the_repository_s_own_policy_wins_then_the_longest_prefix(
    repository: str, expected: str | None
) -> None:
    found = applicable(POLICIES, repository)
    assert (found.name if found else None) == expected


def _ancestor(days: int = 1, *, moved: int | None = None, critical: tuple[str, ...] = (),
              fixed: tuple[str, ...] = (), name: str = "framework/tf") -> Ancestor:  # fmt: skip
    return Ancestor(
        name, name, D[1], "2.15", NOW - timedelta(days=days),
        D[2] if moved is not None else D[1], NOW - timedelta(days=moved or days), critical, fixed,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "ancestors", "rules", "message"),
    [
        (PatchPolicy(PREFIX, "a", max_base_age=timedelta(days=30)), [_ancestor(29)], [], None),
        (PatchPolicy(PREFIX, "a", max_base_age=timedelta(days=30)), [_ancestor(31)], [MAX_BASE_AGE],
         f"base older than 30d: framework/tf:2.15 digest {D[1]} was pushed 31 days ago"),
        (PatchPolicy(PREFIX, "a", max_rebuild_delay=timedelta(days=7)), [_ancestor(20, moved=6)], [], None),
        (PatchPolicy(PREFIX, "a", max_rebuild_delay=timedelta(days=7)), [_ancestor(20, moved=12)],
         [MAX_REBUILD_DELAY],
         f"built on framework/tf:2.15 digest {D[1]}, superseded by {D[2]} 12 days ago (rebuild within 7d)"),
        (PatchPolicy(PREFIX, "a", max_rebuild_delay=timedelta(days=7)),
         [_ancestor(), _ancestor(40, moved=9, name="base/python")], [MAX_REBUILD_DELAY], None),
        (PatchPolicy(PREFIX, "a", allowed_bases=("framework/*",)), [_ancestor()], [], None),
        (PatchPolicy(PREFIX, "a", allowed_bases=("base/*",)), [_ancestor()], [ALLOWED_BASES],
         "built on framework/tf:2.15, not an allowed base (base/*)"),
        (PatchPolicy(PREFIX, "a", allowed_bases=("framework/tf",)), [], [ALLOWED_BASES],
         "no base detected; allowed bases: framework/tf"),
        (PatchPolicy(PREFIX, "a", no_inherited_critical=True), [_ancestor(critical=("CVE-1", "CVE-2"))],
         [INHERITED_CRITICAL],
         f"base framework/tf:2.15 digest {D[1]} has 2 fixable CRITICAL findings: CVE-1, CVE-2"),
        (PatchPolicy(PREFIX, "a", no_inherited_critical=True),
         [_ancestor(), _ancestor(moved=3, critical=("CVE-1",), fixed=("CVE-1",), name="base/os")],
         [INHERITED_CRITICAL],
         f"base base/os:2.15 digest {D[1]} has 1 fixable CRITICAL finding, 1 fixed in the newer base "
         f"{D[2]}: CVE-1"),
        (PatchPolicy(PREFIX, "a", no_inherited_critical=True),
         # a grandparent's finding with no newer base: the parent's own rule says it
         [_ancestor(), _ancestor(critical=("CVE-1",), name="base/os")], [], None),
        (PatchPolicy(PREFIX, "a", no_inherited_critical=True), [_ancestor()], [], None),
    ],
)  # fmt: skip
def test_each_rule_says_why(
    policy: PatchPolicy, ancestors: list[Ancestor], rules: list[str], message: str | None
) -> None:
    found = evaluate(ancestors, policy, NOW)
    assert [v.rule for v in found] == rules
    if message is not None:
        assert found[0].message == message
