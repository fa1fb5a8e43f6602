"""Real container clients (skopeo, podman) as fixtures, isolated per test.

Each test gets its own TMPDIR, auth file location and — for podman — its own image store
(``--root``/``--runroot`` with the vfs driver), so tests share no client state and never read
or write the credentials of whoever runs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.aws import aws_client
from support.server import RunningServer
from support.tools import require

DEFAULT_TIMEOUT = 60.0


class CliError(AssertionError):
    pass


@dataclass(frozen=True)
class Cli:
    """A command-line client with fixed leading arguments and an isolated environment."""

    prefix: tuple[str, ...]
    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, timeout: float = DEFAULT_TIMEOUT, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [*self.prefix, *args]
        result = subprocess.run(
            command, env=self.env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise CliError(_describe(command, result))
        return result

    def output(self, *args: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        return self.run(*args, timeout=timeout).stdout

    def fails(self, *args: str, timeout: float = DEFAULT_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run a command that must exit non-zero; returns it for checks on stderr."""
        result = self.run(*args, check=False, timeout=timeout)
        if result.returncode == 0:
            raise CliError("expected failure, but it succeeded:\n" + _describe([*self.prefix, *args], result))
        return result


def _describe(command: Sequence[str], result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"$ {' '.join(command)}\nexit {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )


def _client_env(home: Path) -> dict[str, str]:
    (home / "xdg-run").mkdir(mode=0o700, parents=True, exist_ok=True)
    (home / "auth.json").write_text('{"auths": {}}')  # podman insists the file exists
    env = {key: value for key, value in os.environ.items() if not key.startswith(("REGISTRY_", "XDG_"))}
    env.update(
        HOME=str(home),
        TMPDIR=str(home),
        XDG_RUNTIME_DIR=str(home / "xdg-run"),
        XDG_CONFIG_HOME=str(home / "xdg-config"),
        # Where `login` writes and every other command reads, unless --authfile says otherwise.
        REGISTRY_AUTH_FILE=str(home / "auth.json"),
    )
    return env


@pytest.fixture
def skopeo(tmp_path: Path) -> Cli:
    return Cli((require("skopeo"),), _client_env(tmp_path / "skopeo-home"))


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Cli]:
    """podman with a private vfs image store under this test's tmp_path."""
    executable = require("podman")
    # podman refuses a runroot longer than 50 characters; tmp_path is usually longer.
    runroot = Path(tempfile.mkdtemp(prefix="sr-podman-"))
    prefix = (
        executable,
        "--root", str(tmp_path / "podman-storage"),
        "--runroot", str(runroot),
        "--storage-driver", "vfs",
        "--cgroup-manager", "cgroupfs",
        "--events-backend", "none",
    )  # fmt: skip
    try:
        yield Cli(prefix, _client_env(tmp_path / "podman-home"))
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture(scope="module")
def ecr(shared_server: RunningServer) -> Any:
    """A boto3 ECR client of the module's server, signed with the administrator's key."""
    return aws_client(shared_server, "ecr")


@pytest.fixture(scope="module")
def account(ecr: Any) -> str:
    """The server's default account (its ECR registry id)."""
    return str(ecr.describe_registry()["registryId"])
