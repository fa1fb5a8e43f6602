"""Model push and pull throughput against a plain blob push and pull of the same size, on
one throwaway server, with the client's peak RSS (what `strongroom model` costs to run).

    .venv/bin/python bench/models.py                 # a 200 MB weight file
    .venv/bin/python bench/models.py --mb 2048       # the issue's 2 GiB check of flat memory

The model is one safetensors file (a valid header, random float32 data) plus a config; the
plain blob is different random bytes of the same size, sent as one streamed PUT and read
back with one GET (what a registry client does at best; its digest is computed before the
clock starts, while a model push's time includes packing, also shown alone). skopeo then
copies the plain bytes as an image's one layer from an OCI layout to the server and back
(wall time, start-up included; skipped with a line saying so when skopeo is absent). The SDK (its
call timed alone) and `strongroom model push|pull` (wall time, start-up included) run in
child processes, so their peak RSS (wait4's ru_maxrss) is the client's alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from serverproc import PASSWORD, USER, running_server

from strongroom.client.modelpack import pack

CHUNK = 1024 * 1024


def write_weights(path: Path, size: int) -> None:
    count = size // 4
    header = json.dumps(
        {"weight": {"dtype": "F32", "shape": [count], "data_offsets": [0, 4 * count]}}
    ).encode()
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header)
        left = 4 * count
        while left:
            block = os.urandom(min(CHUNK * 8, left))
            handle.write(block)
            left -= len(block)


def timed_child(command: list[str], env: dict[str, str], stdin: bytes | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process; a child that prints a number
    of seconds (the SDK's, timing its call alone) gives that instead of the wall time."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(stdin or b"")
    process.stdin.close()
    output = process.stdout.read().decode().strip()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}")
    if output.replace(".", "", 1).isdigit():
        elapsed = float(output)
    return elapsed, usage.ru_maxrss * 1024


def plain_push(url: str, repository: str, path: Path) -> tuple[float, str]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    started = time.perf_counter()
    with httpx.Client(base_url=url, auth=(USER, PASSWORD), timeout=600) as client:
        location = client.post(f"/v2/{repository}/blobs/uploads/").headers["location"]

        def body() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while block := handle.read(CHUNK):
                    yield block

        done = client.put(
            location,
            params={"digest": "sha256:" + digest.hexdigest()},
            content=body(),
            headers={"content-type": "application/octet-stream", "content-length": str(path.stat().st_size)},
        )
        assert done.status_code == 201, done.text
    return time.perf_counter() - started, "sha256:" + digest.hexdigest()


def plain_pull(url: str, repository: str, digest: str, target: Path) -> float:
    started = time.perf_counter()
    with httpx.Client(base_url=url, auth=(USER, PASSWORD), timeout=600) as client:
        with client.stream("GET", f"/v2/{repository}/blobs/{digest}") as response, target.open("wb") as out:
            hasher = hashlib.sha256()
            for block in response.iter_bytes(CHUNK):
                hasher.update(block)
                out.write(block)
        assert "sha256:" + hasher.hexdigest() == digest
    return time.perf_counter() - started


def oci_layout(root: Path, blob: Path, digest: str) -> Path:
    """An OCI image layout whose one layer is ``blob`` (hard-linked, not copied)."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    os.link(blob, blobs / digest.split(":", 1)[1])

    def put(document: dict[str, object]) -> dict[str, object]:
        data = json.dumps(document).encode()
        named = hashlib.sha256(data).hexdigest()
        (blobs / named).write_bytes(data)
        return {"digest": f"sha256:{named}", "size": len(data)}

    config = put({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [digest]}})
    layer = {
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": digest,
        "size": blob.stat().st_size,
    }
    manifest = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                    "layers": [layer]})  # fmt: skip
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
             **manifest, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}  # fmt: skip
    (root / "index.json").write_text(json.dumps(index))
    return root


def skopeo_copy(skopeo: str, source: str, target: str, env: dict[str, str]) -> tuple[float, int]:
    creds = f"{USER}:{PASSWORD}"
    return timed_child(
        [skopeo, "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
         "--src-creds", creds, "--dest-creds", creds, source, target],
        env,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=200, help="weight file size in MB (default 200)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    size = args.mb * 1000 * 1000
    with (
        tempfile.TemporaryDirectory(prefix="strongroom-bench-models-") as scratch,
        running_server(args.workers) as server,
    ):
        root = Path(scratch)
        (root / "model").mkdir()
        write_weights(root / "model.safetensors", size)
        os.link(root / "model.safetensors", root / "model" / "model.safetensors")
        (root / "model" / "config.json").write_text('{"architectures": ["BenchModel"]}')
        write_weights(root / "plain.bin", size)
        home = root / "home"
        home.mkdir()
        env = {key: value for key, value in os.environ.items() if not key.startswith(("STRONGROOM_", "AWS_"))}
        env.update(
            HOME=str(home), STRONGROOM_DATA_DIR=str(home / "data"), REGISTRY_AUTH_FILE=str(home / "none.json")
        )
        registry = server.url.split("://", 1)[1]
        cli = [sys.executable, "-m", "strongroom", "model"]
        login = ["--username", USER, "--password-stdin", "--quiet"]
        secret = (PASSWORD + "\n").encode()

        blob_push, digest = plain_push(server.url, "bench/plain", root / "plain.bin")
        blob_pull = plain_pull(server.url, "bench/plain", digest, root / "plain.out")
        packing = time.perf_counter()
        pack(root / "model")  # what push does before its first byte goes out: read and hash every file
        packing = time.perf_counter() - packing
        sdk = [sys.executable, "-c", SDK, registry, USER]
        sdk_push, sdk_push_rss = timed_child([*sdk, "push", str(root / "model"), "bench/sdk:1"], env, secret)
        sdk_pull, sdk_pull_rss = timed_child(
            [*sdk, "pull", "bench/sdk:1", str(root / "sdk-pulled")], env, secret
        )
        model = f"{registry}/bench/model:1"
        push, push_rss = timed_child([*cli, "push", str(root / "model"), model, *login], env, secret)
        pull, pull_rss = timed_child([*cli, "pull", model, str(root / "pulled"), *login], env, secret)
        for pulled in ("pulled", "sdk-pulled"):
            assert (root / pulled / "model.safetensors").stat().st_size == (
                root / "model.safetensors"
            ).stat().st_size
        startup, _ = timed_child([*cli, "--help"], env)
        skopeo = shutil.which("skopeo")
        copies: list[tuple[str, float, int | None]] = []
        if skopeo:
            layout = oci_layout(root / "layout", root / "plain.bin", digest)
            image = f"docker://{registry}/bench/skopeo:1"
            pushed = skopeo_copy(skopeo, f"oci:{layout}:1", image, env)
            pulled = skopeo_copy(skopeo, image, f"oci:{root / 'copied'}:1", env)
            copies = [
                ("skopeo copy, OCI layout to registry", *pushed),
                ("skopeo copy, registry to OCI layout", *pulled),
            ]
        server_rss = sum(memory.rss for memory in server.memory())

    mb = size / 1e6
    rows = [
        ("plain blob push (one streamed PUT)", blob_push, None),
        ("  packing alone (read + sha256, in-process)", packing, None),
        ("SDK push_model (pack + chunked upload)", sdk_push, sdk_push_rss),
        ("strongroom model push (CLI, wall)", push, push_rss),
        *copies[:1],
        ("plain blob pull (one GET)", blob_pull, None),
        ("SDK pull_model (verified)", sdk_pull, sdk_pull_rss),
        ("strongroom model pull (CLI, wall)", pull, pull_rss),
        *copies[1:],
    ]
    print(f"model of one {args.mb} MB weight file, server with {args.workers} workers (loopback)")
    for label, seconds, rss in rows:
        memory = f"   peak RSS {rss / 2**20:.0f} MiB" if rss else ""
        print(f"  {label:<40} {mb / seconds:7.1f} MB/s{memory}")
    print(f"  (CLI start-up alone: {startup:.2f} s; server RSS after the run: {server_rss / 2**20:.0f} MiB)")
    if not copies:
        print("  (skopeo is not installed: no skopeo rows; `make test-tools` installs it)")


SDK = """
import sys, time
from strongroom.client import Login, Registry
registry, user, action, source, target = sys.argv[1:6]
client = Registry(registry, Login(user, sys.stdin.readline().strip()))
started = time.perf_counter()
if action == "push":
    client.push_model(source, target)
else:
    client.pull_model(source, target)
print(time.perf_counter() - started)
"""
"""The SDK in a child of its own: it times the call alone (start-up is the CLI's row's concern)."""


if __name__ == "__main__":
    main()
