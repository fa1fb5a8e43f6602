"""Start a real ``strongroom serve`` process on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ADMIN_USER = "admin"
ADMIN_PASSWORD = "e2e-Secret-pw-1"
ADMIN_ACCESS_KEY_ID = "AKIAE2EADMIN0000KEY1"
ADMIN_SECRET_ACCESS_KEY = "e2e/admin+secret-access-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    user: str = ADMIN_USER
    password: str = ADMIN_PASSWORD
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def registry(self) -> str:
        """``host:port`` as OCI clients name the registry."""
        return f"127.0.0.1:{self.port}"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=self.auth, timeout=60, **kwargs)  # type: ignore[arg-type]

    def cli(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``strongroom ARGS`` on this server's store (the administrative commands)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("STRONGROOM_")}
        env["STRONGROOM_DATA_DIR"] = str(self.data_dir)
        result = subprocess.run(
            [sys.executable, "-m", "strongroom", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"strongroom {' '.join(args)}: {result.stderr}"
        return result

    def cli_json(self, *args: str) -> Any:
        """Run an administrative command and parse its JSON output (None when it prints nothing)."""
        output = self.cli(*args).stdout
        return json.loads(output) if output.strip() else None

    def user_with_key(self, name: str, policy_document: str) -> tuple[str, str]:
        """Create a user with one inline policy and an access key: (key id, secret)."""
        self.cli("iam", "create-user", "--user-name", name)
        self.cli(
            "iam", "put-user-policy", "--user-name", name, "--policy-name", "p",
            "--policy-document", policy_document,
        )  # fmt: skip
        created = self.cli_json("iam", "create-access-key", "--user-name", name)
        return created["AccessKey"]["AccessKeyId"], created["AccessKey"]["SecretAccessKey"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group (granian's workers included)."""
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        # Workers may outlive the main process; never leave them behind.
        _signal_group(self.process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def start_server(
    data_dir: Path,
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    timeout: float = 60,
    scheme: str = "http",
    admin_access_key: bool = True,
) -> RunningServer:
    """Start ``strongroom serve``; with ``admin_access_key`` the administrator gets the
    access key :data:`ADMIN_ACCESS_KEY_ID` (for boto3, the AWS CLI and Terraform)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("STRONGROOM_")}
    full_env.update(
        {
            "STRONGROOM_ADMIN_USER": ADMIN_USER,
            "STRONGROOM_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "STRONGROOM_LOG_LEVEL": "warning",
            # Tests change policies and at once expect the new decision.
            "STRONGROOM_POLICY_CACHE_SECONDS": "0",
            **(
                {
                    "STRONGROOM_ADMIN_ACCESS_KEY_ID": ADMIN_ACCESS_KEY_ID,
                    "STRONGROOM_ADMIN_SECRET_ACCESS_KEY": ADMIN_SECRET_ACCESS_KEY,
                }
                if admin_access_key
                else {}
            ),
            **(env or {}),
        }
    )
    command = [
        sys.executable, "-m", "strongroom", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
        *(args or []),
    ]  # fmt: skip
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = RunningServer(data_dir, port, process, log_path, env=full_env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"strongroom exited with {process.returncode}:\n{server.log()}")
        try:
            ready = httpx.get(f"{scheme}://127.0.0.1:{port}/readyz", timeout=2, verify=False)
            if ready.status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"strongroom did not become ready in {timeout}s:\n{server.log()}")
