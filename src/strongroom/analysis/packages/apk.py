"""Alpine's (and Wolfi's) ``lib/apk/db/installed``: records of ``X:value`` lines."""

from __future__ import annotations

from strongroom.analysis.packages.model import Kind, Package


def parse_installed(path: str, data: bytes) -> list[Package]:
    packages = []
    for record in data.decode("utf-8", "replace").split("\n\n"):
        fields: dict[str, str] = {}
        for line in record.splitlines():
            if len(line) > 2 and line[1] == ":" and line[0] not in fields:
                fields[line[0]] = line[2:]
        if "P" in fields and "V" in fields:
            packages.append(
                Package(
                    Kind.APK,
                    fields["P"],
                    fields["V"],
                    path,
                    arch=fields.get("A", ""),
                    source_name=fields.get("o", ""),
                    source_version=fields["V"] if "o" in fields else "",
                )
            )
    return packages
