"""Version orders, table-driven: each row is (smaller, larger) or (equal, equal)."""

from __future__ import annotations

import itertools
import subprocess

import pytest

from strongroom.analysis.vulns.versions import (
    InvalidVersion,
    compare_apk,
    compare_debian,
    compare_maven,
    compare_pep440,
    compare_rpm,
    compare_semver,
)
from support.tools import require

LESS = {
    compare_debian: [
        ("1.0~rc1", "1.0"),
        ("1.0~~", "1.0~"),
        ("1.0", "1.0-1"),
        ("1.0-1", "1.0+b1"),  # no revision: "+b1" belongs to the upstream part
        ("5.2.15-2", "5.2.15-2+b2"),  # binNMU
        ("3.0.11-1~deb12u2", "3.0.11-1"),
        ("3.0.11-1~deb12u2", "3.0.13-1~deb12u1"),
        ("2.36-9+deb12u4", "2.36-9+deb12u10"),
        ("9.6p1-1", "1:9.2p1-2+deb12u2"),  # epoch wins
        ("1.0", "1.0a"),
        ("1.0a", "1.0+"),
    ],
    compare_rpm: [
        ("1.0~rc1", "1.0"),
        ("1.0", "1.0^post1"),
        ("1.0^post1", "1.0.1"),
        ("1.0a", "1.0.1"),
        ("3.0.7-24.el9", "3.0.7-25.el9"),
        ("3.0.8-1.el9", "1:3.0.7-24.el9"),
        ("1.0-1", "1.0-1.1"),
        ("2.0~beta", "2.0"),
    ],
    compare_apk: [
        ("1.2.4", "1.2.4_git20230717-r4"),  # _git is after the release
        ("1.2.4_git20230717-r4", "1.2.4_git20230717-r5"),
        ("3.1.4-r5", "3.1.4-r6"),
        ("1.0_alpha1", "1.0_beta"),
        ("1.0_rc2", "1.0"),
        ("1.0", "1.0a"),
        ("1.0", "1.0_p1"),
        ("1.0_cvs", "1.0_svn"),
        ("1.0_svn", "1.0_git"),
        ("1.0_git", "1.0_hg"),
        ("1.0_hg", "1.0_p"),
        ("1.2", "1.10"),
        ("1.02", "1.1"),  # a leading zero compares as a fraction
        ("0_git20230101-r0", "0.1"),
    ],
    compare_pep440: [("1.0rc1", "1.0"), ("1.0", "1.0.post1"), ("1.0.dev1", "1.0a1"), ("0.9", "1.0")],
    compare_semver: [
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.2.5", "1.2.6"),
        ("1.19.8", "1.19.11"),
        ("0.0.0-20210101000000-abcdef123456", "0.0.1"),  # Go pseudo-version
        ("1.20.0-0", "1.20.0"),
    ],
    compare_maven: [
        ("1.0-alpha-1", "1.0-beta"),
        ("1.0-beta", "1.0-rc1"),
        ("1.0-rc1", "1.0-SNAPSHOT"),
        ("1.0-SNAPSHOT", "1.0"),
        ("1.0", "1.0-sp1"),
        ("1.33", "2.0"),
        ("1.9", "1.10"),
    ],
}
EQUAL = {
    compare_debian: [("1.0", "0:1.0"), ("1.0", "1.0-0"), ("1.0-00", "1.0-0")],
    compare_rpm: [("1.0", "0:1.0"), ("1.01", "1.1")],
    compare_apk: [("1.0-r0", "1.0")],
    compare_pep440: [("1.0", "1.0.0")],
    compare_semver: [("1.0.0+build.1", "1.0.0"), ("v1.2.3", "1.2.3")],
    compare_maven: [("1.0", "1.0.0"), ("1", "1-final")],
}
ROWS = [(c, a, b) for c, rows in LESS.items() for a, b in rows]
EQUAL_ROWS = [(c, a, b) for c, rows in EQUAL.items() for a, b in rows]


@pytest.mark.parametrize(
    ("compare", "smaller", "larger"), ROWS, ids=[f"{c.__name__}:{a}<{b}" for c, a, b in ROWS]
)
def test_orders(compare, smaller: str, larger: str) -> None:  # type: ignore[no-untyped-def]
    assert compare(smaller, larger) == -1
    assert compare(larger, smaller) == 1


@pytest.mark.parametrize(
    ("compare", "a", "b"), EQUAL_ROWS, ids=[f"{c.__name__}:{a}={b}" for c, a, b in EQUAL_ROWS]
)
def test_equal_versions(compare, a: str, b: str) -> None:  # type: ignore[no-untyped-def]
    assert compare(a, b) == 0


@pytest.mark.parametrize(
    ("compare", "version"),
    [
        (compare_apk, "1.0_bogus"),
        (compare_pep440, "not a version"),
        (compare_semver, "x.y"),
        (compare_debian, ""),
    ],
)
def test_unreadable_versions_raise(compare, version: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidVersion):
        compare(version, "1.0")


DEBIAN_SAMPLE = sorted({v for a, b in LESS[compare_debian] + EQUAL[compare_debian] for v in (a, b)})
RPM_SAMPLE = sorted({v for a, b in LESS[compare_rpm] + EQUAL[compare_rpm] for v in (a, b)})


def test_debian_order_agrees_with_dpkg() -> None:
    require("dpkg")
    for a, b in itertools.combinations(DEBIAN_SAMPLE, 2):
        less = subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0
        equal = subprocess.run(["dpkg", "--compare-versions", a, "eq", b]).returncode == 0
        assert compare_debian(a, b) == (-1 if less else 0 if equal else 1), (a, b)


def test_rpm_order_agrees_with_rpm() -> None:
    require("rpm")
    for a, b in itertools.combinations(RPM_SAMPLE, 2):
        script = f"%{{lua: print(rpm.vercmp('{a}', '{b}'))}}"
        expected = subprocess.run(
            ["rpm", "--eval", script], capture_output=True, text=True, check=True
        ).stdout
        assert compare_rpm(a, b) == int(expected), (a, b)
