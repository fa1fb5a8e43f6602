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
    own: list[Package] = []
    for member in members:
        name = member.filename
        try:
            if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
                if member.file_size <= _MAX_PROPERTIES:
                    own.extend(_pom_properties(f"{path}!{name}", archive.read(member)))
            elif name.endswith(JAR_SUFFIXES) and depth < 2 and member.file_size <= _MAX_NESTED:
                nested = io.BytesIO(archive.read(member))
                packages.extend(parse_archive(f"{path}!{name}", nested, depth + 1))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            continue
    if not own:
        own = _from_manifest(path, archive)
    return own + packages


def _from_manifest(path: str, archive: zipfile.ZipFile) -> list[Package]:
    """No pom.properties: the manifest's Implementation-* or Bundle-* headers, when they
    name a group, an artifact and a version (a Maven advisory needs all three)."""
    try:
        info = archive.getinfo("META-INF/MANIFEST.MF")
        if info.file_size > _MAX_PROPERTIES:
            return []
        headers = manifest_headers(archive.read(info))
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        return []
    symbolic = headers.get("Bundle-SymbolicName", "").split(";")[0].strip()
    group = headers.get("Implementation-Vendor-Id") or (symbolic.rsplit(".", 1)[0] if "." in symbolic else "")
    artifact = headers.get("Implementation-Title") or (symbolic.rsplit(".", 1)[-1] if symbolic else "")
    version = headers.get("Implementation-Version") or headers.get("Bundle-Version", "")
    if not group or not artifact or not version or " " in artifact:
        return []
    return [Package(Kind.MAVEN, f"{group}:{artifact}", version, f"{path}!META-INF/MANIFEST.MF")]


def manifest_headers(data: bytes) -> dict[str, str]:
    """The main section of a JAR manifest: ``Name: value`` lines wrapped at 72 bytes,
    a continuation line starting with one space."""
    headers: dict[str, str] = {}
    key = ""
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip():
            break  # the main section ends at the first blank line
        if line.startswith(" ") and key:
            headers[key] += line[1:]
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            headers[key] = value.strip()
    return headers


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
