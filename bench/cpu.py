"""Server CPU time per small request, robust to a busy machine.

    .venv/bin/python bench/cpu.py                         # 2 workers, every kind
    .venv/bin/python bench/cpu.py --kinds manifest_put --requests 500 --json cpu.json

Starts ``strongroom serve`` (bench/serverproc.py), then for each kind sends ``--requests``
requests, one at a time on one keep-alive connection (regbench's c=1, with Basic auth), and
reports the server's CPU milliseconds per request: utime+stime summed over the server's
processes from /proc, before and after. Wall time on a shared machine swings with everyone
else's load; CPU time per request barely does (10 ms ticks: use a few hundred requests).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import time
from collections.abc import Callable
from typing import Any

from serverproc import Server, basic_auth, running_server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPO = "bench/cpu"
MiB = 1024 * 1024


class Client:
    """One keep-alive connection with Basic auth; every answer is checked."""

    def __init__(self, server: Server) -> None:
        self.conn = server.connection()
        self.auth = basic_auth()

    def request(
        self, method: str, path: str, expect: int, body: bytes = b"", content_type: str | None = None
    ) -> http.client.HTTPResponse:
        headers = {**self.auth, "Accept": OCI_MANIFEST}
        if content_type:
            headers["Content-Type"] = content_type
        self.conn.request(method, path, body=body or None, headers=headers)
        answer = self.conn.getresponse()
        data = answer.read()
        if answer.status != expect:
            raise RuntimeError(f"{method} {path}: {answer.status}, expected {expect}: {data[:300]!r}")
        answer.body = data  # type: ignore[attr-defined]
        return answer

    def push(self, data: bytes) -> None:
        """POST then PUT ?digest= with the body (regbench's monolithic push)."""
        location = self.request("POST", f"/v2/{REPO}/blobs/uploads/", 202).getheader("Location") or ""
        separator = "&" if "?" in location else "?"
        self.request(
            "PUT", f"{location}{separator}digest={digest(data)}", 201, data, "application/octet-stream"
        )

    def post_with_digest(self, data: bytes) -> None:
        """One request: POST ?digest= with the body (monolithic upload, OCI spec)."""
        self.request(
            "POST", f"/v2/{REPO}/blobs/uploads/?digest={digest(data)}", 201, data, "application/octet-stream"
        )


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest(config: bytes, layer: bytes, annotation: str) -> bytes:
    def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": digest(data), "size": len(data)}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
            "annotations": {"org.bench.seq": annotation},
        }
    ).encode()


def kinds(client: Client) -> dict[str, Callable[[int], None]]:
    """Each kind as fn(i); the set-up (a repository with 101 tags) is done first."""
    config, layer = json.dumps({"architecture": "amd64", "os": "linux"}).encode(), os.urandom(4096)
    client.push(config)
    client.push(layer)
    base = manifest(config, layer, "base")
    client.request("PUT", f"/v2/{REPO}/manifests/base", 201, base, OCI_MANIFEST)
    for i in range(100):
        client.request(
            "PUT", f"/v2/{REPO}/manifests/t{i:03d}", 201, manifest(config, layer, f"t{i}"), OCI_MANIFEST
        )
    big = os.urandom(MiB)
    run = os.urandom(4).hex()

    def put(i: int) -> None:
        body = manifest(config, layer, f"{run}-{i}")
        client.request("PUT", f"/v2/{REPO}/manifests/t{i % 100:03d}", 201, body, OCI_MANIFEST)

    return {
        "manifest_put": put,
        "manifest_get_tag": lambda i: client.request("GET", f"/v2/{REPO}/manifests/base", 200),
        "manifest_get_digest": lambda i: client.request("GET", f"/v2/{REPO}/manifests/{digest(base)}", 200),
        "manifest_head_tag": lambda i: client.request("HEAD", f"/v2/{REPO}/manifests/base", 200),
        "blob_head": lambda i: client.request("HEAD", f"/v2/{REPO}/blobs/{digest(layer)}", 200),
        "tag_list": lambda i: client.request("GET", f"/v2/{REPO}/tags/list", 200),
        "push_4k_post_put": lambda i: client.push(os.urandom(4096)),
        "push_4k_post_digest": lambda i: client.post_with_digest(os.urandom(4096)),
        "push_1m_post_put": lambda i: client.push(os.urandom(32) + big[32:]),
    }


def measure(server: Server, send: Callable[[int], None], requests: int) -> dict[str, float]:
    send(-1)  # warm: the first request of a kind loads what it needs
    cpu0, wall0 = server.cpu_seconds(), time.perf_counter()
    for i in range(requests):
        send(i)
    cpu, wall = server.cpu_seconds() - cpu0, time.perf_counter() - wall0
    return {
        "requests": requests,
        "cpu_ms_per_op": round(cpu * 1000 / requests, 3),
        "wall_ms_per_op": round(wall * 1000 / requests, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=300, help="per kind (a tenth of it for 1 MiB pushes)")
    parser.add_argument("--kinds", help="comma-separated; default all")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with running_server(args.workers) as server:
        client = Client(server)
        table = kinds(client)
        chosen = args.kinds.split(",") if args.kinds else list(table)
        idle0 = server.cpu_seconds()
        time.sleep(2)
        results["idle_cpu_ms_per_s"] = round((server.cpu_seconds() - idle0) * 1000 / 2, 1)
        for kind in chosen:
            n = max(10, args.requests // 10) if "1m" in kind else args.requests
            results[kind] = measure(server, table[kind], n)
            r = results[kind]
            print(
                f"{kind:22} {r['cpu_ms_per_op']:7.2f} ms CPU/op  ({r['wall_ms_per_op']:.1f} ms wall, n={n})"
            )
    print(f"idle: {results['idle_cpu_ms_per_s']} ms CPU per second")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
