"""Replication between two real servers (``make bench``; ADR 0020).

A source (us-west-2) replicates ``big/`` to a Strongroom destination (us-east-1, the same
account id) and ``inside/`` to another account of its own instance (an internal copy).
Measured: seconds from the manifest PUT's answer to COMPLETE (polled every 50 ms) for a
small image and for one layer of ``--large-mb`` MiB, the source's peak RSS (server and
workers) during the large copy; the same layer pushed to a second ``big/`` repository,
which the destination mounts (no bytes sent); the same layer copied internally to the other
account (linked, not copied); and ``skopeo copy`` of the same image between the same two
servers for comparison.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
from serverproc import ACCESS_KEY_ID, PASSWORD, SECRET_ACCESS_KEY, USER, Server, running_server

ACCOUNT, OTHER = "111111111111", "222222222222"
FAST = {"STRONGROOM_JOB_POLL_SECONDS": "0.2", "STRONGROOM_ACCOUNT_ID": ACCOUNT}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


def rss_kib(server: Server) -> int:
    total = 0
    for pid in server.tree():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def upload(client: httpx.Client, repository: str, digest: str, body: Any) -> None:
    location = client.post(f"/v2/{repository}/blobs/uploads/").headers["location"]
    answer = client.put(location, params={"digest": digest}, content=body,
                        headers={"content-type": "application/octet-stream"})  # fmt: skip
    answer.raise_for_status()


def push_image(source: Server, repository: str, tag: str, layer: Path, size: int, digest: str) -> float:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    with httpx.Client(base_url=source.url, auth=(USER, PASSWORD), timeout=600) as client:
        with layer.open("rb") as handle:
            upload(client, repository, digest, handle)
        upload(client, repository, config_digest, config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                       "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": digest, "size": size}],
        }).encode()  # fmt: skip
        answer = client.put(f"/v2/{repository}/manifests/{tag}", content=manifest,
                            headers={"content-type": OCI_MANIFEST})  # fmt: skip
        answer.raise_for_status()
    return time.monotonic()


def wait_complete(ecr: Any, repository: str, tag: str, since: float) -> float:
    while True:
        found = ecr.describe_image_replication_status(repositoryName=repository, imageId={"imageTag": tag})
        states = {s["status"] for s in found["replicationStatuses"]}
        if states and "IN_PROGRESS" not in states:
            assert states == {"COMPLETE"}, found
            return time.monotonic() - since
        time.sleep(0.05)


def allow_internal_copies(source: Server, env: dict[str, str]) -> None:
    """Account OTHER of the source's instance, whose registry policy lets ACCOUNT replicate in
    (set by a user of OTHER, as ECR wants it)."""

    def cli(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "strongroom", *args], text=True, check=True, capture_output=True,
            env={**env, "STRONGROOM_DATA_DIR": str(source.data_dir)},
        ).stdout  # fmt: skip

    cli("account", "create", "--id", OTHER)
    cli("iam", "create-user", "--user-name", "other-admin", "--account-id", OTHER)
    everything = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}  # fmt: skip
    cli("iam", "put-user-policy", "--user-name", "other-admin", "--account-id", OTHER,
        "--policy-name", "all", "--policy-document", json.dumps(everything))  # fmt: skip
    key = json.loads(cli("iam", "create-access-key", "--user-name", "other-admin", "--account-id", OTHER))
    other = boto3.client("ecr", endpoint_url=source.url, region_name="us-west-2",
                         aws_access_key_id=key["AccessKey"]["AccessKeyId"],
                         aws_secret_access_key=key["AccessKey"]["SecretAccessKey"])  # fmt: skip
    statement = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                 "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
                 "Resource": f"arn:aws:ecr:us-west-2:{OTHER}:repository/*"}  # fmt: skip
    other.put_registry_policy(policyText=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def random_layer(path: Path, size: int) -> str:
    hasher = hashlib.sha256()
    with path.open("wb") as handle:
        left = size
        while left:
            piece = os.urandom(min(left, 4 << 20))
            handle.write(piece)
            hasher.update(piece)
            left -= len(piece)
    return "sha256:" + hasher.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large-mb", type=int, default=1024)
    args = parser.parse_args()
    size = args.large_mb << 20
    with (
        running_server(1, environment={"STRONGROOM_REGION": "us-east-1", **FAST}) as east,
        running_server(1, environment={"STRONGROOM_REGION": "us-west-2", **FAST}) as source,
        tempfile.TemporaryDirectory(prefix="strongroom-bench-replication-") as scratch,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        subprocess.run(
            [sys.executable, "-m", "strongroom", "replication", "destination", "add", "--region", "us-east-1",
             "--registry-id", ACCOUNT, "--url", east.url, "--access-key-id", ACCESS_KEY_ID, "--secret-stdin"],
            input=SECRET_ACCESS_KEY + "\n", text=True, check=True, capture_output=True,
            env={**env, "STRONGROOM_DATA_DIR": str(source.data_dir)},
        )  # fmt: skip
        ecr = boto3.client("ecr", endpoint_url=source.url, region_name="us-west-2",
                           aws_access_key_id=ACCESS_KEY_ID,
                           aws_secret_access_key=SECRET_ACCESS_KEY)  # fmt: skip
        rule = {"destinations": [{"region": "us-east-1", "registryId": ACCOUNT}],
                "repositoryFilters": [{"filter": "big/", "filterType": "PREFIX_MATCH"}]}  # fmt: skip
        inside = {"destinations": [{"region": "us-west-2", "registryId": OTHER}],
                  "repositoryFilters": [{"filter": "inside/", "filterType": "PREFIX_MATCH"}]}  # fmt: skip
        ecr.put_replication_configuration(replicationConfiguration={"rules": [rule, inside]})
        allow_internal_copies(source, env)
        small = Path(scratch) / "small"
        small_digest = random_layer(small, 64 << 10)
        pushed = push_image(source, "big/small", "v1", small, 64 << 10, small_digest)
        small_took = wait_complete(ecr, "big/small", "v1", pushed)
        print(f"replication: small image (one 64 KiB layer), push to COMPLETE {small_took:.2f} s")
        large = Path(scratch) / "large"
        digest = random_layer(large, size)
        before, peak, done = rss_kib(source), [0], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(source))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        pushed = push_image(source, "big/model", "v1", large, size, digest)
        took = wait_complete(ecr, "big/model", "v1", pushed)
        done.set()
        sampler.join()
        print(f"replication: {args.large_mb} MiB layer, push to COMPLETE {took:.2f} s "
              f"({args.large_mb / took:.0f} MiB/s); source RSS {before >> 10} MiB before, "
              f"peak {peak[0] >> 10} MiB during")  # fmt: skip
        pushed = push_image(source, "big/again", "v1", large, size, digest)
        took = wait_complete(ecr, "big/again", "v1", pushed)
        print(f"replication: the same layer in another repository (mounted at the destination), "
              f"push to COMPLETE {took:.2f} s")  # fmt: skip
        pushed = push_image(source, "inside/model", "v1", large, size, digest)
        took = wait_complete(ecr, "inside/model", "v1", pushed)
        print(f"replication: {args.large_mb} MiB layer to another account of the same instance "
              f"(internal copy), push to COMPLETE {took:.2f} s")  # fmt: skip
        skopeo = shutil.which("skopeo")
        if skopeo:
            started = time.monotonic()
            subprocess.run(
                [skopeo, "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                 "--src-creds", f"{USER}:{PASSWORD}", "--dest-creds", f"{USER}:{PASSWORD}",
                 f"docker://127.0.0.1:{source.port}/big/model:v1",
                 f"docker://127.0.0.1:{east.port}/big/skopeo:v1"],
                check=True,
            )  # fmt: skip
            took = time.monotonic() - started
            print(f"skopeo copy of the same image between the same servers: {took:.2f} s "
                  f"({args.large_mb / took:.0f} MiB/s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
