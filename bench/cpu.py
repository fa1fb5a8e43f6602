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
import contextlib
import http.client
import json
import os
import time
from collections.abc import Callable
from typing import Any

from payloads import OCI_MANIFEST, digest, manifest
from serverproc import Server, basic_auth, running_server

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
        # what a push asks before each layer (regbench's tiny layers)
        "blob_head_missing": lambda i: client.request(
            "HEAD", f"/v2/{REPO}/blobs/{digest(os.urandom(16))}", 404
        ),
        "tag_list": lambda i: client.request("GET", f"/v2/{REPO}/tags/list", 200),
        "push_4k_post_put": lambda i: client.push(os.urandom(4096)),
        "push_4k_post_digest": lambda i: client.post_with_digest(os.urandom(4096)),
        "push_1m_post_put": lambda i: client.push(os.urandom(32) + big[32:]),
    }


def measure(
    servers: list[Server], sends: list[Callable[[int], None]], requests: int, rounds: int
) -> list[dict]:
    """CPU and wall time per request of each server; with several servers, in interleaved
    batches, so that each sees the same load from the rest of the machine."""
    cpu, wall = [0.0] * len(servers), [0.0] * len(servers)
    for send in sends:
        send(-1)  # warm: the first request of a kind loads what it needs
    batch = max(1, requests // rounds)
    for round_ in range(rounds):
        for n, (server, send) in enumerate(zip(servers, sends, strict=True)):
            cpu0, wall0 = server.cpu_seconds(), time.perf_counter()
            for i in range(round_ * batch, (round_ + 1) * batch):
                send(i)
            cpu[n] += server.cpu_seconds() - cpu0
            wall[n] += time.perf_counter() - wall0
    total = batch * rounds
    return [
        {
            "requests": total,
            "cpu_ms_per_op": round(c * 1000 / total, 3),
            "wall_ms_per_op": round(w * 1000 / total, 3),
        }
        for c, w in zip(cpu, wall, strict=True)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=300, help="per kind (a tenth of it for 1 MiB pushes)")
    parser.add_argument("--kinds", help="comma-separated; default all")
    parser.add_argument(
        "--baseline-src",
        help="also serve the strongroom package in this directory (e.g. `git archive <commit> src`, "
        "unpacked) and measure both in interleaved batches: an A/B that a busy machine cannot skew",
    )
    parser.add_argument("--rounds", type=int, default=10, help="interleaved batches per kind (A/B)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(running_server(args.workers))]
        names = ["this tree"]
        if args.baseline_src:
            servers.insert(0, stack.enter_context(running_server(args.workers, source=args.baseline_src)))
            names.insert(0, "baseline")
        tables = [kinds(Client(server)) for server in servers]
        chosen = args.kinds.split(",") if args.kinds else list(tables[0])
        for kind in chosen:
            n = max(10, args.requests // 10) if "1m" in kind else args.requests
            rounds = args.rounds if len(servers) > 1 else 1
            figures = measure(servers, [table[kind] for table in tables], n, min(rounds, n))
            results[kind] = dict(zip(names, figures, strict=True))
            line = "  ".join(
                f"{name} {f['cpu_ms_per_op']:6.2f}" for name, f in zip(names, figures, strict=True)
            )
            ratio = (
                f"  ratio {figures[-1]['cpu_ms_per_op'] / figures[0]['cpu_ms_per_op']:.2f}"
                if len(figures) > 1
                else ""
            )
            print(f"{kind:22} ms CPU/op: {line}{ratio}  (n={figures[0]['requests']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
