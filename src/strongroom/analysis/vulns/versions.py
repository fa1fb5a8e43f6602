"""Each ecosystem's version order, as its own package manager sorts.

Debian (dpkg's ``verrevcmp``: epochs, ``~`` below everything, binNMU ``+bN``), RPM
(``rpmvercmp`` on epoch, version, release: ``~`` and ``^``), Alpine (apk's grammar:
``_alpha``…``_rc`` below a release, ``_cvs``…``_p`` above it, ``-rN``), PEP 440 (the
``packaging`` library), SemVer 2.0 (npm, Go, crates.io) and Maven's ComparableVersion.
A comparison of two versions an order cannot read raises ``InvalidVersion``; callers
then fall back to exact matches, never to a guess.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version as _Pep440


class InvalidVersion(ValueError):
    pass


Compare = Callable[[str, str], int]


def _sign(number: int) -> int:
    return (number > 0) - (number < 0)


# -- Debian ------------------------------------------------------------------------------

_DEBIAN = re.compile(r"^(?:(\d+):)?([A-Za-z0-9.+~:-]+?)(?:-([A-Za-z0-9.+~]+))?$")


def _dpkg_order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256 if char else 0


def _verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _dpkg_order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return _sign(ac - bc)
            i, j = i + 1, j + 1
        start_i, start_j = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        difference = int(a[start_i:i] or "0") - int(b[start_j:j] or "0")
        if difference:
            return _sign(difference)
    return 0


def compare_debian(a: str, b: str) -> int:
    parsed = []
    for version in (a, b):
        match = _DEBIAN.match(version.strip())
        if not match:
            raise InvalidVersion(f"not a Debian version: {version!r}")
        parsed.append((int(match[1] or 0), match[2], match[3] or ""))
    (epoch_a, upstream_a, revision_a), (epoch_b, upstream_b, revision_b) = parsed
    if epoch_a != epoch_b:
        return _sign(epoch_a - epoch_b)
    return _verrevcmp(upstream_a, upstream_b) or _verrevcmp(revision_a, revision_b)


# -- RPM ---------------------------------------------------------------------------------

_RPM_SEGMENT = re.compile(r"([0-9]+|[A-Za-z]+|~|\^)")


def _rpm_segments(version: str) -> list[str]:
    return _RPM_SEGMENT.findall(version)


def rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    left, right = _rpm_segments(a), _rpm_segments(b)
    while left or right:
        x = left.pop(0) if left else None
        y = right.pop(0) if right else None
        if x == "~" or y == "~":
            if x != y:
                return -1 if x == "~" else 1
            continue
        if x == "^" or y == "^":
            if x is None:
                return -1
            if y is None:
                return 1
            if x != y:
                return -1 if x == "^" else 1  # the base plus ^ sorts before any further segment
            continue
        if x is None or y is None:
            return -1 if x is None else 1
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1  # numeric segments are newer than alpha ones
        if x.isdigit():
            difference = int(x) - int(y)
            if difference:
                return _sign(difference)
        elif x != y:
            return 1 if x > y else -1
    return 0


def _evr(version: str) -> tuple[int, str, str]:
    epoch, sep, rest = version.partition(":")
    if not sep:
        epoch, rest = "0", version
    if not epoch.isdigit():
        raise InvalidVersion(f"not an RPM version: {version!r}")
    upstream, _, release = rest.rpartition("-")
    if not upstream:
        upstream, release = rest, ""
    return int(epoch), upstream, release


def compare_rpm(a: str, b: str) -> int:
    (ea, va, ra), (eb, vb, rb) = _evr(a), _evr(b)
    if ea != eb:
        return _sign(ea - eb)
    return rpmvercmp(va, vb) or rpmvercmp(ra, rb)


# -- Alpine ------------------------------------------------------------------------------

_APK = re.compile(r"^(\d+(?:\.\d+)*)([a-z]?)((?:_[a-z]+\d*)*)(?:~([0-9a-f]+))?(?:-r(\d+))?$")
_APK_SUFFIXES = {"alpha": -4, "beta": -3, "pre": -2, "rc": -1, "cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5}


def _apk_key(version: str) -> tuple[list[str], str, list[tuple[int, int]], int]:
    match = _APK.match(version.strip())
    if not match:
        raise InvalidVersion(f"not an apk version: {version!r}")
    suffixes = []
    for part in filter(None, match[3].split("_")):
        name = part.rstrip("0123456789")
        if name not in _APK_SUFFIXES:
            raise InvalidVersion(f"unknown apk suffix {name!r} in {version!r}")
        suffixes.append((_APK_SUFFIXES[name], int(part[len(name) :] or 0)))
    return match[1].split("."), match[2], suffixes, int(match[5] or 0)


def _apk_digits(a: list[str], b: list[str]) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        # apk compares a component with a leading zero (after the first) as a fraction
        if index and (x.startswith("0") or y.startswith("0")):
            result = (x > y) - (x < y)
        else:
            result = _sign(int(x) - int(y))
        if result:
            return result
    return _sign(len(a) - len(b))


def compare_apk(a: str, b: str) -> int:
    (digits_a, letter_a, suffix_a, rev_a), (digits_b, letter_b, suffix_b, rev_b) = _apk_key(a), _apk_key(b)
    result = _apk_digits(digits_a, digits_b) or (letter_a > letter_b) - (letter_a < letter_b)
    if result:
        return result
    for index in range(max(len(suffix_a), len(suffix_b))):
        x = suffix_a[index] if index < len(suffix_a) else (0, 0)
        y = suffix_b[index] if index < len(suffix_b) else (0, 0)
        if x != y:
            return 1 if x > y else -1
    return _sign(rev_a - rev_b)


# -- PEP 440 -----------------------------------------------------------------------------


def compare_pep440(a: str, b: str) -> int:
    try:
        x, y = _Pep440(a), _Pep440(b)
    except _PackagingInvalid as error:
        raise InvalidVersion(str(error)) from None
    return (x > y) - (x < y)


# -- SemVer (npm, Go, crates.io) --------------------------------------------------------

_SEMVER = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _prerelease_key(identifier: str) -> tuple[int, int, str]:
    return (0, int(identifier), "") if identifier.isdigit() else (1, 0, identifier)


def compare_semver(a: str, b: str) -> int:
    keys = []
    for version in (a, b):
        match = _SEMVER.match(version.strip())
        if not match:
            raise InvalidVersion(f"not a SemVer version: {version!r}")
        core = tuple(int(part or 0) for part in match.group(1, 2, 3))
        pre = [_prerelease_key(p) for p in match[4].split(".")] if match[4] else None
        keys.append((core, pre))
    (core_a, pre_a), (core_b, pre_b) = keys
    if core_a != core_b:
        return 1 if core_a > core_b else -1
    if pre_a is None or pre_b is None:
        return (pre_a is None) - (pre_b is None)  # a release sorts after its pre-releases
    return (pre_a > pre_b) - (pre_a < pre_b)


# -- Maven -------------------------------------------------------------------------------

_MAVEN_QUALIFIERS = {"alpha": 0, "a": 0, "beta": 1, "b": 1, "milestone": 2, "m": 2, "rc": 3, "cr": 3}
_MAVEN_QUALIFIERS |= {"snapshot": 4, "": 5, "ga": 5, "final": 5, "release": 5, "sp": 6}
_MAVEN_TOKEN = re.compile(r"\d+|[a-zA-Z]+")


def _maven_items(version: str) -> list[tuple[int, int, str]]:
    """Items as (class, number, text): qualifiers sort below numbers, unknown ones after sp."""
    items: list[tuple[int, int, str]] = []
    for token in _MAVEN_TOKEN.findall(version.lower()):
        if token.isdigit():
            items.append((1, int(token), ""))
        else:
            rank = _MAVEN_QUALIFIERS.get(token)
            items.append((0, rank, "") if rank is not None else (0, 7, token))
    while items and items[-1] in ((1, 0, ""), (0, 5, "")):
        items.pop()  # 1.0.0 == 1 == 1-final
    return items


def compare_maven(a: str, b: str) -> int:
    left, right = _maven_items(a), _maven_items(b)
    for index in range(max(len(left), len(right))):
        x = left[index] if index < len(left) else (1, 0, "") if right[index][0] == 1 else (0, 5, "")
        y = right[index] if index < len(right) else (1, 0, "") if x[0] == 1 else (0, 5, "")
        if x != y:
            return 1 if x > y else -1
    return 0


def sort_key(compare: Compare) -> Callable[[str], object]:
    return functools.cmp_to_key(compare)
