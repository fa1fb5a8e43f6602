"""dpkg's database: ``var/lib/dpkg/status`` and distroless ``var/lib/dpkg/status.d/*``."""

from __future__ import annotations

import re
from collections.abc import Iterator

from strongroom.analysis.packages.model import Kind, Package

_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """deb822 paragraphs: ``Key: value`` lines, continuation lines start with a blank."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, ""
        elif line[0] in " \t":
            if key:
                fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    if fields:
        yield fields


def parse_status(path: str, data: bytes) -> list[Package]:
    """Installed packages; ``Status`` absent (distroless) counts as installed."""
    packages = []
    for fields in paragraphs(data.decode("utf-8", "replace")):
        name, version = fields.get("Package"), fields.get("Version")
        status = fields.get("Status", "install ok installed").split()
        if not name or not version or status[-1:] != ["installed"]:
            continue
        source_name, source_version = name, version
        match = _SOURCE.match(fields.get("Source", ""))
        if match:
            source_name = match["name"]
            source_version = match["version"] or version
        packages.append(
            Package(
                Kind.DEB,
                name,
                version,
                path,
                arch=fields.get("Architecture", ""),
                source_name=source_name,
                source_version=source_version,
            )
        )
    return packages
