#!/usr/bin/env python3
"""Scan on push against a real server process: seconds from push to COMPLETE, and
manifest PUTs per second with scan on push enabled and disabled (ADR 0011, 0016).

    .venv/bin/python bench/scan_on_push.py [--large-mb 1024] [--puts 300] [--rounds 3]

1. Push to COMPLETE: a ``strongroom serve --workers 1`` (its job runner scans) and two
   images pushed over HTTP to a repository a registry scanning rule covers: a small one (a
   Debian-like layer: os-release and a dpkg status of 40 packages) and a large one (the
   same files plus ``--large-mb`` MiB of random bytes in an uncompressed tar layer). The
   clock starts when the manifest PUT has answered (the push is done) and stops when
   DescribeImageScanFindings first answers COMPLETE (polled every 50 ms); the upload time
   is printed beside it. The layer is new to the server, so the figure includes reading
   all of it in the isolated analyser, matching, storing findings and the SBOM referrer.
2. PUT/s: a ``--no-jobs`` server (scans queue but nothing runs them, so the figure is
   what the push path pays, not scans competing for the cores), ``--puts`` new manifests
   at c=1 into a repository without scanning and into one the rule covers, alternated
   for ``--rounds`` rounds (the order alternating), with the server's CPU per PUT (from
   /proc, steadier than wall time on a shared machine); each PUT with scanning writes its
   scan job and PENDING row.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import boto3
from payloads import OCI_MANIFEST, digest, manifest
from serverproc import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Server, basic_auth, running_server

MiB = 1024 * 1024
OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
SCANNED = "scan"
"""Repositories under ``scan/`` scan on push (a registry scanning rule)."""


def dpkg_status(count: int) -> bytes:
    entries = [
        f"Package: bench-pkg-{n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.{n}.0-1\n"
        for n in range(count)
    ]
    return "\n".join(entries).encode()


class _Hashing:
    """A file that hashes what is written to it (tarfile needs write and tell)."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file, self.sha, self.size = file, hashlib.sha256(), 0

    def tell(self) -> int:
        return self.size

    def write(self, data: Any) -> int:
        self.file.write(data)
        self.sha.update(data)
        self.size += len(data)
        return len(data)


class _Random(io.RawIOBase):
    """``size`` bytes of a repeated random MiB (incompressible enough, and cheap to make)."""

    def __init__(self, size: int) -> None:
        self.left, self.block = size, os.urandom(MiB)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left, MiB)
        buffer[:n] = self.block[:n]
        self.left -= n
        return n


def write_layer(path: Path, random_mb: int) -> tuple[str, int]:
    """An uncompressed tar layer at ``path``; its digest and size."""
    with path.open("wb") as out:
        hashing = _Hashing(out)
        with tarfile.open(
            fileobj=hashing,  # type: ignore[call-overload]
            mode="w",
            format=tarfile.PAX_FORMAT,
        ) as tar:
            for name, data in (("etc/os-release", OS_RELEASE), ("var/lib/dpkg/status", dpkg_status(40))):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            if random_mb:
                info = tarfile.TarInfo("srv/data/blob.bin")
                info.size = random_mb * MiB
                tar.addfile(info, io.BufferedReader(_Random(info.size), MiB))
    return "sha256:" + hashing.sha.hexdigest(), hashing.size


def ecr_client(server: Server) -> Any:
    return boto3.client(
        "ecr", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
    )  # fmt: skip


def scan_rule(ecr: Any) -> None:
    rule = {
        "scanFrequency": "SCAN_ON_PUSH",
        "repositoryFilters": [{"filter": f"{SCANNED}/*", "filterType": "WILDCARD"}],
    }
    ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[rule])


class Pusher:
    """One keep-alive connection with Basic auth."""

    def __init__(self, server: Server) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600, blocksize=MiB)
        self.auth = basic_auth()

    def send(
        self, method: str, path: str, expect: int, body: Any = b"", headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        self.conn.request(method, path, body=body, headers={**self.auth, **(headers or {})})
        response = self.conn.getresponse()
        response.read()
        if response.status != expect:
            raise RuntimeError(f"{method} {path}: {response.status}, expected {expect}")
        return response

    def blob(self, name: str, data_digest: str, body: Any, size: int) -> None:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        self.send("POST", f"/v2/{name}/blobs/uploads/?digest={data_digest}", 201, body, headers)

    def manifest(self, name: str, reference: str, body: bytes) -> None:
        self.send("PUT", f"/v2/{name}/manifests/{reference}", 201, body, {"Content-Type": OCI_MANIFEST})


def image_manifest(config: bytes, layer_digest: str, layer_size: int) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": layer_size,
                }
            ],
        }
    ).encode()


def push_to_complete(server: Server, ecr: Any, scratch: Path, label: str, random_mb: int) -> dict[str, float]:
    layer = scratch / f"{label}.tar"
    started = time.monotonic()
    layer_digest, size = write_layer(layer, random_mb)
    made = time.monotonic() - started
    name, pusher = f"{SCANNED}/{label}", Pusher(server)
    config = json.dumps({"architecture": "amd64", "os": "linux", "bench": label}).encode()
    started = time.monotonic()
    with layer.open("rb") as body:
        pusher.blob(name, layer_digest, body, size)
    pusher.blob(name, digest(config), config, len(config))
    pusher.manifest(name, "v1", image_manifest(config, layer_digest, size))
    pushed = time.monotonic()
    while True:
        try:
            status = ecr.describe_image_scan_findings(repositoryName=name, imageId={"imageTag": "v1"})[
                "imageScanStatus"
            ]
        except ecr.exceptions.ScanNotFoundException:
            status = {"status": "PENDING"}
        if status["status"] not in ("PENDING", "IN_PROGRESS"):
            break
        if time.monotonic() - pushed > 600:
            raise RuntimeError(f"{label}: no COMPLETE within 600 s")
        time.sleep(0.05)
    done = time.monotonic()
    if status["status"] != "COMPLETE":
        raise RuntimeError(f"{label}: scan ended {status}")
    layer.unlink()
    return {
        "layer_mb": size / MiB,
        "generate_s": made,
        "upload_s": pushed - started,
        "push_to_complete_s": done - pushed,
    }


def put_rate(server: Server, puts: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """PUTs per second and server CPU milliseconds per PUT, per round, scanning off and on;
    the order alternates per round so neither mode always goes first."""
    pusher = Pusher(server)
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"bench layer"
    found: dict[str, dict[str, list[float]]] = {
        "off": {"rate": [], "cpu_ms": []},
        "on": {"rate": [], "cpu_ms": []},
    }
    names = {"off": "plain/put", "on": f"{SCANNED}/put"}
    for name in names.values():
        pusher.blob(name, digest(config), config, len(config))
        pusher.blob(name, digest(layer), layer, len(layer))
    sequence = 0
    for round_number in range(rounds):
        for mode in ("off", "on") if round_number % 2 == 0 else ("on", "off"):
            bodies = [manifest(config, layer, f"{mode}-{sequence + n}") for n in range(puts)]
            sequence += puts
            cpu, started = server.cpu_seconds(), time.perf_counter()
            for n, body in enumerate(bodies):
                pusher.manifest(names[mode], f"t{n % 50}", body)
            found[mode]["rate"].append(puts / (time.perf_counter() - started))
            found[mode]["cpu_ms"].append((server.cpu_seconds() - cpu) * 1000 / puts)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large-mb", type=int, default=1024)
    parser.add_argument("--puts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="strongroom-bench-scan-") as scratch:
        with running_server(1) as server:
            ecr = ecr_client(server)
            scan_rule(ecr)
            for label, size in (("small", 0), ("large", args.large_mb)):
                results[label] = push_to_complete(server, ecr, Path(scratch), label, size)
        with running_server(1, ("--no-jobs",)) as server:
            scan_rule(ecr_client(server))
            results["put"] = put_rate(server, args.puts, args.rounds)
    print("\nscan on push (one server process; ADR 0011, 0016)")
    for label in ("small", "large"):
        r = results[label]
        seconds, size = r["push_to_complete_s"], r["layer_mb"]
        print(
            f"  {label:5} image, {size:7.1f} MiB layer: push->COMPLETE {seconds:6.2f} s"
            f"  (upload {r['upload_s']:.2f} s; the job runner polls every 1 s by default)"
        )
    puts = results["put"]
    off, on = (statistics.median(puts[mode]["rate"]) for mode in ("off", "on"))
    cpu_off, cpu_on = (statistics.median(puts[mode]["cpu_ms"]) for mode in ("off", "on"))
    rounds = {mode: [round(rate) for rate in puts[mode]["rate"]] for mode in ("off", "on")}
    print(
        f"  manifest PUT c=1, --no-jobs server: scan on push off {off:.0f}/s, on {on:.0f}/s"
        f" (on/off {on / off:.2f}; rounds off {rounds['off']}, on {rounds['on']})"
    )
    print(f"  server CPU per PUT: off {cpu_off:.2f} ms, on {cpu_on:.2f} ms (on/off {cpu_on / cpu_off:.2f})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
