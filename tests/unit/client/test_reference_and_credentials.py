"""References parsed once, and logins found where podman, skopeo and docker keep them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from strongroom.client.admin import Login
from strongroom.client.credentials import CredentialsError, auth_file_paths, ecr_api, login_from_files
from strongroom.client.reference import BadReference, Reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("127.0.0.1:5000/ml/fraud:1.4.0", ("127.0.0.1:5000", "ml/fraud", "1.4.0", None)),
        ("localhost/model", ("localhost", "model", None, None)),
        (f"registry.example/a/b/c@{DIGEST}", ("registry.example", "a/b/c", None, DIGEST)),
        (f"registry.example:443/m:v1@{DIGEST}", ("registry.example:443", "m", "v1", DIGEST)),
    ],
)
def test_references(text: str, parts: tuple[str, str, str | None, str | None]) -> None:
    reference = Reference.parse(text)
    assert (reference.registry, reference.repository, reference.tag, reference.digest) == parts
    assert str(reference) == text


@pytest.mark.parametrize(
    "text",
    [
        "model:1",
        "127.0.0.1:5000/",
        "127.0.0.1:5000/Upper/case",
        "host.example/m@sha256:short",
        "h.x/m:bad tag",
    ],
)
def test_bad_references(text: str) -> None:
    with pytest.raises(BadReference):
        Reference.parse(text)


def test_plain_http_only_on_loopback_unless_asked() -> None:
    assert Reference.parse("127.0.0.1:5000/m").base_url() == "http://127.0.0.1:5000"
    assert Reference.parse("localhost:5000/m").base_url() == "http://localhost:5000"
    assert Reference.parse("registry.example/m").base_url() == "https://registry.example"
    assert Reference.parse("registry.example/m").base_url(plain_http=True) == "http://registry.example"


def _auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_login_files_in_podman_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"REGISTRY_AUTH_FILE": str(tmp_path / "explicit.json"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    paths = auth_file_paths(env, home)
    assert paths == [
        tmp_path / "explicit.json",
        tmp_path / "run" / "containers" / "auth.json",
        home / ".config" / "containers" / "auth.json",
        home / ".docker" / "config.json",
    ]
    (tmp_path / "run" / "containers").mkdir(parents=True)
    (tmp_path / "run" / "containers" / "auth.json").write_text(
        json.dumps({"auths": {"127.0.0.1:5000": _auth("podman", "pw1")}})
    )
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"https://registry.example/v1/": _auth("docker", "p:w:2")}})
    )
    assert login_from_files("127.0.0.1:5000", paths) == Login("podman", "pw1")
    assert login_from_files("registry.example", paths) == Login("docker", "p:w:2")
    assert login_from_files("other.example", paths) is None


def test_a_malformed_login_file_is_an_error_not_anonymous(tmp_path: Path) -> None:
    (tmp_path / "auth.json").write_text("{not json")
    with pytest.raises(CredentialsError):
        login_from_files("127.0.0.1:5000", [tmp_path / "auth.json"])
    (tmp_path / "auth.json").write_text(json.dumps({"auths": {"127.0.0.1:5000": {"auth": "%%%"}}}))
    with pytest.raises(CredentialsError):
        login_from_files("127.0.0.1:5000", [tmp_path / "auth.json"])


def test_amazon_ecr_hosts_are_signed_in_at_their_region_s_api() -> None:
    assert ecr_api("123456789012.dkr.ecr.eu-west-3.amazonaws.com") == (
        "https://api.ecr.eu-west-3.amazonaws.com",
        "eu-west-3",
    )
    assert ecr_api("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") == (
        "https://api.ecr.cn-north-1.amazonaws.com.cn",
        "cn-north-1",
    )
    assert ecr_api("127.0.0.1:5000") is None
    assert ecr_api("registry.example") is None
