"""Memory of a Strongroom server: per process and in total, at idle, at peak during a warm-up
that sends every kind of request to every worker, and after it.

    .venv/bin/python bench/memory.py                 # 2 workers (the default on 2 cores)
    .venv/bin/python bench/memory.py --workers 1 --json memory.json

The warm-up: an OCI blob push (POST+PUT, and a monolithic POST with digest), a manifest PUT,
GET by tag and by digest, HEAD, tag list and catalog, a token-flow login, ECR and ECR Public
calls (the botocore service models), IAM and STS calls. Each kind is sent ``--rounds`` times,
each time on a new connection, so the kernel spreads them over the workers (a worker misses a
kind with probability 2^-rounds). RSS counts shared pages in every process that maps them;
PSS splits them, so the PSS total is what the server really costs. The peak is sampled every
50 ms during the warm-up (each process's highest RSS and PSS, and the highest totals); the
first sign-in of each worker verifies an argon2id password hash, which holds 64 MiB while it
runs.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from payloads import OCI_MANIFEST, digest
from serverproc import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Memory, Server, basic_auth, running_server

REPO = "bench/memory"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument(
        "--source", help="serve the strongroom package in this directory (`git archive` a commit)"
    )
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    report: dict[str, Any] = {"workers": args.workers}
    with running_server(args.workers, source=args.source) as server:
        wait_idle(server)
        report["idle"] = snapshot(server)
        print_snapshot("idle", report["idle"])
        with PeakSampler(server) as peak:
            for send in warmups(server).values():
                for round_ in range(args.rounds):
                    send(round_)
        report["peak"] = peak.report()
        print_peak(report["peak"])
        wait_idle(server)
        report["warm"] = snapshot(server)
        print_snapshot("after warm-up", report["warm"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


def wait_idle(server: Server, timeout: float = 60) -> None:
    """Until the server spends under 2 % of a core (workers done importing, warm-up done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = server.cpu_seconds()
        time.sleep(1.0)
        if server.cpu_seconds() - before < 0.02:
            return


def snapshot(server: Server) -> dict[str, Any]:
    processes = server.memory()
    workers = [p for p in processes if p.role == "worker"]
    return {
        "processes": [vars(p) for p in processes],
        "total_rss_mb": mb(sum(p.rss for p in processes)),
        "total_pss_mb": mb(sum(p.pss for p in processes)),
        "max_worker_rss_mb": mb(max((p.rss for p in workers), default=0)),
    }


class PeakSampler:
    """The highest RSS and PSS of each process, and of the totals, while the block runs."""

    def __init__(self, server: Server, interval: float = 0.05) -> None:
        self.server, self.interval = server, interval
        self.by_pid: dict[int, dict[str, Any]] = {}
        self.total_rss = self.total_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        processes = self.server.memory()
        self.total_rss = max(self.total_rss, sum(p.rss for p in processes))
        self.total_pss = max(self.total_pss, sum(p.pss for p in processes))
        for p in processes:
            seen = self.by_pid.setdefault(p.pid, {"pid": p.pid, "role": p.role, "rss": 0, "pss": 0})
            seen["rss"], seen["pss"] = max(seen["rss"], p.rss), max(seen["pss"], p.pss)

    def report(self) -> dict[str, Any]:
        return {
            "processes": list(self.by_pid.values()),
            "total_rss_mb": mb(self.total_rss),
            "total_pss_mb": mb(self.total_pss),
        }


def print_peak(peak: dict[str, Any]) -> None:
    print("peak during the warm-up (each process's highest, sampled every 50 ms):")
    for p in peak["processes"]:
        print(f"  {p['role']:6} pid {p['pid']:>7}  RSS {mb(p['rss']):6.1f} MB  PSS {mb(p['pss']):6.1f} MB")
    print(f"  total  RSS {peak['total_rss_mb']:.1f} MB  PSS {peak['total_pss_mb']:.1f} MB (highest sums)")


def print_snapshot(title: str, snap: dict[str, Any]) -> None:
    print(f"{title}:")
    for p in snap["processes"]:
        m = Memory(**p)
        sizes = f"RSS {mb(m.rss):6.1f} MB  PSS {mb(m.pss):6.1f} MB  USS {mb(m.uss):6.1f} MB"
        print(f"  {m.role:6} pid {m.pid:>7}  {sizes}")
    print(f"  total  RSS {snap['total_rss_mb']:.1f} MB  PSS {snap['total_pss_mb']:.1f} MB")


def mb(n: int) -> float:
    return round(n / 1e6, 1)


def warmups(server: Server) -> dict[str, Callable[[int], None]]:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = os.urandom(4096)

    def oci_push(round_: int) -> None:
        push_blob(server, config)
        push_blob(server, layer + round_.to_bytes(4, "big"))

    def manifest_put(round_: int) -> None:
        request(server, "PUT", f"/v2/{REPO}/manifests/t{round_}", manifest(config, layer, round_), 201)

    def manifest_get(round_: int) -> None:
        body = manifest(config, layer, round_)
        request(server, "GET", f"/v2/{REPO}/manifests/t{round_}", None, 200)
        request(server, "GET", f"/v2/{REPO}/manifests/{digest(body)}", None, 200)
        request(server, "HEAD", f"/v2/{REPO}/manifests/t{round_}", None, 200)

    def listing(_round: int) -> None:
        request(server, "GET", f"/v2/{REPO}/tags/list", None, 200)
        request(server, "GET", "/v2/_catalog", None, 200)

    def token_flow(_round: int) -> None:
        scope = f"repository:{REPO}:pull,push"
        answer = request(server, "GET", f"/token?service=strongroom&scope={scope}", None, 200)
        bearer = {"Authorization": f"Bearer {json.loads(answer)['token']}"}
        request(server, "GET", f"/v2/{REPO}/tags/list", None, 200, headers=bearer)

    def ecr(round_: int) -> None:
        client = aws(server, "ecr")
        client.describe_repositories()
        client.describe_images(repositoryName=REPO)
        client.get_authorization_token()
        client.create_repository(repositoryName=f"bench/ecr-{round_}")
        aws(server, "ecr-public").describe_repositories()

    def iam(_round: int) -> None:
        aws(server, "iam").list_users()
        aws(server, "sts").get_caller_identity()

    return {
        "oci push": oci_push,
        "manifest PUT": manifest_put,
        "manifest GET/HEAD": manifest_get,
        "tag list, catalog": listing,
        "token flow": token_flow,
        "ECR, ECR Public": ecr,
        "IAM, STS": iam,
    }


def manifest(config: bytes, layer: bytes, round_: int) -> bytes:
    def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": digest(data), "size": len(data)}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [
                descriptor("application/vnd.oci.image.layer.v1.tar", layer + round_.to_bytes(4, "big"))
            ],
        }
    ).encode()


def push_blob(server: Server, data: bytes) -> None:
    answer = request_response(server, "POST", f"/v2/{REPO}/blobs/uploads/", None, 202)
    location = answer.getheader("Location") or ""
    separator = "&" if "?" in location else "?"
    request(server, "PUT", f"{location}{separator}digest={digest(data)}", data, 201)
    request(server, "POST", f"/v2/{REPO}/blobs/uploads/?digest={digest(data)}", data, 201)


def request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None,
    expect: int,
    headers: dict[str, str] | None = None,
) -> bytes:
    conn = server.connection()  # a new connection each time: the kernel picks the worker
    try:
        conn.request(method, path, body=body, headers=_headers(path, body, headers))
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    if answer.status != expect:
        raise RuntimeError(f"{method} {path}: {answer.status}, expected {expect}: {data[:300]!r}")
    return data


def request_response(server: Server, method: str, path: str, body: bytes | None, expect: int) -> Any:
    conn = server.connection()
    try:
        conn.request(method, path, body=body, headers=_headers(path, body, None))
        answer = conn.getresponse()
        answer.read()
    finally:
        conn.close()
    if answer.status != expect:
        raise RuntimeError(f"{method} {path}: {answer.status}, expected {expect}")
    return answer


def _headers(path: str, body: bytes | None, extra: dict[str, str] | None) -> dict[str, str]:
    headers = dict(extra) if extra else basic_auth()
    if body is not None:
        headers["Content-Type"] = OCI_MANIFEST if "/manifests/" in path else "application/octet-stream"
    headers.setdefault("Accept", OCI_MANIFEST)
    return headers


def aws(server: Server, service: str) -> Any:
    """A new client (so a new connection) each time: every worker gets to load the models."""
    return boto3.client(
        service, endpoint_url=server.url, region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
