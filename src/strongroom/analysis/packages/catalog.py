"""Which paths in an image are evidence of installed packages, and which parser reads them.

Paths are normalised tar names: relative, no leading ``./`` or ``/``.
"""

from __future__ import annotations

from collections.abc import Callable

from strongroom.analysis.packages import apk, dpkg, npm, python, rpm
from strongroom.analysis.packages.model import Package

Parser = Callable[[str, bytes], list[Package]]

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
_RPMDB_PATHS = {
    "var/lib/rpm/rpmdb.sqlite": rpm.parse_rpmdb_sqlite,
    "usr/lib/sysimage/rpm/rpmdb.sqlite": rpm.parse_rpmdb_sqlite,
    "var/lib/rpm/Packages": rpm.parse_rpmdb_bdb,
    "usr/lib/sysimage/rpm/Packages": rpm.parse_rpmdb_bdb,
    "var/lib/rpm/Packages.db": rpm.parse_rpmdb_ndb,
    "usr/lib/sysimage/rpm/Packages.db": rpm.parse_rpmdb_ndb,
}
"""Trivy's six paths: each form under the old and the new (``/usr``-merged) directory."""
MAX_EVIDENCE_BYTES = 256 * 1024 * 1024


def evidence_parser(path: str) -> Parser | None:
    """The parser for a small evidence file at ``path``, or None if it is none. A parser
    raises ``UnreadableEvidence`` for a file it recognises but cannot read."""
    if path == "var/lib/dpkg/status":
        return dpkg.parse_status
    if path.startswith("var/lib/dpkg/status.d/") and not path.endswith(".md5sums") and path.count("/") == 4:
        return dpkg.parse_status
    if path == "lib/apk/db/installed":
        return apk.parse_installed
    if path in _RPMDB_PATHS:
        return _RPMDB_PATHS[path]
    if path.endswith(".dist-info/METADATA") or path.endswith(".egg-info/PKG-INFO"):
        return python.parse_metadata
    if path.endswith(".egg-info"):
        return python.parse_metadata  # a single-file egg-info holds PKG-INFO itself
    if npm.is_package_json(path):
        return npm.parse_package_json
    return None
