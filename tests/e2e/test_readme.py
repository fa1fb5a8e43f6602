"""The README's commands, run as written against a real server (issue 10 §3.1, §3.2).

Blocks to run are marked in README.md by a ``<!-- tested: NAME -->`` line right before their
fence. They run in bash as a user would type them after ``make run``; what the test stands
in for: the server listens on a free port instead of 5000 (the address is rewritten), the
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` placeholders are the administrator's key,
``.venv/bin`` is on PATH as the README's ``export PATH`` line puts it, the image and the OCI
layout the first push sends are made beforehand, a password prompt gets the password typed on
a terminal (script(1)), and podman keeps its images and logins in the test's directory.

The AWS block runs with the current AWS CLI (the dev extra's) and with Debian 12's (2.9, which
ignores ``AWS_ENDPOINT_URL``); the boto3 block runs after it in the same shell.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.aws import aws_client
from support.images import OciLayout, build_image, random_files, write_rootfs_tarball
from support.model_dirs import HF_PARAMETERS, hf_directory
from support.server import (
    ADMIN_ACCESS_KEY_ID,
    ADMIN_PASSWORD,
    ADMIN_SECRET_ACCESS_KEY,
    RunningServer,
    start_server,
)
from support.tools import DEBIAN_AWS_CLI, require

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- tested: (?P<name>[\w-]+)")
FENCE = re.compile(r"^```(?P<language>\w*)\s*$")
README_ADDRESS = "127.0.0.1:5000"
TIMEOUT = 180


def marked_blocks(text: str) -> dict[str, str]:
    """The fenced block following each ``<!-- tested: NAME -->`` line, by NAME."""
    blocks: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        marker = MARKER.match(line)
        if marker is None:
            continue
        assert FENCE.match(lines[index + 1]), f"README line {index + 2}: a fence must follow the marker"
        end = next(i for i in range(index + 2, len(lines)) if lines[i].startswith("```"))
        assert marker["name"] not in blocks, f"two README blocks are marked {marker['name']!r}"
        blocks[marker["name"]] = "\n".join(lines[index + 2 : end]) + "\n"
    return blocks


def block(name: str) -> str:
    return marked_blocks(README.read_text())[name]


@dataclass(frozen=True)
class UserShell:
    """bash in a fresh HOME whose default data directory is the server's."""

    server: RunningServer
    home: Path
    env: dict[str, str]

    def run(
        self, script: str, path: list[Path], typed: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script``; ``typed`` is what the user types at its prompts (on a terminal)."""
        script = script.replace(README_ADDRESS, self.server.registry)
        env = {**self.env, "PATH": os.pathsep.join([*map(str, path), self.env["PATH"]])}
        command = ["bash", "-euo", "pipefail", "-c", script]
        if typed is not None:  # password prompts read a terminal: script(1) gives them one
            command = ["script", "--quiet", "--return", "--command", shlex.join(command), "/dev/null"]
        result = subprocess.run(
            command, cwd=self.home, env=env, input=typed,
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        assert result.returncode == 0, (
            f"$ {script}\nexit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n"
            f"--- stderr\n{result.stderr[:4000]}\n--- server log\n{self.server.log()[-3000:]}"
        )
        return result


def _podman_configuration(home: Path, runroot: Path) -> dict[str, str]:
    """podman's storage and engine settings through its own variables, so the README's plain
    ``podman`` keeps to this test's directory (vfs, no systemd)."""
    storage = home / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{home / "podman-storage"}"\nrunroot = "{runroot}"\n'
    )
    engine = home / "containers.conf"
    engine.write_text('[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\n')
    (home / "xdg-run").mkdir(mode=0o700)
    (home / "auth.json").write_text('{"auths": {}}')
    return {
        "CONTAINERS_STORAGE_CONF": str(storage),
        "CONTAINERS_CONF": str(engine),
        "XDG_RUNTIME_DIR": str(home / "xdg-run"),
        "REGISTRY_AUTH_FILE": str(home / "auth.json"),
    }


@pytest.fixture
def user_shell(tmp_path: Path) -> Iterator[UserShell]:
    home = tmp_path / "home"
    home.mkdir()
    server = start_server(home / ".local" / "share" / "strongroom")
    # podman refuses a runroot longer than 50 characters; tmp_path is usually longer.
    runroot = Path(tempfile.mkdtemp(prefix="sr-readme-"))
    prefixes = ("AWS_", "STRONGROOM_", "REGISTRY_", "XDG_", "CONTAINERS_", "PYTHON", "HTTP", "NO_PROXY")
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith(prefixes)}
    env.update(
        HOME=str(home),
        TMPDIR=str(home),
        AWS_ACCESS_KEY_ID=ADMIN_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=ADMIN_SECRET_ACCESS_KEY,
        # Should a CLI ignore the endpoint, it must not reach out: AWS's HTTPS endpoints (and the
        # instance metadata service) lead nowhere, while the server is plain HTTP on loopback.
        AWS_EC2_METADATA_DISABLED="true",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
        **_podman_configuration(home, runroot),
    )
    try:
        yield UserShell(server, home, env)
    finally:
        server.stop()
        shutil.rmtree(runroot, ignore_errors=True)


def _commands_dir(home: Path, aws: str) -> Path:
    """A directory to put first on PATH: ``aws`` is the CLI under test, ``python`` this venv's."""
    directory = home / "cli-bin"
    directory.mkdir()
    (directory / "aws").symlink_to(aws)
    (directory / "python").symlink_to(sys.executable)
    return directory


def test_the_readme_marks_the_blocks_it_tests() -> None:
    assert set(marked_blocks(README.read_text())) == {
        "first-push", "aws", "python", "strongroom", "models", "sdk", "model-list",
    }  # fmt: skip


def test_the_readme_first_push_works_as_written(user_shell: UserShell) -> None:
    """podman login (the password typed at the prompt), podman push of a local image, and
    skopeo copy of an OCI layout in the current directory."""
    podman, skopeo = require("podman"), require("skopeo")
    rng = random.Random(10)
    tarball = write_rootfs_tarball(user_shell.home / "rootfs.tar", random_files(rng, "app", 3, 2048))
    user_shell.run(f"podman import --quiet {shlex.quote(str(tarball))} localhost/my-image:1", [])
    image = build_image(rng)
    OciLayout.create(user_shell.home / "layout").add("tag", image)

    tools = [Path(podman).parent, Path(skopeo).parent]
    user_shell.run(block("first-push"), tools, typed=f"{ADMIN_PASSWORD}\n")

    with user_shell.server.client() as client:
        assert client.get("/v2/team/my-image/tags/list").json()["tags"] == ["1"]
        model = client.get(
            "/v2/team/project/model/manifests/tag", headers={"Accept": image.manifest.media_type}
        )
        assert model.status_code == 200
        assert model.headers["docker-content-digest"] == image.manifest.digest


@pytest.mark.parametrize("cli", ["current", "debian-12", "current-without-the-endpoint-function"])
def test_the_readme_aws_setup_works_as_written(user_shell: UserShell, cli: str) -> None:
    require("podman")
    aws = require("awscli", DEBIAN_AWS_CLI if cli == "debian-12" else "aws")
    script = block("aws")
    if cli == "current-without-the-endpoint-function":
        # What the README says: CLIs from 1.29 / 2.13 on need only AWS_ENDPOINT_URL.
        script = "".join(line for line in script.splitlines(keepends=True) if not line.startswith("aws() {"))
    script += f"python - <<'README_PYTHON'\n{block('python')}README_PYTHON\n"
    result = user_shell.run(script, [_commands_dir(user_shell.home, aws)])

    account = str(user_shell.server.cli_json("migrate")["account_id"])
    assert f"arn:aws:iam::{account}:user/admin" in result.stdout
    (repository,) = aws_client(user_shell.server, "ecr").describe_repositories()["repositories"]
    assert repository["repositoryName"] == "ml/fraud-model"
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert result.stdout.rstrip().endswith(repository["repositoryUri"])  # boto3's output
    logins = json.loads(Path(user_shell.env["REGISTRY_AUTH_FILE"]).read_text())["auths"]
    assert list(logins) == [user_shell.server.registry]


def test_the_readme_strongroom_commands_work_as_written(user_shell: UserShell) -> None:
    venv_bin = Path(sys.executable).parent  # what `export PATH="$PWD/.venv/bin:$PATH"` adds
    user_shell.run(block("strongroom"), [venv_bin])
    iam = aws_client(user_shell.server, "iam")
    assert iam.list_user_policies(UserName="ci")["PolicyNames"] == ["push-team-a"]
    assert len(iam.list_access_keys(UserName="ci")["AccessKeyMetadata"]) == 1
    assert (user_shell.home / "audit.jsonl").stat().st_size > 0

    # The new password works (within 30 s, says the README), the old one no longer does.
    password_file = user_shell.home / ".local" / "share" / "strongroom" / "initial-admin-password"
    new = password_file.read_text().strip()
    with httpx.Client(base_url=user_shell.server.url, timeout=30) as client:
        assert client.get("/v2/", auth=("admin", new)).status_code == 200
        assert client.get("/v2/", auth=user_shell.server.auth).status_code == 401


def test_the_readme_model_commands_and_sdk_work_as_written(user_shell: UserShell) -> None:
    """After the first push's ``podman login`` (its login file stands in for it here)."""
    files = hf_directory(user_shell.home / "fraud-detector")
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    auths = {"auths": {user_shell.server.registry: {"auth": token}}}
    Path(user_shell.env["REGISTRY_AUTH_FILE"]).write_text(json.dumps(auths))
    venv_bin = Path(sys.executable).parent
    script = block("models") + f"python - <<'README_PYTHON'\n{block('sdk')}README_PYTHON\n"
    result = user_shell.run(script, [venv_bin])

    assert "LlamaForCausalLM" in result.stdout  # inspect's table
    restored = user_shell.home / "restored"
    assert {p: (restored / p).read_bytes() for p in files} == files
    assert sorted(p.name for p in (user_shell.home / "weights").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    assert (
        result.stdout.rstrip()
        .splitlines()[-1]
        .startswith(f"fraud-detector 1.5.0 LlamaForCausalLM {HF_PARAMETERS}")
    )
    assert [p.name for p in (user_shell.home / "weights-1.5.0").iterdir()] == ["model.safetensors"]
    # The server indexes the pushes in a job of its own: model list finds both versions.
    deadline = time.monotonic() + 60
    while True:
        listed = user_shell.run(block("model-list").rstrip() + " --output json\n", [venv_bin])
        assert listed.returncode == 0, listed.stderr
        tags = sorted(tag for model in json.loads(listed.stdout)["models"] for tag in model["imageTags"])
        if tags == ["1.4.0", "1.5.0"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert tags == ["1.4.0", "1.5.0"]


def test_make_strongroom_passes_arguments_through() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "strongroom", "ARGS=admin --help"],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "reset-password" in result.stdout
