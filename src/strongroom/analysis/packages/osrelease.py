"""``etc/os-release`` (else ``usr/lib/os-release``): which distribution and release an image is."""

from __future__ import annotations

import shlex

from strongroom.analysis.packages.model import OsRelease


def parse_os_release(data: bytes) -> OsRelease | None:
    values: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, raw = line.partition("=")
        if not sep or key.strip().startswith("#"):
            continue
        try:
            parts = shlex.split(raw, comments=False)
        except ValueError:
            continue
        values[key.strip()] = parts[0] if parts else ""
    if "ID" not in values:
        return None
    return OsRelease(
        id=values["ID"].lower(),
        version_id=values.get("VERSION_ID", ""),
        pretty_name=values.get("PRETTY_NAME", ""),
        version_codename=values.get("VERSION_CODENAME", ""),
        id_like=values.get("ID_LIKE", ""),
    )
