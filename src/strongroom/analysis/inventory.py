"""What one layer holds (packages, os-release, model findings, whiteouts), and an image's
inventory: its layers merged in order with the whiteout rules applied.

A layer's result depends only on its bytes and ``ANALYSER_VERSION``, so it can be cached
by layer digest plus that version. Bump the version whenever any parser changes: a stale
per-layer cache once hid every Alpine finding (harbor#14381, trivy#873).
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from strongroom.analysis.layers import READ_ERRORS, Entry, LayerError, Whiteout, entries, hidden_by
from strongroom.analysis.models.files import HEAD_SIZE, ModelLimits, analyse_model_file, sniff
from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.packages import golang, java
from strongroom.analysis.packages.catalog import MAX_EVIDENCE_BYTES, OS_RELEASE_PATHS, evidence_parser
from strongroom.analysis.packages.model import OsRelease, Package, UnreadableEvidence
from strongroom.analysis.packages.osrelease import parse_os_release
from strongroom.analysis.streams import Prefixed, Reader, read_bounded

ANALYSER_VERSION = "2"

Spool = Callable[[Reader], IO[bytes]]


@dataclass(frozen=True)
class InventoryLimits:
    max_layer_bytes: int = 64 * 1024 * 1024 * 1024
    max_binary_bytes: int = 512 * 1024 * 1024
    models: ModelLimits = field(default_factory=ModelLimits)


@dataclass
class LayerInventory:
    """One layer's facts, keyed by the path of the file they came from."""

    packages: dict[str, list[Package]] = field(default_factory=dict)
    os_release: dict[str, OsRelease] = field(default_factory=dict)
    models: dict[str, list[ModelFinding]] = field(default_factory=dict)
    whiteouts: list[Whiteout] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Located:
    """A fact with the digest of the layer it came from."""

    layer: str
    package: Package


@dataclass
class Inventory:
    """An image's merged inventory: what a container started from it would see."""

    os_release: OsRelease | None = None
    packages: list[Located] = field(default_factory=list)
    models: list[tuple[str, ModelFinding]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(layer digest, problem) for evidence a container would see but that could not be
    read, such as a damaged rpm database: the inventory is incomplete, not clean."""


def analyse_layer(stream: Reader, spool: Spool, limits: InventoryLimits | None = None) -> LayerInventory:
    """Walk one layer's tar stream once; raises ``LayerError`` when it cannot be read."""
    limits = limits or InventoryLimits()
    result = LayerInventory()
    try:
        for item in entries(stream, limits.max_layer_bytes):
            if isinstance(item, Whiteout):
                result.whiteouts.append(item)
            elif item.is_file and item.stream is not None:
                _analyse_file(item, result, spool, limits)
    except READ_ERRORS as error:  # raised while an entry's bytes were being read
        raise LayerError(f"layer is not a readable tar stream: {error}") from None
    return result


def _analyse_file(entry: Entry, result: LayerInventory, spool: Spool, limits: InventoryLimits) -> None:
    assert entry.stream is not None
    path, stream = entry.path, entry.stream
    if path in OS_RELEASE_PATHS:
        data = read_bounded(stream, 64 * 1024)
        parsed = parse_os_release(data) if data is not None else None
        if parsed is not None:
            result.os_release[path] = parsed
        return
    parser = evidence_parser(path)
    if parser is not None:
        data = read_bounded(stream, MAX_EVIDENCE_BYTES)
        if data is None:
            result.problems.append(f"{path}: larger than {MAX_EVIDENCE_BYTES} bytes, not read")
        else:
            try:
                result.packages[path] = parser(path, data)
            except UnreadableEvidence as error:
                result.problems.append(f"{path}: unreadable: {error}")
        return
    if path.endswith(java.JAR_SUFFIXES):
        result.packages[path] = java.parse_archive(path, spool(stream))
        return
    head = stream.read(HEAD_SIZE)
    if (head.startswith(b"\x7fELF") and entry.mode & stat.S_IXUSR) or (
        head.startswith(b"MZ") and path.lower().endswith(".exe")  # Windows layers carry no modes that matter
    ):
        packages = golang.read_build_info(path, Prefixed(head, stream))
        if packages:
            result.packages[path] = packages
        return
    if sniff(path, head) is not None:
        # Recorded even when clean: a clean model here replaces a bad one below.
        rest = Prefixed(head, stream)
        result.models[path] = analyse_model_file(path, rest, entry.size, spool, limits.models)


def merge(layers: list[tuple[str, LayerInventory]]) -> Inventory:
    """Apply layers base first: a path's facts come from the topmost layer holding it,
    unless a whiteout in a layer above that one deletes it."""
    inventory = Inventory()
    for index, (digest, layer) in enumerate(layers):
        above = [whiteout for _, upper in layers[index + 1 :] for whiteout in upper.whiteouts]
        overwritten = {path for _, upper in layers[index + 1 :] for path in _paths(upper)}
        for path, packages in layer.packages.items():
            if path not in overwritten and not hidden_by(path, above):
                inventory.packages.extend(Located(digest, package) for package in packages)
        for path, findings in layer.models.items():
            if path not in overwritten and not hidden_by(path, above):
                inventory.models.extend((digest, finding) for finding in findings)
        for problem in layer.problems:
            path = problem.split(": ", 1)[0]  # problems start with the path they are about
            if path not in overwritten and not hidden_by(path, above):
                inventory.problems.append((digest, problem))
        for path, release in layer.os_release.items():
            visible = path not in overwritten and not hidden_by(path, above)
            if visible and (inventory.os_release is None or path == "etc/os-release"):
                inventory.os_release = release
    return inventory


def _paths(layer: LayerInventory) -> set[str]:
    return {*layer.packages, *layer.models, *layer.os_release}
