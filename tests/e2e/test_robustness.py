"""Robustness against a real server process: clients that vanish, a server killed
with SIGKILL, racing pushes, a full disk, abandoned uploads, and the chunked-upload
cases of the conformance suite (reference/oci-distribution.md §5, §12).

Every wait is bounded in count and time; each test finishes well within 60 s.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.server import RunningServer, start_server
from support.tools import SKIP_VARIABLE, require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
MiB = 1024 * 1024


# --- building content -------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass(frozen=True)
class Image:
    """An OCI image built in memory: a config, some layers and the manifest over them."""

    config: bytes
    layers: tuple[bytes, ...]
    manifest: bytes

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def blobs(self) -> tuple[bytes, ...]:
        return (self.config, *self.layers)


def make_image(config: bytes, layers: tuple[bytes, ...], annotation: str = "") -> Image:
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)} for layer in layers],
    }
    if annotation:
        document["annotations"] = {"org.example.which": annotation}
    return Image(config, layers, json.dumps(document, indent=2).encode())


def build_image(seed: int, layer_sizes: tuple[int, ...] = (4096, 65536), annotation: str = "") -> Image:
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layers = tuple(random_bytes(size, seed * 100 + i) for i, size in enumerate(layer_sizes))
    return make_image(config, layers, annotation)


# --- pushing and checking ----------------------------------------------------------------------------


def push_blob(client: httpx.Client, name: str, data: bytes) -> str:
    """POST then a monolithic PUT (spec §5.1); returns the digest."""
    digest = sha256(data)
    started = client.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    done = client.put(
        started.headers["location"],
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text
    assert done.headers["docker-content-digest"] == digest
    return digest


def push_manifest(client: httpx.Client, name: str, reference: str, body: bytes) -> httpx.Response:
    return client.put(
        f"/v2/{name}/manifests/{reference}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )


def push_image(client: httpx.Client, name: str, tag: str, image: Image) -> None:
    for blob in image.blobs:
        push_blob(client, name, blob)
    pushed = push_manifest(client, name, tag, image.manifest)
    assert pushed.status_code == 201, pushed.text
    assert pushed.headers["docker-content-digest"] == image.digest


def get_blob(client: httpx.Client, name: str, digest: str) -> bytes:
    response = client.get(f"/v2/{name}/blobs/{digest}")
    assert response.status_code == 200, f"blob {digest} of {name}: {response.status_code} {response.text}"
    assert sha256(response.content) == digest
    return response.content


def paged(client: httpx.Client, path: str, key: str) -> list[str]:
    """Every item of a paginated list (tags or catalog), following ``Link`` (bounded)."""
    items: list[str] = []
    url: str | None = path
    for _ in range(100):
        if url is None:
            return items
        response = client.get(url)
        assert response.status_code == 200, response.text
        items += response.json()[key] or []
        link = response.headers.get("link")
        url = link.split(";")[0].strip().strip("<>") if link else None
    raise AssertionError(f"{path}: more than 100 pages")


def assert_consistent(client: httpx.Client) -> dict[tuple[str, str], str]:
    """Every tagged manifest resolves by tag and by digest with the right digest, and
    every blob or child it references is served whole with the right digest.

    Returns ``{(repository, tag): manifest digest}``."""
    resolved: dict[tuple[str, str], str] = {}
    checked_blobs: set[tuple[str, str]] = set()
    for name in paged(client, "/v2/_catalog", "repositories"):
        for tag in paged(client, f"/v2/{name}/tags/list", "tags"):
            by_tag = client.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
            assert by_tag.status_code == 200, f"{name}:{tag} -> {by_tag.status_code} {by_tag.text}"
            digest = sha256(by_tag.content)
            assert by_tag.headers["docker-content-digest"] == digest
            by_digest = client.get(f"/v2/{name}/manifests/{digest}", headers={"Accept": MANIFEST_ACCEPT})
            assert by_digest.status_code == 200, by_digest.text
            assert by_digest.content == by_tag.content
            document = json.loads(by_tag.content)
            for child in document.get("manifests", []):
                head = client.head(f"/v2/{name}/manifests/{child['digest']}")
                assert head.status_code == 200, f"{name}@{digest} lists missing {child['digest']}"
            for blob in [document["config"], *document["layers"]] if "config" in document else []:
                if (name, blob["digest"]) not in checked_blobs:
                    assert len(get_blob(client, name, blob["digest"])) == blob["size"]
                    checked_blobs.add((name, blob["digest"]))
            resolved[(name, tag)] = digest
    return resolved


# --- raw HTTP, for clients that misbehave on purpose ------------------------------------------------


def basic_auth(server: RunningServer) -> str:
    return "Basic " + base64.b64encode(f"{server.user}:{server.password}".encode()).decode()


def open_patch(server: RunningServer, location: str, *, content_length: int | None) -> socket.socket:
    """Send the head of a PATCH; the caller streams (part of) the body and hangs up."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    framing = (
        f"Content-Length: {content_length}" if content_length is not None else "Transfer-Encoding: chunked"
    )
    head = (
        f"PATCH {location} HTTP/1.1\r\n"
        f"Host: {server.registry}\r\n"
        f"Authorization: {basic_auth(server)}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"{framing}\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def chunked(data: bytes, piece: int = 256 * 1024) -> bytes:
    """``data`` in HTTP/1.1 chunked framing, without the terminating zero chunk."""
    out = bytearray()
    for start in range(0, len(data), piece):
        part = data[start : start + piece]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return bytes(out)


def upload_offset(response: httpx.Response) -> int:
    """Bytes held by an upload, from its ``Range: 0-<last>`` header."""
    start, end = response.headers["range"].split("-")
    assert start == "0"
    return int(end) + 1


def settled_offset(client: httpx.Client, location: str, *, seconds: float = 10) -> int:
    """The upload's size once it stops changing (the server may still be writing what
    it received before the client vanished)."""
    deadline = time.monotonic() + seconds
    previous = -1
    while time.monotonic() < deadline:
        status = client.get(location)
        assert status.status_code == 204, status.text
        assert status.headers["location"].endswith(location.rsplit("/", 1)[-1])
        offset = upload_offset(status)
        if offset == previous:
            return offset
        previous = offset
        time.sleep(0.3)
    raise AssertionError(f"upload {location} still changing after {seconds}s")


def wait_for_bytes(client: httpx.Client, location: str, *, seconds: float = 10) -> int:
    """Wait (bounded) until the server has stored some of an upload's bytes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.get(location)
        assert status.status_code == 204, status.text
        if upload_offset(status) > 1:
            return upload_offset(status)
        time.sleep(0.05)
    raise AssertionError(f"no bytes of {location} stored after {seconds}s")


def resume_and_finish(client: httpx.Client, location: str, data: bytes) -> httpx.Response:
    """Finish an interrupted upload from wherever the server says it stands. A writer
    that died mid-PATCH holds the session until its claim lapses (``WRITE_CLAIM``,
    10 s): until then the server answers 416, so keep asking for a while."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        offset = settled_offset(client, location)
        # Range "0-0" is both "empty" and "one byte" (spec §2 note); this test always leaves more.
        assert 1 < offset <= len(data), f"server holds {offset} of {len(data)} bytes"
        rest = data[offset:]
        patched = client.patch(
            location,
            content=rest,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{len(data) - 1}",
            },
        )
        if patched.status_code == 416:  # a late write landed, or a dead writer's claim holds
            time.sleep(0.5)
            continue
        assert patched.status_code == 202, patched.text
        assert patched.headers["range"] == f"0-{len(data) - 1}"
        return client.put(patched.headers["location"], params={"digest": sha256(data)})
    raise AssertionError("upload never settled")


# --- 1. a client that disconnects mid-upload ---------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_client_disconnect_mid_patch_leaves_no_blob_and_can_resume(
    server: RunningServer, framing: str
) -> None:
    name = "robust/disconnect"
    data = random_bytes(8 * MiB + 123, seed=1)
    sent = 3 * MiB + 7
    with server.client() as client:
        location = client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
        sock = open_patch(server, location, content_length=len(data) if framing == "content-length" else None)
        try:
            sock.sendall(data[:sent] if framing == "content-length" else chunked(data[:sent]))
            wait_for_bytes(client, location)  # the server is mid-request when we vanish
        finally:
            sock.close()

        assert client.head(f"/v2/{name}/blobs/{sha256(data)}").status_code == 404
        assert client.head(f"/v2/{name}/blobs/{sha256(data[:sent])}").status_code == 404
        offset = settled_offset(client, location)
        assert 0 < offset <= sent, f"received {sent} bytes, upload holds {offset}"

        finished = resume_and_finish(client, location, data)
        assert finished.status_code == 201, finished.text
        assert finished.headers["location"] == f"/v2/{name}/blobs/{sha256(data)}"
        assert get_blob(client, name, sha256(data)) == data
        # the session is gone once the blob is published
        assert client.get(location).status_code == 404
    assert "Traceback" not in server.log()


def test_client_disconnect_before_body_leaves_usable_session(server: RunningServer) -> None:
    name = "robust/disconnect-early"
    data = random_bytes(100_000, seed=2)
    with server.client() as client:
        location = client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
        sock = open_patch(server, location, content_length=len(data))
        sock.close()
        assert settled_offset(client, location) in (0, 1)  # "0-0": nothing received
        done = client.put(location, params={"digest": sha256(data)}, content=data)
        assert done.status_code == 201, done.text
        assert get_blob(client, name, sha256(data)) == data


# --- 2. SIGKILL mid-push, restart on the same data directory ----------------------------------------


@contextlib.contextmanager
def restartable(data_dir: Path) -> Iterator[list[RunningServer]]:
    """Servers started on ``data_dir``; whatever is still running is stopped at the end."""
    servers: list[RunningServer] = []
    try:
        yield servers
    finally:
        for running in servers:
            running.stop()


def test_sigkill_during_large_patch_then_restart_is_consistent(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = build_image(seed=10)
    big = random_bytes(48 * MiB, seed=11)
    second = make_image(first.config, (*first.layers, big))

    with restartable(data_dir) as servers:
        servers.append(start_server(data_dir))
        with servers[0].client() as client:
            push_image(client, "robust/kill", "first", first)
            location = client.post("/v2/robust/kill/blobs/uploads/").headers["location"]
        sock = open_patch(servers[0], location, content_length=len(big))
        try:
            sock.sendall(big[: 20 * MiB])
            with servers[0].client() as client:
                wait_for_bytes(client, location)
            servers[0].kill()  # while the PATCH body is still streaming in
        finally:
            sock.close()

        servers.append(start_server(data_dir))
        with servers[1].client() as client:
            resolved = assert_consistent(client)
            assert resolved == {("robust/kill", "first"): first.digest}
            assert client.head(f"/v2/robust/kill/blobs/{sha256(big)}").status_code == 404
            # the interrupted session survived the crash and can be finished
            status = client.get(location)
            assert status.status_code == 204, status.text
            finished = resume_and_finish(client, location, big)
            assert finished.status_code == 201, finished.text
            assert get_blob(client, "robust/kill", sha256(big)) == big
            # and a plain re-push of everything works too
            push_image(client, "robust/kill", "first", first)
            push_image(client, "robust/kill", "second", second)
            resolved = assert_consistent(client)
            assert resolved == {
                ("robust/kill", "first"): first.digest,
                ("robust/kill", "second"): second.digest,
            }
        assert "Traceback" not in servers[1].log()


def test_sigkill_amid_concurrent_pushes_then_restart_is_consistent(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    images = {
        f"robust/team{i % 3}:v{i}": build_image(seed=100 + i, layer_sizes=(20_000, 300_000))
        for i in range(60)
    }
    acknowledged: dict[str, str] = {}  # "name:tag" -> digest, for every manifest PUT answered 201
    failures: list[BaseException] = []
    lock = threading.Lock()
    stop = threading.Event()

    def pusher(server: RunningServer, keys: list[str]) -> None:
        with httpx.Client(base_url=server.url, auth=server.auth, timeout=10) as client:
            for key in keys:
                if stop.is_set():
                    return
                name, tag = key.split(":")
                image = images[key]
                try:
                    for blob in image.blobs:
                        push_blob(client, name, blob)
                    response = push_manifest(client, name, tag, image.manifest)
                except httpx.TransportError:
                    return  # the server died under us
                except BaseException as error:  # a wrong answer before the kill: the test fails
                    failures.append(error)
                    return
                if response.status_code == 201:
                    with lock:
                        acknowledged[key] = response.headers["docker-content-digest"]

    with restartable(data_dir) as servers:
        servers.append(start_server(data_dir))
        keys = list(images)
        threads = [threading.Thread(target=pusher, args=(servers[0], keys[i::4])) for i in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(acknowledged) < 12:
            time.sleep(0.02)
        servers[0].kill()  # some images done, others mid-blob or mid-manifest
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)
        assert not failures, failures
        assert 0 < len(acknowledged) < len(images), "the kill should land mid-push"

        servers.append(start_server(data_dir))
        with servers[1].client() as client:
            resolved = assert_consistent(client)
            for key, digest in acknowledged.items():
                name, tag = key.split(":")
                assert resolved.get((name, tag)) == digest, f"acknowledged {key} lost in the crash"
            # re-pushing every image succeeds, acknowledged or not
            for key, image in images.items():
                name, tag = key.split(":")
                push_image(client, name, tag, image)
            resolved = assert_consistent(client)
            assert resolved == {tuple(key.split(":")): image.digest for key, image in images.items()}
        assert "Traceback" not in servers[1].log()


# --- 3. two pushes of one tag racing ------------------------------------------------------------------


def test_concurrent_pushes_of_one_tag_leave_one_consistent_winner(server: RunningServer) -> None:
    name = "robust/race"
    a = build_image(seed=20, layer_sizes=(1000,), annotation="a")
    b = build_image(seed=20, layer_sizes=(1000,), annotation="b")
    assert a.manifest != b.manifest
    with server.client() as client:
        for blob in a.blobs:  # b has the same blobs
            push_blob(client, name, blob)

    rounds = 25
    barrier = threading.Barrier(2, timeout=10)
    failures: list[str] = []

    def racer(image: Image) -> None:
        try:
            with server.client() as client:
                for round_ in range(rounds):
                    barrier.wait()
                    for tag in ("race", f"race-{round_}"):
                        response = push_manifest(client, name, tag, image.manifest)
                        if (
                            response.status_code != 201
                            or response.headers.get("docker-content-digest") != image.digest
                        ):
                            failures.append(f"round {round_} {tag}: {response.status_code} {response.text}")
        except Exception as error:
            failures.append(repr(error))
            barrier.abort()

    started = time.monotonic()
    threads = [threading.Thread(target=racer, args=(image,)) for image in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=50)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures[:5]
    assert time.monotonic() - started < 50

    with server.client() as client:
        for tag in ["race", *(f"race-{r}" for r in range(rounds))]:
            got = client.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
            assert got.status_code == 200, got.text
            assert got.content in (a.manifest, b.manifest)
            assert got.headers["docker-content-digest"] == sha256(got.content)
            assert got.headers["content-type"] == OCI_MANIFEST
            head = client.head(f"/v2/{name}/manifests/{tag}")
            assert head.headers["docker-content-digest"] == sha256(got.content)
        # both manifests stay addressable by digest
        for image in (a, b):
            assert client.get(f"/v2/{name}/manifests/{image.digest}").content == image.manifest
        assert_consistent(client)


# --- 4. a full disk ------------------------------------------------------------------------------------


def _cannot_mount(reason: str) -> None:
    pytest.fail(f"{reason}: the full-disk tests need it; to run without them, set {SKIP_VARIABLE}=tmpfs")


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "8m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mount = require("tmpfs", "mount")
    if os.geteuid() != 0:
        _cannot_mount("mounting a tmpfs needs root")
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        _cannot_mount(f"mount -t tmpfs failed: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30, check=False)


def assert_oci_error(response: httpx.Response, status: int) -> list[str]:
    assert response.status_code == status, f"{response.status_code} {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    codes = [entry["code"] for entry in response.json()["errors"]]
    assert codes
    assert all(code.replace("_", "").isalpha() and code.isupper() for code in codes)
    return codes


def test_full_disk_gives_clean_error_and_no_corruption(tmp_path: Path) -> None:
    mountpoint = tmp_path / "small"
    with small_tmpfs(mountpoint):
        data_dir = mountpoint / "data"
        # The blob store's disk fills; the metadata database and the metrics files (a few
        # MiB of mmapped counters) live on another, as with PostgreSQL beside object storage.
        env = {
            "STRONGROOM_UPLOAD_SWEEP_SECONDS": "3600",
            "STRONGROOM_METRICS_DIR": str(tmp_path / "metrics"),
            "STRONGROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'meta.db'}",
        }
        running = start_server(data_dir, env=env)
        try:
            name = "robust/full"
            early = build_image(seed=30, layer_sizes=(256 * 1024,))
            huge = random_bytes(12 * MiB, seed=31)
            with running.client() as client:
                push_image(client, name, "early", early)

                # monolithic POST ?digest= with the body
                whole = client.post(
                    f"/v2/{name}/blobs/uploads/",
                    params={"digest": sha256(huge)},
                    content=huge,
                    headers={"Content-Type": "application/octet-stream"},
                )
                assert_oci_error(whole, 507)
                assert client.head(f"/v2/{name}/blobs/{sha256(huge)}").status_code == 404

                # POST, then a PUT carrying the body
                location = client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
                put = client.put(location, params={"digest": sha256(huge)}, content=huge)
                assert_oci_error(put, 507)
                assert client.head(f"/v2/{name}/blobs/{sha256(huge)}").status_code == 404
                # the session is still usable: the client may cancel it and free the space
                status = client.get(location)
                assert status.status_code == 204, status.text
                assert upload_offset(status) < len(huge)

                # a streamed PATCH into a fresh session
                patch_location = client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
                patched = client.patch(
                    patch_location, content=iter([huge[i : i + MiB] for i in range(0, len(huge), MiB)])
                )
                assert_oci_error(patched, 507)

                # the server is up, a small blob still fits, earlier content is intact
                assert client.get("/v2/").status_code == 200
                small = random_bytes(2000, seed=32)
                push_blob(client, name, small)
                assert get_blob(client, name, sha256(small)) == small
                # cancelling the failed sessions gives their space back
                held = upload_offset(client.get(location))
                free = shutil.disk_usage(mountpoint).free
                for session in (location, patch_location):
                    assert client.delete(session).status_code == 204
                assert shutil.disk_usage(mountpoint).free >= free + held // 2
                assert assert_consistent(client) == {(name, "early"): early.digest}
            blob_files = [p for p in (data_dir / "storage" / "blobs").rglob("*") if p.is_file()]
            assert hashlib.sha256(huge).hexdigest() not in {p.name for p in blob_files}
            for path in blob_files:  # every stored blob file is whole: its name is its digest
                assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
            assert running.process.poll() is None
            assert "Traceback" not in running.log()
        finally:
            running.stop()


# --- 5. abandoned uploads expire ---------------------------------------------------------------------


def test_abandoned_upload_expires_and_its_data_is_removed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    running = start_server(
        data_dir, env={"STRONGROOM_UPLOAD_EXPIRY_SECONDS": "1", "STRONGROOM_UPLOAD_SWEEP_SECONDS": "0.5"}
    )
    try:
        with running.client() as client:
            name = "robust/expiry"
            location = client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
            upload_id = location.rsplit("/", 1)[-1]
            data_file = data_dir / "storage" / "uploads" / upload_id
            patched = client.patch(location, content=b"x" * 5000, headers={"Content-Range": "0-4999"})
            assert patched.status_code == 202, patched.text
            assert data_file.stat().st_size == 5000

            deadline = time.monotonic() + 15
            status = client.get(location)
            while status.status_code == 204 and time.monotonic() < deadline:
                time.sleep(0.25)
                status = client.get(location)
            assert status.status_code == 404, "upload still alive 15 s after it went idle"
            assert assert_oci_error(status, 404) == ["BLOB_UPLOAD_UNKNOWN"]
            assert not data_file.exists()
            # the expired id is unknown to PATCH and PUT as well
            assert client.patch(location, content=b"y").status_code == 404
            assert client.put(location, params={"digest": sha256(b"x" * 5000)}).status_code == 404
    finally:
        running.stop()


# --- conformance suite §12 items 1-5: chunked uploads and mounts ------------------------------------

CHUNK_A = b"chunk-a: 22 bytes....."  # conformance pushes a blob in chunks of 22 and 20 bytes
CHUNK_B = b"chunk-b: 20 bytes..."
assert len(CHUNK_A) == 22 and len(CHUNK_B) == 20
CHUNKED_BLOB = CHUNK_A + CHUNK_B


def _start(client: httpx.Client, name: str) -> str:
    response = client.post(f"/v2/{name}/blobs/uploads/", headers={"Content-Length": "0"})
    assert response.status_code == 202, response.text
    return response.headers["location"]


def _patch(client: httpx.Client, location: str, chunk: bytes, start: int) -> httpx.Response:
    return client.patch(
        location,
        content=chunk,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + len(chunk) - 1}",
            "Content-Length": str(len(chunk)),
        },
    )


def test_streamed_patch_then_empty_put(shared_server: RunningServer) -> None:
    name = "conformance/streamed"
    data = random_bytes(300_000, seed=40)
    with shared_server.client() as client:
        location = _start(client, name)
        # no Content-Range, no Content-Length: a chunked request body
        patched = client.patch(location, content=iter([data[:100_000], data[100_000:]]))
        assert patched.status_code == 202, patched.text
        assert patched.headers["range"] == f"0-{len(data) - 1}"
        done = client.put(patched.headers["location"], params={"digest": sha256(data)})
        assert done.status_code == 201, done.text
        assert done.headers["location"] == f"/v2/{name}/blobs/{sha256(data)}"
        assert get_blob(client, name, sha256(data)) == data


def test_first_chunk_range_is_exactly_0_21(shared_server: RunningServer) -> None:
    name = "conformance/chunked"
    with shared_server.client() as client:
        location = _start(client, name)
        first = _patch(client, location, CHUNK_A, 0)
        assert first.status_code == 202, first.text
        assert first.headers["range"] == "0-21"
        second = _patch(client, first.headers["location"], CHUNK_B, 22)
        assert second.status_code == 202, second.text
        assert second.headers["range"] == "0-41"
        done = client.put(second.headers["location"], params={"digest": sha256(CHUNKED_BLOB)})
        assert done.status_code == 201, done.text
        assert get_blob(client, name, sha256(CHUNKED_BLOB)) == CHUNKED_BLOB


def test_out_of_order_first_chunk_is_416(shared_server: RunningServer) -> None:
    with shared_server.client() as client:
        location = _start(client, "conformance/chunked")
        response = _patch(client, location, CHUNK_B, 22)
        assert response.status_code == 416, response.text
        assert response.headers["range"] == "0-0"
        assert response.headers["location"] == location
        assert_oci_error(response, 416)


def test_resent_chunk_to_original_location_is_416_and_status_tells_offset(
    shared_server: RunningServer,
) -> None:
    name = "conformance/chunked"
    with shared_server.client() as client:
        original = _start(client, name)
        assert _patch(client, original, CHUNK_A, 0).status_code == 202
        again = _patch(client, original, CHUNK_A, 0)
        assert again.status_code == 416, again.text
        assert again.headers["range"] == "0-21"
        status = client.get(original)
        assert status.status_code == 204
        assert status.headers["range"] == "0-21"
        assert status.headers["location"]
        second = _patch(client, status.headers["location"], CHUNK_B, 22)
        assert second.status_code == 202, second.text
        done = client.put(second.headers["location"], params={"digest": sha256(CHUNKED_BLOB)})
        assert done.status_code == 201, done.text
        assert get_blob(client, name, sha256(CHUNKED_BLOB)) == CHUNKED_BLOB


def test_mount_without_from_is_202_and_with_from_is_201(shared_server: RunningServer) -> None:
    source, target = "conformance/mount-source", "conformance/mount-target"
    data = random_bytes(5000, seed=41)
    digest = sha256(data)
    with shared_server.client() as client:
        unknown = sha256(b"never pushed")
        without_from = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": unknown})
        assert without_from.status_code == 202, without_from.text
        assert without_from.headers["location"].startswith(f"/v2/{target}/blobs/uploads/")

        push_blob(client, source, data)
        mounted = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
        assert mounted.status_code == 201, mounted.text
        assert mounted.headers["location"] == f"/v2/{target}/blobs/{digest}"
        assert mounted.headers["docker-content-digest"] == digest
        assert get_blob(client, target, digest) == data

        # a mount from a repository lacking the blob falls back to an upload session
        missing = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": unknown, "from": source})
        assert missing.status_code == 202, missing.text
        assert missing.headers["location"].startswith(f"/v2/{target}/blobs/uploads/")
