"""A replication destination registered by the settings file (ADR 0020, decision 24): a
``[[replication.destinations]]`` table whose secret is a file, at a source server started
with that file. The destination is listed as the command lists it, a push reaches it, and
the secret appears in no log or listing."""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path

import pytest

from support.aws import aws_client
from support.images import OCI_MANIFEST, build_image
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

ACCOUNT = "111111111111"
SOURCE_REGION, EAST_REGION = "us-west-2", "us-east-1"
FAST_JOBS = {"STRONGROOM_JOB_POLL_SECONDS": "0.2", "STRONGROOM_JOB_RETRY_BASE_SECONDS": "0.5"}


def serve(directory: Path, region: str, **env: str) -> RunningServer:
    return start_server(
        directory,
        env={"STRONGROOM_REGION": region, "STRONGROOM_ACCOUNT_ID": ACCOUNT, **FAST_JOBS, **env},
        args=["--workers", "1"],
    )


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_destination_in_the_settings_file_is_registered_and_receives_a_push(tmp_path: Path) -> None:
    east = serve(tmp_path / "east", EAST_REGION)
    source = None
    try:
        east.cli("iam", "create-user", "--user-name", "replicator")
        everything = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}],
        }
        east.cli(
            "iam", "put-user-policy", "--user-name", "replicator", "--policy-name", "p",
            "--policy-document", json.dumps(everything),
        )  # fmt: skip
        key = east.cli_json("iam", "create-access-key", "--user-name", "replicator")["AccessKey"]
        secret_file = tmp_path / "east.secret"
        secret_file.write_text(key["SecretAccessKey"] + "\n")
        settings = tmp_path / "strongroom.toml"
        settings.write_text(
            "[[replication.destinations]]\n"
            f'region = "{EAST_REGION}"\nregistry_id = "{ACCOUNT}"\nurl = "{east.url}"\n'
            f'kind = "strongroom"\naccess_key_id = "{key["AccessKeyId"]}"\n'
            f'secret_access_key_file = "{secret_file}"\n'
        )
        source = serve(
            tmp_path / "source", SOURCE_REGION, STRONGROOM_CONFIG=str(settings), STRONGROOM_LOG_LEVEL="info"
        )
        listed = source.cli("replication", "destination", "list", "--output", "json")
        assert key["AccessKeyId"] in listed.stdout and east.url in listed.stdout, listed.stdout
        assert key["SecretAccessKey"] not in listed.stdout
        aws_client(source, "ecr", region_name=SOURCE_REGION).put_replication_configuration(
            replicationConfiguration={
                "rules": [{"destinations": [{"region": EAST_REGION, "registryId": ACCOUNT}]}]
            }
        )
        image = build_image(random.Random(401), layers=2)
        with source.client() as http:
            for blob in (image.config, *image.layers):
                answer = http.post(
                    "/v2/app/blobs/uploads/", params={"digest": digest_of(blob.data)}, content=blob.data
                )
                assert answer.status_code == 201, answer.text
            answer = http.put(
                "/v2/app/manifests/v1", content=image.manifest.data, headers={"content-type": OCI_MANIFEST}
            )
            assert answer.status_code == 201, answer.text
        ecr = aws_client(source, "ecr", region_name=SOURCE_REGION)
        started, found = time.monotonic(), []
        while time.monotonic() - started < 30:
            found = ecr.describe_image_replication_status(repositoryName="app", imageId={"imageTag": "v1"})[
                "replicationStatuses"
            ]
            if [s["status"] for s in found] == ["COMPLETE"]:
                break
            time.sleep(0.1)
        assert [s["status"] for s in found] == ["COMPLETE"], found
        with east.client() as http:
            pulled = http.get("/v2/app/manifests/v1", headers={"accept": OCI_MANIFEST})
            assert pulled.content == image.manifest.data
        assert "registered from the settings" in source.log()
        assert key["SecretAccessKey"] not in source.log()
    finally:
        if source is not None:
            source.stop()
        east.stop()
