"""Java archives (jar, war, ear): ``META-INF/maven/<g>/<a>/pom.properties``, nested jars too."""

from __future__ import annotations

import io
import zipfile
from typing import IO

from strongroom.analysis.packages.model import Kind, Package

JAR_SUFFIXES = (".jar", ".war", ".ear", ".par")
_MAX_NESTED = 256 * 1024 * 1024
_MAX_PROPERTIES = 1024 * 1024


def parse_archive(path: str, archive_file: IO[bytes], depth: int = 0) -> list[Package]:
    try:
        archive = zipfile.ZipFile(archive_file)
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return []
    packages = []
    for member in members:
        name = member.filename
        try:
            if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
                if member.file_size <= _MAX_PROPERTIES:
                    packages.extend(_pom_properties(f"{path}!{name}", archive.read(member)))
            elif name.endswith(JAR_SUFFIXES) and depth < 2 and member.file_size <= _MAX_NESTED:
                nested = io.BytesIO(archive.read(member))
                packages.extend(parse_archive(f"{path}!{name}", nested, depth + 1))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            continue
    return packages


def _pom_properties(path: str, data: bytes) -> list[Package]:
    values: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    group, artifact, version = values.get("groupId"), values.get("artifactId"), values.get("version")
    if not group or not artifact or not version:
        return []
    return [Package(Kind.MAVEN, f"{group}:{artifact}", version, path)]
