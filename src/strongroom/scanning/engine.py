"""Scanning one image (or index, or artifact) given its manifest and a way to read blobs.

The same engine serves ``strongroom scan layout`` (blobs in an OCI layout on disk) and
scan on push (blobs in the registry's store, :mod:`.on_push`): only the ``BlobReader``
and the layer cache differ.
Each layer's inventory is cached by layer digest plus ``ANALYSER_VERSION``, so a base
layer shared by many images is read once; matching advisories needs no blob at all.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from strongroom.analysis.inventory import (
    ANALYSER_VERSION,
    Inventory,
    InventoryLimits,
    LayerInventory,
    analyse_layer,
    merge,
)
from strongroom.analysis.layers import LayerError
from strongroom.analysis.models.files import analyse_model_file
from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.streams import Prefixed, Reader

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
SPOOL_IN_MEMORY = 64 * 1024 * 1024
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_TAR_LAYER_MARKERS = (".tar", "tar.gzip", "tar+gzip", "tar+zstd", "rootfs.diff.tar")
_TITLE = "org.opencontainers.image.title"
_TAR_HEADER = 512
_USTAR = slice(257, 262)
"""Where a POSIX (ustar, pax, GNU) tar header says what it is."""
_MODEL_PATH = "org.cncf.model.filepath"

BlobReader = Callable[[str], AbstractContextManager[Reader]]
"""Opens the blob with this digest for reading; the reader verifies the bytes against
the digest once they have been read to the end (``drain`` makes sure they are)."""


class ScanError(Exception):
    """The image cannot be scanned (unreadable manifest, layer or blob), with the reason."""


class LayerCache(Protocol):
    def get(self, key: str) -> LayerInventory | None: ...

    def put(self, key: str, inventory: LayerInventory) -> None: ...


class Analyser(Protocol):
    """Where untrusted bytes are analysed: in this process, or in an isolated child."""

    def layer(self, stream: Reader) -> LayerInventory: ...

    def blob(self, name: str, stream: Reader, size: int | None) -> list[ModelFinding]: ...


class InProcessAnalyser:
    """Analysis in this process: for tests and trusted inputs; the commands isolate."""

    def __init__(self, limits: InventoryLimits | None = None) -> None:
        self.limits = limits or InventoryLimits()

    def layer(self, stream: Reader) -> LayerInventory:
        try:
            return analyse_layer(stream, spool, self.limits)
        except LayerError as error:
            raise ScanError(str(error)) from None

    def blob(self, name: str, stream: Reader, size: int | None) -> list[ModelFinding]:
        return analyse_model_file(name, stream, size, spool, self.limits.models)


class MemoryLayerCache:
    """Per-process cache, for ``strongroom scan layout``; the registry keeps its cache in
    the database (:class:`strongroom.scanning.registry_blobs.PersistentLayerCache`)."""

    def __init__(self) -> None:
        self._entries: dict[str, LayerInventory] = {}
        self.hits = 0

    def get(self, key: str) -> LayerInventory | None:
        found = self._entries.get(key)
        self.hits += found is not None
        return found

    def put(self, key: str, inventory: LayerInventory) -> None:
        self._entries[key] = inventory


@dataclass
class ImageScan:
    """One image manifest's inventory and model findings (an index gives one per platform)."""

    digest: str
    platform: str
    inventory: Inventory
    layers: list[str] = field(default_factory=list)
    blob_findings: list[tuple[str, ModelFinding]] = field(default_factory=list)


def spool(stream: Reader) -> IO[bytes]:
    """A seekable copy of the rest of a stream (zip archives need one), in memory up to
    64 MiB and in a temporary file beyond."""
    copy = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned open
    while chunk := stream.read(1024 * 1024):
        copy.write(chunk)
    copy.seek(0)
    return copy


def drain(stream: Reader) -> None:
    """Read what analysis left (tar padding, bytes after a pickle) so the digest is checked."""
    while stream.read(1024 * 1024):
        pass


def scan_manifest(
    digest: str,
    manifest: bytes,
    read_blob: BlobReader,
    cache: LayerCache,
    analyser: Analyser,
    platform: str = "",
    *,
    files: bool = True,
) -> list[ImageScan]:
    """The image's (an index's: each platform's) inventory and model findings. Without
    ``files``, an artifact's blobs that are files (model weights) are not read: their
    findings depend on nothing but their bytes, so re-evaluation keeps the last ones."""
    try:
        document = json.loads(manifest)
    except ValueError as error:
        raise ScanError(f"manifest {digest} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ScanError(f"manifest {digest} is not a JSON object")
    if document.get("mediaType") in _INDEX_TYPES or "manifests" in document:
        return _scan_index(document, read_blob, cache, analyser, files)
    return [_scan_image(digest, document, read_blob, cache, analyser, platform, files)]


def _scan_index(
    document: dict[str, Any], read_blob: BlobReader, cache: LayerCache, analyser: Analyser, files: bool
) -> list[ImageScan]:
    scans: list[ImageScan] = []
    for descriptor in document.get("manifests") or []:
        child = str(descriptor.get("digest", ""))
        platform = descriptor.get("platform") or {}
        name = "/".join(str(platform[k]) for k in ("os", "architecture", "variant") if k in platform)
        with read_blob(child) as opened:
            data = opened.read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            raise ScanError(f"manifest {child} exceeds {MAX_MANIFEST_BYTES} bytes")
        scans.extend(scan_manifest(child, data, read_blob, cache, analyser, name, files=files))
    return scans


def _scan_image(
    digest: str,
    document: dict[str, Any],
    read_blob: BlobReader,
    cache: LayerCache,
    analyser: Analyser,
    platform: str,
    files: bool,
) -> ImageScan:
    layers: list[tuple[str, LayerInventory]] = []
    blob_findings: list[tuple[str, ModelFinding]] = []
    for descriptor in document.get("layers") or []:
        layer_digest = str(descriptor.get("digest", ""))
        media_type = str(descriptor.get("mediaType", ""))
        annotations = descriptor.get("annotations") or {}
        name = str(annotations.get(_MODEL_PATH) or annotations.get(_TITLE) or layer_digest)
        if any(marker in media_type for marker in _TAR_LAYER_MARKERS):
            found = _layer(layer_digest, read_blob, cache, analyser, name, media_type.endswith(".tar"))
            if isinstance(found, LayerInventory):
                layers.append((layer_digest, found))
                continue
            blob_findings.extend((layer_digest, finding) for finding in found)
            continue
        if not files:
            continue
        # An artifact's blob is a file in itself: a model's weights, a config.
        with read_blob(layer_digest) as opened:
            findings = analyser.blob(name, opened, descriptor.get("size"))
            drain(opened)
        blob_findings.extend((layer_digest, finding) for finding in findings)
    return ImageScan(digest, platform, merge(layers), [d for d, _ in layers], blob_findings)


def _layer(
    digest: str, read_blob: BlobReader, cache: LayerCache, analyser: Analyser, name: str, bare: bool
) -> LayerInventory | list[ModelFinding]:
    """A tar layer's inventory, from the cache when it has it. An uncompressed ("bare")
    tar type that holds no tar is a file in itself: oras pushes single files under
    ``application/vnd.oci.image.layer.v1.tar`` by default."""
    key = f"{digest}@{ANALYSER_VERSION}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        with read_blob(digest) as opened:
            stream: Reader = opened
            if bare:
                head = opened.read(_TAR_HEADER)
                stream = Prefixed(head, opened)
                if head[_USTAR] != b"ustar":
                    findings = analyser.blob(name, stream, None)
                    drain(opened)
                    return findings
            inventory = analyser.layer(stream)
            drain(opened)
    except ScanError as error:
        raise ScanError(f"layer {digest}: {error}") from None
    cache.put(key, inventory)
    return inventory
