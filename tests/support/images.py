"""Builders for test images: OCI image layouts and rootfs tarballs made from generated files.

Everything is derived from a seeded ``random.Random``, so a failing test replays exactly, and
every byte a test pushes is made here — no opaque binary fixtures.

Media types are spelled out literally (citing image-spec and the Docker schema 2 spec) rather
than imported from ``strongroom.oci``: the end-to-end tests check the server against the specs,
not against its own vocabulary.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# image-spec v1.1 media-types.md
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
# Docker image manifest v2, schema 2
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

REF_NAME = "org.opencontainers.image.ref.name"
"""image-spec annotations.md: the tag of a manifest in an OCI layout's index.json."""

_EPOCH = 1_700_000_000
"""Fixed mtime for tar entries and gzip headers, so equal inputs give equal digests."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def encode_json(value: object) -> bytes:
    """Manifest bytes as a human might write them (indented, key order kept, trailing newline).

    Deliberately not the compact form a server would produce if it re-serialized: a test that
    compares these bytes with what the registry serves then catches any rewriting."""
    return (json.dumps(value, indent=3) + "\n").encode()


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


def random_files(rng: random.Random, prefix: str, count: int, size: int) -> dict[str, bytes]:
    """``count`` files of ``size`` random bytes, named ``<prefix>/file-<i>.bin``."""
    return {f"{prefix}/file-{i}.bin": rng.randbytes(size) for i in range(count)}


def tar_bytes(files: Mapping[str, bytes]) -> bytes:
    """A deterministic tar of ``files`` (relative paths), with entries for parent directories."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in sorted(_parents(files)):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _EPOCH
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, _EPOCH
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=_EPOCH)


def read_tar(data: bytes) -> dict[str, bytes]:
    """Regular files of a (possibly gzipped) tar, by path without a leading ``./``."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar:
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                files[member.name.removeprefix("./")] = extracted.read()
    return files


def _parents(paths: Iterable[str]) -> set[str]:
    parents: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        parents.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return parents


@dataclass(frozen=True)
class Image:
    """A single-platform OCI image: manifest, config, gzip layers and the files they hold."""

    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]
    files: Mapping[str, bytes]
    platform: Mapping[str, str]

    def blobs(self) -> tuple[Blob, ...]:
        return (self.manifest, self.config, *self.layers)


@dataclass(frozen=True)
class ImageIndex:
    """A multi-platform OCI image index and its platform images."""

    index: Blob
    images: tuple[Image, ...]

    @property
    def manifest(self) -> Blob:
        return self.index

    def blobs(self) -> tuple[Blob, ...]:
        return (self.index, *(blob for image in self.images for blob in image.blobs()))


def build_image(
    rng: random.Random,
    *,
    layers: int = 2,
    files_per_layer: int = 3,
    file_size: int = 8192,
    architecture: str = "amd64",
    os: str = "linux",
    annotations: Mapping[str, str] | None = None,
) -> Image:
    """An image whose layers are gzipped tars of random files; the config lists their diff_ids."""
    layer_files = [random_files(rng, f"layer{i}", files_per_layer, file_size) for i in range(layers)]
    tars = [tar_bytes(files) for files in layer_files]
    layer_blobs = tuple(Blob(OCI_LAYER_GZIP, gzip_bytes(tar)) for tar in tars)
    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": architecture,
        "os": os,
        "config": {"Env": ["PATH=/usr/bin"], "Labels": {"e2e.seed": str(rng.getrandbits(32))}},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar) for tar in tars]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": f"e2e layer {i}"} for i in range(layers)
        ],
    }
    config_blob = Blob(OCI_CONFIG, encode_json(config))
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [blob.descriptor() for blob in layer_blobs],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    files = {name: data for group in layer_files for name, data in group.items()}
    platform = {"architecture": architecture, "os": os}
    return Image(Blob(OCI_MANIFEST, encode_json(manifest)), config_blob, layer_blobs, files, platform)


def build_index(
    rng: random.Random, platforms: Iterable[tuple[str, str]] = (("linux", "amd64"), ("linux", "arm64"))
) -> ImageIndex:
    images = tuple(build_image(rng, os=os, architecture=arch) for os, arch in platforms)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [image.manifest.descriptor(platform=dict(image.platform)) for image in images],
        "annotations": {"org.opencontainers.image.description": "strongroom e2e multi-arch index"},
    }
    return ImageIndex(Blob(OCI_INDEX, encode_json(index)), images)


@dataclass
class OciLayout:
    """An OCI image layout directory (image-spec image-layout.md): ``oci-layout``,
    ``index.json`` and ``blobs/<alg>/<hex>``."""

    path: Path
    _tags: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def create(cls, path: Path) -> OciLayout:
        (path / "blobs" / "sha256").mkdir(parents=True)
        (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        layout = cls(path)
        layout._write_index()
        return layout

    def add(self, tag: str, image: Image | ImageIndex) -> None:
        for blob in image.blobs():
            self.blob_path(blob.digest).write_bytes(blob.data)
        self._tags[tag] = image.manifest.descriptor(annotations={REF_NAME: tag})
        self._write_index()

    def _write_index(self) -> None:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(self._tags.values())}
        (self.path / "index.json").write_bytes(encode_json(index))

    def blob_path(self, digest: str) -> Path:
        algorithm, hex_digest = digest.split(":", 1)
        return self.path / "blobs" / algorithm / hex_digest

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def blob_digests(self) -> set[str]:
        return {
            f"{algorithm.name}:{blob.name}"
            for algorithm in (self.path / "blobs").iterdir()
            for blob in algorithm.iterdir()
        }

    def descriptor(self, tag: str) -> dict[str, Any]:
        """The index.json entry naming ``tag`` (works for layouts written by other tools)."""
        index = json.loads((self.path / "index.json").read_bytes())
        for entry in index["manifests"]:
            if entry.get("annotations", {}).get(REF_NAME) == tag:
                return dict(entry)
        raise KeyError(f"no manifest tagged {tag!r} in {self.path}/index.json")


def write_rootfs_tarball(path: Path, files: Mapping[str, bytes]) -> Path:
    """A rootfs tarball for ``podman import`` (uncompressed: the client compresses on push)."""
    path.write_bytes(tar_bytes(files))
    return path


def push_random_image(
    server: Any, name: str, tag: str, *, seed: int | None = None, check: bool = True
) -> Any:
    """Push a new small random image to ``name:tag`` over the OCI API with the
    administrator's credentials; returns the manifest PUT's response (201 when ``check``)."""
    import httpx  # the builders above need no HTTP client

    image = build_image(random.Random(seed), layers=1, files_per_layer=1, file_size=256)
    with httpx.Client(base_url=server.url, auth=server.auth, timeout=60) as client:
        for blob in (image.config, *image.layers):
            started = client.post(f"/v2/{name}/blobs/uploads/")
            assert started.status_code == 202, started.text
            done = client.put(started.headers["location"], params={"digest": blob.digest}, content=blob.data)
            assert done.status_code == 201, done.text
        pushed = client.put(
            f"/v2/{name}/manifests/{tag}",
            content=image.manifest.data,
            headers={"Content-Type": image.manifest.media_type},
        )
    if check:
        assert pushed.status_code == 201, pushed.text
    return pushed
