"""Builders of an image hierarchy for the lineage tests: real layer tars, real OCI image
configs (with the layers' diff ids), manifests pushed over HTTP with their blobs, or
written as an OCI layout for skopeo; and a loopback webhook receiver."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from support import layers as img
from support.images import OCI_MANIFEST
from support.scans import put_blob, put_manifest
from support.server import RunningServer

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = img.media_type("gzip")


def layer(name: str, files: dict[str, bytes] | None = None) -> bytes:
    """A gzip layer tar holding ``files`` (by default one file naming the layer)."""
    return img.layer(files or {f"layers/{name}.txt": f"the {name} layer\n".encode()})


@dataclass(frozen=True)
class Built:
    manifest: dict[str, Any]
    blobs: tuple[bytes, ...]
    """The config, then the layers."""

    @property
    def body(self) -> bytes:
        return json.dumps(self.manifest).encode()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()


def build(layers: list[bytes], annotations: dict[str, str] | None = None) -> Built:
    """An OCI image of ``layers`` (gzip tars), with manifest ``annotations``."""
    diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest() for data in layers]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _descriptor(OCI_CONFIG, config),
        "layers": [_descriptor(LAYER, data) for data in layers],
    }
    if annotations:
        manifest["annotations"] = annotations
    return Built(manifest, (config, *layers))


def _descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def push(server: RunningServer, repository: str, tag: str, image: Built) -> str:
    """Push the image's blobs and manifest over HTTP (as any OCI client does); its digest."""
    with server.client() as client:
        for blob in image.blobs:
            put_blob(client, repository, blob)
        digest = put_manifest(client, repository, image.manifest, tag)
    assert digest == image.digest
    return digest


def write_layout(directory: Path, image: Built, tag: str) -> None:
    """The image as an OCI image layout, byte for byte (for ``skopeo copy oci:DIR:TAG``)."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for data in (*image.blobs, image.body):
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": len(image.body),
             "annotations": {"org.opencontainers.image.ref.name": tag}},
        ],
    }  # fmt: skip
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def remote(server: RunningServer, *args: str, key: tuple[str, str] | None = None, check: bool = True) -> Any:
    """``strongroom ARGS --output json`` against the server's /admin/v1: signed with ``key``,
    else as the administrator by a bearer token from ``/token`` (which, unlike a SigV4
    signature, holds when the test steps the server's clock); the parsed output, or the
    process when not ``check``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRONGROOM_", "AWS_"))}
    env.update(STRONGROOM_ENDPOINT=server.url, STRONGROOM_DATA_DIR=str(server.data_dir.parent / "nowhere"))
    if key is None:
        env.update(STRONGROOM_USER=server.user, STRONGROOM_PASSWORD=server.password)
    else:
        env.update(AWS_ACCESS_KEY_ID=key[0], AWS_SECRET_ACCESS_KEY=key[1], AWS_REGION="us-east-1")
    result = subprocess.run(
        [sys.executable, "-m", "strongroom", *args, "--output", "json"], env=env, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    if not check:
        return result
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def wait_for(check: Callable[[], Any], timeout: float = 60, what: str = "a condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@dataclass
class Receiver:
    """A webhook receiver on loopback: every POST's path and CloudEvents body."""

    port: int = 0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self, path: str, event_type: str) -> list[dict[str, Any]]:
        return [body for p, body in list(self.received) if p == path and body.get("type") == event_type]


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            state.received.append((self.path, json.loads(body)))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def lineage_jobs_done(server: RunningServer) -> bool:
    """Every queued lineage.detect job has finished."""
    with server.client() as client:
        answer = client.get("/admin/v1/jobs", params={"kind": "lineage.detect", "maxResults": "1000"})
    jobs = answer.json()["jobs"]
    return bool(jobs) and all(job["state"] == "succeeded" for job in jobs)


def admin(server: RunningServer) -> httpx.Client:
    return server.client()
