"""``GET /`` on a real server: a page for a browser, JSON for a script, built from the
settings (never the Host header), naming nothing an anonymous caller should not learn;
``POST /`` still answers the AWS tools."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from support.aws import aws_client
from support.server import (
    ADMIN_ACCESS_KEY_ID,
    ADMIN_PASSWORD,
    ADMIN_SECRET_ACCESS_KEY,
    ADMIN_USER,
    RunningServer,
    start_server,
)

pytestmark = pytest.mark.e2e

PUBLIC = "https://registry.example.test:8443"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.fixture(scope="module")
def public_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("home") / "data", args=["--public-url", PUBLIC])
    try:
        yield running
    finally:
        running.stop()


def secrets_of(server: RunningServer) -> list[str]:
    account = aws_client(server, "sts").get_caller_identity()["Account"]
    return [account, ADMIN_USER, ADMIN_PASSWORD, ADMIN_ACCESS_KEY_ID, str(server.data_dir)]


def test_a_script_gets_json_from_the_settings_not_the_host_header(public_server: RunningServer) -> None:
    answer = httpx.get(f"{public_server.url}/", headers={"Host": "attacker.example", "Accept": "*/*"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["vary"] == "Accept"
    facts = answer.json()
    assert facts["server"] == "Strongroom"
    assert facts["version"] == metadata.version("strongroom")
    assert facts["oci"] == {
        "endpoint": f"{PUBLIC}/v2/",
        "registry": "registry.example.test:8443",
        "token_realm": f"{PUBLIC}/token",
    }
    assert facts["aws"]["endpoint_url"] == PUBLIC
    assert facts["aws"]["region"] == "us-east-1"
    assert facts["aws"]["services"] == ["ecr", "ecr-public", "iam", "sts"]
    assert facts["login"]["podman"] == "podman login registry.example.test:8443"  # https: no --tls-verify
    assert facts["login"]["aws"].startswith(
        f"aws ecr get-login-password --endpoint-url {PUBLIC} --region us-east-1"
    )
    assert "attacker.example" not in answer.text
    for secret in secrets_of(public_server):
        assert secret not in answer.text
    assert httpx.get(f"{public_server.url}/", headers={"Accept": "application/json"}).json() == facts
    assert httpx.get(f"{public_server.url}/").json() == facts  # no Accept at all


def test_a_browser_gets_a_page(public_server: RunningServer) -> None:
    page = httpx.get(f"{public_server.url}/", headers={"Accept": BROWSER, "Host": "attacker.example"})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    text = page.text
    assert f"<title>Strongroom {metadata.version('strongroom')}</title>" in text
    assert f"<code>{PUBLIC}/v2/</code>" in text
    assert "podman login registry.example.test:8443" in text
    assert "aws ecr get-login-password --endpoint-url" in text
    assert "<script" not in text
    assert "attacker.example" not in text
    for secret in secrets_of(public_server):
        assert secret not in text
    head = httpx.head(f"{public_server.url}/", headers={"Accept": BROWSER})
    assert (head.status_code, head.content) == (200, b"")


def aws_cli() -> str:
    executable = shutil.which("aws")
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but the AWS CLI is not installed")
        pytest.skip("the AWS CLI (aws) is not installed")
    return executable


def test_the_login_command_shown_works_as_printed(server: RunningServer, tmp_path: Path) -> None:
    """The page's own AWS command, run by the AWS CLI against the server it describes."""
    facts = httpx.get(f"{server.url}/").json()
    assert facts["login"]["podman"] == f"podman login --tls-verify=false 127.0.0.1:{server.port}"
    aws, *arguments = shlex.split(facts["login"]["aws"].split(" | ")[0])
    assert aws == "aws"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ADMIN_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=ADMIN_SECRET_ACCESS_KEY,
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    result = subprocess.run(
        [aws_cli(), *arguments], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    with httpx.Client(base_url=server.url, auth=("AWS", result.stdout.strip())) as client:
        assert client.get("/v2/").status_code == 200


def test_post_slash_still_answers_the_aws_tools(public_server: RunningServer) -> None:
    identity = aws_client(public_server, "sts").get_caller_identity()
    assert re.fullmatch(r"arn:aws:iam::[0-9]{12}:user/admin", identity["Arn"])
    assert aws_client(public_server, "ecr").describe_repositories()["repositories"] == []
    put = httpx.put(f"{public_server.url}/")
    assert put.status_code == 405
