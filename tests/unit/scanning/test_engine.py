"""The engine over manifests: images, indexes (each platform), artifacts, the layer cache."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator

import pytest

from strongroom.analysis.severity import Severity
from strongroom.scanning.engine import InProcessAnalyser, MemoryLayerCache, ScanError, scan_manifest
from support import layers as img
from support import models


class Blobs:
    """Blobs by digest, counting reads (a cached layer must not be read again)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.reads: dict[str, int] = {}

    def put(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.data[digest] = data
        return digest

    @contextlib.contextmanager
    def open(self, digest: str) -> Iterator[io.BytesIO]:
        if digest not in self.data:
            raise ScanError(f"no blob {digest}")
        self.reads[digest] = self.reads.get(digest, 0) + 1
        yield io.BytesIO(self.data[digest])


def image(blobs: Blobs, layers: list[bytes]) -> tuple[str, bytes]:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": blobs.put(b"{}"),
            "size": 2,
        },
        "layers": [
            {"mediaType": img.media_type("gzip"), "digest": blobs.put(layer), "size": len(layer)}
            for layer in layers
        ],
    }
    data = json.dumps(manifest).encode()
    return blobs.put(data), data


def test_an_index_is_scanned_per_platform_and_a_shared_base_layer_is_read_once() -> None:
    blobs = Blobs()
    base = img.layer({"etc/os-release": img.DEBIAN_OS_RELEASE, "var/lib/dpkg/status": img.DPKG_STATUS})
    amd64 = image(
        blobs, [base, img.layer({"app/node_modules/a/package.json": b'{"name":"a","version":"1"}'})]
    )
    arm64 = image(
        blobs, [base, img.layer({"app/node_modules/b/package.json": b'{"name":"b","version":"2"}'})]
    )
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d,
                "size": len(m),
                "platform": p,
            }
            for (d, m), p in [
                (amd64, {"os": "linux", "architecture": "amd64"}),
                (arm64, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
            ]
        ],
    }
    data = json.dumps(index).encode()
    cache = MemoryLayerCache()
    scans = scan_manifest(blobs.put(data), data, blobs.open, cache, InProcessAnalyser())
    assert [s.platform for s in scans] == ["linux/amd64", "linux/arm64/v8"]
    assert [
        sorted(p.package.name for p in s.inventory.packages if p.package.kind == "npm") for s in scans
    ] == [
        ["a"],
        ["b"],
    ]
    base_digest = "sha256:" + hashlib.sha256(base).hexdigest()
    assert blobs.reads[base_digest] == 1
    assert cache.hits == 1


def test_an_artifact_blob_is_analysed_as_the_file_its_title_names() -> None:
    blobs = Blobs()
    weights = models.call("os", "system")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.cncf.model.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.cncf.model.config.v1+json",
            "digest": blobs.put(b"{}"),
            "size": 2,
        },
        "layers": [
            {
                "mediaType": "application/vnd.cncf.model.weight.v1.raw",
                "digest": blobs.put(weights),
                "size": len(weights),
                "annotations": {"org.cncf.model.filepath": "model/pytorch_model.bin"},
            },
            {
                "mediaType": "application/vnd.cncf.model.weight.v1.tar",
                "digest": blobs.put(img.layer({"model/b.pkl": weights}, compression=None)),
                "size": 1,
            },
        ],
    }
    data = json.dumps(manifest).encode()
    (scan,) = scan_manifest(blobs.put(data), data, blobs.open, MemoryLayerCache(), InProcessAnalyser())
    assert [(f.path, f.severity) for _, f in scan.blob_findings] == [
        ("model/pytorch_model.bin", Severity.CRITICAL)
    ]
    assert [f.path for _, f in scan.inventory.models] == ["model/b.pkl"]


def test_an_unreadable_layer_fails_the_scan_naming_it() -> None:
    blobs = Blobs()
    digest, data = image(blobs, [b"\x1f\x8b not really gzip"])
    with pytest.raises(ScanError, match="layer sha256:"):
        scan_manifest(digest, data, blobs.open, MemoryLayerCache(), InProcessAnalyser())


def test_a_manifest_that_is_not_json_is_refused() -> None:
    with pytest.raises(ScanError, match="not JSON"):
        scan_manifest("sha256:x", b"{", Blobs().open, MemoryLayerCache(), InProcessAnalyser())


def test_a_file_under_the_bare_tar_type_is_a_file_and_a_real_bare_tar_a_layer() -> None:
    """oras pushes single files as ``application/vnd.oci.image.layer.v1.tar``."""
    blobs = Blobs()
    pickle = models.call("posix", "system", "id")
    bare_layer = img.layer({"app/model.pkl": pickle}, compression=None)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": blobs.put(b"{}"), "size": 2},
        "layers": [
            {
                "mediaType": img.LAYER_TAR,
                "digest": blobs.put(pickle),
                "size": len(pickle),
                "annotations": {"org.opencontainers.image.title": "classifier.pkl"},
            },
            {"mediaType": img.LAYER_TAR, "digest": blobs.put(bare_layer), "size": len(bare_layer)},
        ],
    }
    data = json.dumps(manifest).encode()
    cache = MemoryLayerCache()
    [scan] = scan_manifest(blobs.put(data), data, blobs.open, cache, InProcessAnalyser())
    assert [(f.path, f.severity, f.detail) for _, f in scan.blob_findings] == [
        ("classifier.pkl", Severity.CRITICAL, "imports posix.system")
    ]
    assert [(f.path, f.severity) for _, f in scan.inventory.models] == [("app/model.pkl", Severity.CRITICAL)]
    assert len(scan.layers) == 1
