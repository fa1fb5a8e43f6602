"""Python distributions: ``*.dist-info/METADATA``, ``*.egg-info/PKG-INFO`` or an ``.egg-info`` file."""

from __future__ import annotations

import re
from email.parser import BytesHeaderParser

from strongroom.analysis.packages.model import Kind, Package

_SEPARATORS = re.compile(r"[-_.]+")


def normalise(name: str) -> str:
    """PEP 503: lowercase, runs of ``-_.`` become ``-`` (how PyPI and OSV key names)."""
    return _SEPARATORS.sub("-", name).lower()


def parse_metadata(path: str, data: bytes) -> list[Package]:
    headers = BytesHeaderParser().parsebytes(data)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return []
    return [Package(Kind.PYPI, normalise(str(name).strip()), str(version).strip(), path)]
