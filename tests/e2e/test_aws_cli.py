"""The AWS CLI, typed as a person types it in a shell, against a real server: repositories
and their settings, ``get-login-password | podman login``, a push, and the pushed image seen
through ``describe-images`` and ``batch-get-image``.

The CLI is the one the dev extra installs into the virtual environment. It finds Strongroom
through ``AWS_ENDPOINT_URL_ECR`` (and ``_ECR_PUBLIC``, ``_STS``, ``_IAM``), the way a user points
it at a registry with a current CLI; tests/e2e/test_readme.py runs the README's setup with
Debian 12's CLI too, which ignores those variables.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from support.images import random_files, write_rootfs_tarball
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer
from support.tools import require

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL_ECR",
    "AWS_ENDPOINT_URL_ECR_PUBLIC",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_IAM",
)
TIMEOUT = 120


@dataclass(frozen=True)
class Shell:
    """bash with the AWS CLI pointed at the server and podman's isolated environment."""

    env: dict[str, str]
    cwd: Path
    podman: str
    """The podman command line (private storage), to use in scripts."""

    def run(self, script: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=self.cwd, env=self.env,
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            pytest.fail(_describe(script, result), pytrace=False)
        return result

    def json(self, script: str) -> Any:
        output = self.run(script).stdout
        return json.loads(output) if output.strip() else None

    def fails(self, script: str) -> str:
        """Run a script that must fail; its stderr."""
        result = self.run(script, check=False)
        if result.returncode == 0:
            pytest.fail("expected failure, but it succeeded:\n" + _describe(script, result), pytrace=False)
        return result.stderr


def _describe(script: str, result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"$ {script}\nexit {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )


@pytest.fixture
def shell(shared_server: RunningServer, podman: Cli, tmp_path: Path) -> Shell:
    executable = require("awscli", "aws")
    env = {key: value for key, value in podman.env.items() if not key.startswith("AWS_")}
    env["PATH"] = f"{Path(executable).parent}{os.pathsep}{env['PATH']}"
    aws_dir = tmp_path / "aws"
    aws_dir.mkdir()
    env.update(
        AWS_ACCESS_KEY_ID=ADMIN_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=ADMIN_SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_DEFAULT_OUTPUT="json",
        AWS_PAGER="",  # CLI v2 pipes output through `less` otherwise
        AWS_EC2_METADATA_DISABLED="true",
        # Nobody's profiles: these files do not exist.
        AWS_CONFIG_FILE=str(aws_dir / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(aws_dir / "credentials"),
        **dict.fromkeys(ENDPOINT_VARIABLES, shared_server.url),
    )
    return Shell(env, tmp_path, shlex.join(podman.prefix))


def test_the_aws_cli_manages_a_repository(shell: Shell, shared_server: RunningServer) -> None:
    account = str(shared_server.cli_json("migrate")["account_id"])
    identity = shell.json("aws sts get-caller-identity")
    assert identity["Arn"] == f"arn:aws:iam::{account}:user/admin"

    created = shell.json(
        "aws ecr create-repository --repository-name ml/fraud-model"
        " --image-tag-mutability IMMUTABLE --image-scanning-configuration scanOnPush=true"
        " --tags Key=team,Value=risk"
    )["repository"]
    arn = f"arn:aws:ecr:{REGION}:{account}:repository/ml/fraud-model"
    assert created["repositoryName"] == "ml/fraud-model"
    assert created["repositoryArn"] == arn
    assert created["registryId"] == account
    assert created["repositoryUri"] == f"{shared_server.registry}/ml/fraud-model"
    assert created["imageTagMutability"] == "IMMUTABLE"
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    refused = shell.fails("aws ecr create-repository --repository-name ml/fraud-model")
    assert "RepositoryAlreadyExistsException" in refused

    (described,) = shell.json("aws ecr describe-repositories --repository-names ml/fraud-model")[
        "repositories"
    ]
    assert {key: described[key] for key in created} == created
    names = shell.run(
        "aws ecr describe-repositories --query 'repositories[].repositoryName' --output text"
    ).stdout.split()
    assert "ml/fraud-model" in names

    changed = shell.json(
        "aws ecr put-image-tag-mutability --repository-name ml/fraud-model --image-tag-mutability MUTABLE"
    )
    assert (changed["repositoryName"], changed["imageTagMutability"]) == ("ml/fraud-model", "MUTABLE")
    mutability = shell.run(
        "aws ecr describe-repositories --repository-names ml/fraud-model"
        " --query 'repositories[0].imageTagMutability' --output text"
    ).stdout.strip()
    assert mutability == "MUTABLE"

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CiPulls",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }
    (shell.cwd / "policy.json").write_text(json.dumps(policy, indent=2))
    set_policy = shell.json(
        "aws ecr set-repository-policy --repository-name ml/fraud-model --policy-text file://policy.json"
    )
    assert json.loads(set_policy["policyText"]) == policy
    stored = shell.json("aws ecr get-repository-policy --repository-name ml/fraud-model")
    assert (stored["repositoryName"], stored["registryId"]) == ("ml/fraud-model", account)
    assert json.loads(stored["policyText"]) == policy

    shell.run(f"aws ecr tag-resource --resource-arn {arn} --tags Key=stage,Value=prod Key=owner,Value=ml")
    shell.run(f"aws ecr untag-resource --resource-arn {arn} --tag-keys team")
    tags = shell.json(f"aws ecr list-tags-for-resource --resource-arn {arn}")["tags"]
    assert sorted((tag["Key"], tag["Value"]) for tag in tags) == [("owner", "ml"), ("stage", "prod")]

    (token,) = shell.json("aws ecr get-authorization-token")["authorizationData"]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and password
    assert token["proxyEndpoint"] and token["expiresAt"]

    deleted = shell.json("aws ecr delete-repository --repository-name ml/fraud-model")["repository"]
    assert deleted["repositoryArn"] == arn
    missing = shell.fails("aws ecr describe-repositories --repository-names ml/fraud-model")
    assert "RepositoryNotFoundException" in missing


def test_login_password_push_then_describe_images_and_batch_get_image(
    shell: Shell, shared_server: RunningServer, podman: Cli, tmp_path: Path
) -> None:
    registry = shared_server.registry
    shell.run(
        "aws ecr create-repository --repository-name ml/scoring --image-tag-mutability IMMUTABLE"
        " --image-scanning-configuration scanOnPush=true"
    )
    login = shell.run(
        f"aws ecr get-login-password --region {REGION}"
        f" | {shell.podman} login --tls-verify=false --username AWS --password-stdin {registry}"
    )
    assert "Login Succeeded" in login.stdout

    files = random_files(random.Random(11), "srv/scoring", count=3, size=2000)
    tarball = write_rootfs_tarball(tmp_path / "rootfs.tar", files)
    podman.run("import", "--quiet", str(tarball), "localhost/e2e/scoring:v1")
    digest_file = tmp_path / "pushed.digest"
    podman.run(
        "push", "--quiet", "--tls-verify=false", "--digestfile", str(digest_file),
        "localhost/e2e/scoring:v1", f"docker://{registry}/ml/scoring:v1", timeout=TIMEOUT,
    )  # fmt: skip
    digest = digest_file.read_text().strip()

    # The tag is immutable: another image cannot take it.
    other = write_rootfs_tarball(tmp_path / "other.tar", {"srv/other": b"another image\n"})
    podman.run("import", "--quiet", str(other), "localhost/e2e/scoring:other")
    podman.fails(
        "push", "--quiet", "--tls-verify=false", "localhost/e2e/scoring:other",
        f"docker://{registry}/ml/scoring:v1", timeout=TIMEOUT,
    )  # fmt: skip

    # Scanned on push, the repository also holds the image's SBOM (an untagged referrer) once the
    # scan has finished; the tagged images are the one pushed.
    (detail,) = shell.json("aws ecr describe-images --repository-name ml/scoring --filter tagStatus=TAGGED")[
        "imageDetails"
    ]
    assert detail["repositoryName"] == "ml/scoring"
    assert detail["imageDigest"] == digest
    assert detail["imageTags"] == ["v1"]
    assert detail["imageSizeInBytes"] > 0
    assert detail["imagePushedAt"]
    by_tag = shell.json("aws ecr describe-images --repository-name ml/scoring --image-ids imageTag=v1")
    assert [d["imageDigest"] for d in by_tag["imageDetails"]] == [digest]

    got = shell.json(
        "aws ecr batch-get-image --repository-name ml/scoring --image-ids imageTag=v1 imageTag=missing"
    )
    (image,) = got["images"]
    assert image["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    assert "sha256:" + hashlib.sha256(image["imageManifest"].encode()).hexdigest() == digest
    manifest = json.loads(image["imageManifest"])
    assert image["imageManifestMediaType"] == manifest.get("mediaType", image["imageManifestMediaType"])
    assert image["imageManifestMediaType"] in (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
    (failure,) = got["failures"]
    assert failure["imageId"] == {"imageTag": "missing"}
    assert failure["failureCode"] == "ImageNotFound"

    not_empty = shell.fails("aws ecr delete-repository --repository-name ml/scoring")
    assert "RepositoryNotEmptyException" in not_empty
    shell.run("aws ecr delete-repository --repository-name ml/scoring --force")
    assert "RepositoryNotFoundException" in shell.fails(
        "aws ecr describe-images --repository-name ml/scoring"
    )
