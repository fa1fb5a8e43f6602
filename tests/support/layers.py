"""Builders of image layers and OCI image layouts for the scanner's tests (tar members, whiteouts,
compression), beside support/images.py's builders of pushable images."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import zstandard

LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


def layer(
    files: dict[str, bytes],
    whiteouts: tuple[str, ...] = (),
    opaque: tuple[str, ...] = (),
    compression: str | None = "gzip",
    executable: tuple[str, ...] = (),
) -> bytes:
    """A layer tar: ``files`` by path, ``.wh.`` markers for ``whiteouts``, opaque markers
    for the directories in ``opaque``; compressed as a builder would."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for directory in opaque:
            _add(archive, f"{directory}/.wh..wh..opq", b"")
        for path in whiteouts:
            parent, _, base = path.rpartition("/")
            _add(archive, f"{parent}/.wh.{base}" if parent else f".wh.{base}", b"")
        for path, data in files.items():
            _add(archive, path, data, 0o755 if path in executable else 0o644)
    raw = buffer.getvalue()
    if compression == "gzip":
        return gzip.compress(raw, compresslevel=1)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(raw)
    return raw


def _add(archive: tarfile.TarFile, path: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo("./" + path)
    info.size = len(data)
    info.mode = mode
    archive.addfile(info, io.BytesIO(data))


def media_type(compression: str | None) -> str:
    return LAYER_TAR + {"gzip": "+gzip", "zstd": "+zstd", None: ""}[compression]


def write_layout(directory: Path, layers: list[tuple[bytes, str]], tag: str = "latest") -> str:
    """An OCI image layout (as ``skopeo copy ... oci:DIR:TAG`` writes); returns the manifest digest."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    config_bytes = config.encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": put(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [{"mediaType": kind, "digest": put(data), "size": len(data)} for data, kind in layers],
    }
    manifest_bytes = json.dumps(manifest).encode()
    digest = put(manifest_bytes)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": len(manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return digest


DPKG_STATUS = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2

Package: bash
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b2

Package: openssh-client
Status: install ok installed
Architecture: amd64
Source: openssh
Version: 1:9.2p1-2+deb12u2

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
"""

DEBIAN_OS_RELEASE = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
"""

ALPINE_OS_RELEASE = b"""NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
"""

APK_INSTALLED = b"""C:Q1abc=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
o:musl
L:MIT

C:Q1def=
P:libcrypto3
V:3.1.4-r5
A:x86_64
o:openssl
L:Apache-2.0

C:Q1ghi=
P:busybox
V:1.36.1-r15
A:x86_64
o:busybox
"""
