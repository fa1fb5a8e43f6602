"""npm packages: ``node_modules/<name>/package.json`` and ``node_modules/@scope/name/package.json``."""

from __future__ import annotations

import json

from strongroom.analysis.packages.model import Kind, Package


def is_package_json(path: str) -> bool:
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    if parts[-3] == "node_modules":
        return True
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def parse_package_json(path: str, data: bytes) -> list[Package]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return []
    if not isinstance(document, dict):
        return []
    name, version = document.get("name"), document.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []
    return [Package(Kind.NPM, name, version, path)]
