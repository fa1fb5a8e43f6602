"""What a cataloger reports: a package and where its evidence was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """The purl type of a package, which also names how its versions are ordered."""

    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    PYPI = "pypi"
    NPM = "npm"
    GOLANG = "golang"
    MAVEN = "maven"


class UnreadableEvidence(ValueError):
    """An evidence file that is there but cannot be read (damaged, truncated, hostile):
    reported as a problem of the layer, never as "no packages"."""


@dataclass(frozen=True)
class Package:
    """An installed package. ``source_name``/``source_version`` name the source package
    distribution advisories are keyed by (dpkg ``Source:``, apk ``o:``, rpm SOURCERPM)."""

    kind: Kind
    name: str
    version: str
    path: str
    arch: str = ""
    source_name: str = ""
    source_version: str = ""
    epoch: int | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())

    @property
    def advisory_name(self) -> str:
        return self.source_name or self.name

    @property
    def advisory_version(self) -> str:
        return self.source_version or self.version


@dataclass(frozen=True)
class OsRelease:
    """``etc/os-release``: ``id`` (debian, ubuntu, alpine, ...) and ``version_id``."""

    id: str
    version_id: str
    pretty_name: str = ""
    version_codename: str = ""
    id_like: str = ""
