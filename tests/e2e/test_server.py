"""The server process itself: first start, TLS, password reset, health."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support.server import RunningServer, free_port, start_server

pytestmark = pytest.mark.e2e


def strongroom(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    return subprocess.run(
        [sys.executable, "-m", "strongroom", *args],
        env={**clean, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_first_start_generates_a_password_shown_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"STRONGROOM_ADMIN_PASSWORD": ""}  # unset: let Strongroom generate one
    server = start_server(data, env=env)
    try:
        password_file = data / "initial-admin-password"
        assert password_file.stat().st_mode & 0o777 == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 24
        log = server.log()
        assert password not in log  # never printed where logs go
        assert f"podman login {server.registry} --username admin" in log
        assert httpx.get(f"{server.url}/v2/", auth=("admin", password)).status_code == 200
        assert httpx.get(f"{server.url}/v2/", auth=("admin", "guess")).status_code == 401
    finally:
        server.stop()
    # A second start keeps the administrator as it is.
    password_file.unlink()
    again = start_server(data, env=env)
    try:
        assert not password_file.exists()
        assert httpx.get(f"{again.url}/v2/", auth=("admin", password)).status_code == 200
    finally:
        again.stop()


def test_reset_password_replaces_the_credential(server: RunningServer) -> None:
    env = {"STRONGROOM_DATA_DIR": str(server.data_dir)}
    result = strongroom("admin", "reset-password", "--password-stdin", env=env, stdin="brand-new-pw\n")
    assert result.returncode == 0, result.stderr
    assert "brand-new-pw" not in result.stdout + result.stderr
    # The running server still has the old credential cached for at most 30 s; a restart
    # or the cache expiry makes the new one the only one.
    server.stop()
    restarted = start_server(server.data_dir)
    try:
        assert httpx.get(f"{restarted.url}/v2/", auth=("admin", "brand-new-pw")).status_code == 200
        assert httpx.get(f"{restarted.url}/v2/", auth=restarted.auth).status_code == 401
    finally:
        restarted.stop()
    missing = strongroom(
        "admin", "reset-password", "--user", "ghost", "--password-stdin", env=env, stdin="x\n"
    )
    assert missing.returncode != 0
    assert "ghost" in missing.stderr


def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    port = free_port()
    server = start_server(
        tmp_path / "data", port=port, args=["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https"
    )
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        response = httpx.get(f"https://127.0.0.1:{port}/v2/", auth=server.auth, verify=trusted)
        assert response.status_code == 200
        assert f"https://127.0.0.1:{port}" in server.log()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=5)
    finally:
        server.stop()


def test_settings_file_and_bad_settings(tmp_path: Path) -> None:
    config = tmp_path / "strongroom.toml"
    port = free_port()
    config.write_text(f'port = {port}\nregion = "eu-west-1"\n')
    server = start_server(tmp_path / "data", port=port, args=["--config", str(config)])
    try:
        assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
    finally:
        server.stop()
    bad = strongroom("serve", "--data-dir", str(tmp_path / "d2"), env={"STRONGROOM_PORT": "not-a-port"})
    assert bad.returncode != 0
    assert "port" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_administrator_gets_an_access_key_at_first_start(tmp_path: Path) -> None:
    key_id, secret = "AKIA0123456789ABCDEF", "given/secret+for-automation"
    given = start_server(
        tmp_path / "given",
        env={"STRONGROOM_ADMIN_ACCESS_KEY_ID": key_id, "STRONGROOM_ADMIN_SECRET_ACCESS_KEY": secret},
        admin_access_key=False,
    )
    try:
        assert httpx.get(f"{given.url}/v2/", auth=(key_id, secret)).status_code == 200
        assert secret not in given.log()
        assert not (given.data_dir / "initial-admin-secret-access-key").exists()
    finally:
        given.stop()
    generated = start_server(tmp_path / "generated", admin_access_key=False)
    try:
        secret_file = generated.data_dir / "initial-admin-secret-access-key"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        generated_secret = secret_file.read_text().strip()
        match = re.search(r"access key id: (AKIA[A-Z0-9]{16})", generated.log())
        assert match is not None, generated.log()
        assert generated_secret not in generated.log()
        assert httpx.get(f"{generated.url}/v2/", auth=(match.group(1), generated_secret)).status_code == 200
    finally:
        generated.stop()
