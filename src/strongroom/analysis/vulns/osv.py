"""OSV records: which ecosystem a package is advised in, and whether a version is affected.

Follows the OSV schema's evaluation: a version is affected if it is listed in
``versions[]``, or if some ``ECOSYSTEM``/``SEMVER`` range leaves it vulnerable after
walking the sorted ``introduced``/``fixed``/``last_affected`` events, below any
``limit``. ``GIT`` ranges need the repository graph and are not evaluated.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from strongroom.analysis.packages.model import Kind, OsRelease, Package
from strongroom.analysis.packages.python import normalise as normalise_pypi
from strongroom.analysis.vulns.versions import (
    Compare,
    InvalidVersion,
    compare_apk,
    compare_debian,
    compare_maven,
    compare_pep440,
    compare_rpm,
    compare_semver,
)

_RPM_DISTROS = {"rocky": "Rocky Linux", "almalinux": "AlmaLinux", "opensuse-leap": "openSUSE", "sles": "SUSE"}
_LANGUAGE_ECOSYSTEMS = {Kind.PYPI: "PyPI", Kind.NPM: "npm", Kind.GOLANG: "Go", Kind.MAVEN: "Maven"}
_ORDERS: dict[str, Compare] = {
    "Debian": compare_debian,
    "Ubuntu": compare_debian,
    "Alpine": compare_apk,
    "Wolfi": compare_apk,
    "Chainguard": compare_apk,
    "Rocky Linux": compare_rpm,
    "AlmaLinux": compare_rpm,
    "openSUSE": compare_rpm,
    "SUSE": compare_rpm,
    "Red Hat": compare_rpm,
    "PyPI": compare_pep440,
    "npm": compare_semver,
    "Go": compare_semver,
    "crates.io": compare_semver,
    "Maven": compare_maven,
}


def ecosystem_of(package: Package, release: OsRelease | None) -> str | None:
    """The OSV ecosystem a package's advisories are filed under (``Debian:12``,
    ``Alpine:v3.19``, ``Ubuntu:22.04:LTS``, ``PyPI``…), None when unknown."""
    if package.kind in _LANGUAGE_ECOSYSTEMS:
        return _LANGUAGE_ECOSYSTEMS[package.kind]
    if release is None:
        return None
    version = release.version_id
    if package.kind is Kind.DEB and release.id == "debian" and version:
        return f"Debian:{version.split('.')[0]}"
    if package.kind is Kind.DEB and release.id == "ubuntu" and version:
        year, _, month = version.partition(".")
        lts = month == "04" and year.isdigit() and int(year) % 2 == 0
        return f"Ubuntu:{version}:LTS" if lts else f"Ubuntu:{version}"
    if package.kind is Kind.APK and release.id == "alpine" and version:
        return "Alpine:v" + ".".join(version.split(".")[:2])
    if package.kind is Kind.APK and release.id in ("wolfi", "chainguard"):
        return release.id.capitalize()
    if package.kind is Kind.RPM and release.id in _RPM_DISTROS and version:
        return f"{_RPM_DISTROS[release.id]}:{version.split('.')[0]}"
    return None


def base_ecosystem(ecosystem: str) -> str:
    return ecosystem.split(":", 1)[0]


def normalise_name(ecosystem: str, name: str) -> str:
    """How advisories and packages are matched by name in an ecosystem."""
    return normalise_pypi(name) if base_ecosystem(ecosystem) == "PyPI" else name


def order_of(ecosystem: str) -> Compare | None:
    return _ORDERS.get(base_ecosystem(ecosystem))


@dataclass(frozen=True)
class Verdict:
    affected: bool
    fixed_version: str | None = None


def evaluate(affected: dict[str, Any], version: str, compare: Compare | None) -> Verdict:
    """Whether ``version`` is affected by one ``affected[]`` entry, and the fix if known."""
    listed = affected.get("versions") or []
    in_list = version in listed
    fixes: list[str] = []
    vulnerable = in_list
    for range_ in affected.get("ranges") or []:
        if range_.get("type") not in ("ECOSYSTEM", "SEMVER") or compare is None:
            continue
        try:
            hit, fix = _in_range(range_.get("events") or [], version, compare)
        except InvalidVersion:
            continue
        vulnerable = vulnerable or hit
        if hit and fix:
            fixes.append(fix)
    if not vulnerable:
        return Verdict(False)
    if fixes and compare is not None:
        fixes.sort(key=functools.cmp_to_key(compare))
        return Verdict(True, fixes[0])
    return Verdict(True)


def _in_range(events: list[dict[str, str]], version: str, compare: Compare) -> tuple[bool, str | None]:
    limits = [e["limit"] for e in events if "limit" in e]
    if limits and not any(limit == "*" or compare(version, limit) < 0 for limit in limits):
        return False, None

    def key(event: dict[str, str]) -> tuple[int, object]:
        value = next(iter(event.values()))
        return (0, "") if value == "0" else (1, _Key(value, compare))

    vulnerable, fix = False, None
    for event in sorted((e for e in events if "limit" not in e), key=key):
        if "introduced" in event and (
            event["introduced"] == "0" or compare(event["introduced"], version) <= 0
        ):
            vulnerable, fix = True, None
        elif "fixed" in event:
            if compare(event["fixed"], version) <= 0:
                vulnerable = False
            elif vulnerable and fix is None:
                fix = event["fixed"]
        elif "last_affected" in event and compare(event["last_affected"], version) < 0:
            vulnerable = False
    return vulnerable, fix if vulnerable else None


class _Key:
    def __init__(self, value: str, compare: Compare) -> None:
        self.value = value
        self.compare = compare

    def __lt__(self, other: _Key) -> bool:
        return self.compare(self.value, other.value) < 0


_ID_PREFERENCE = re.compile(r"^CVE-\d{4}-\d+$")


def preferred_id(ids: set[str]) -> str:
    """The name a merged finding goes by: the CVE if there is one (ECR's ``name``)."""
    cves = sorted(i for i in ids if _ID_PREFERENCE.match(i))
    return cves[0] if cves else sorted(ids)[0]


def index_keys(record: dict[str, Any]) -> set[tuple[str, str]]:
    """The (ecosystem, normalised name) pairs a record is filed under, as a store indexes it."""
    keys = set()
    for affected in record.get("affected") or []:
        package = affected.get("package") or {} if isinstance(affected, dict) else {}
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if isinstance(ecosystem, str) and isinstance(name, str) and ecosystem and name:
            keys.add((ecosystem, normalise_name(ecosystem, name)))
    return keys
