"""Who the model client is to a registry: a login (user and password, from the flags or
the docker/podman login files), AWS access keys (exchanged for a registry password with
ECR's ``GetAuthorizationToken``, as ``aws ecr get-login-password`` does), or nobody.

Reading the login files takes the environment and home directory as arguments: nothing
here reads the process's environment by itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from strongroom.client.admin import AccessKey, Login

ECR_TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921"
ECR_SIGNING_NAME = "ecr"
_ECR_HOST = re.compile(
    r"^\d{12}\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?P<suffix>\.cn)?$"
)

Credentials = Login | AccessKey | None
"""A login, access keys, or anonymous."""


class CredentialsError(Exception):
    """The credentials could not be used: a malformed login file, a refused key."""


class EcrError(CredentialsError):
    """The ECR API refused a call: its error type (``RepositoryAlreadyExistsException``…)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def auth_file_paths(env: Mapping[str, str], home: Path) -> list[Path]:
    """Where podman, skopeo and docker keep logins, in the order they read them."""
    paths = []
    if env.get("REGISTRY_AUTH_FILE"):
        paths.append(Path(env["REGISTRY_AUTH_FILE"]))
    if env.get("XDG_RUNTIME_DIR"):
        paths.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    paths.append(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "containers" / "auth.json")
    paths.append(
        Path(env["DOCKER_CONFIG"]) / "config.json"
        if env.get("DOCKER_CONFIG")
        else home / ".docker" / "config.json"
    )
    return paths


def login_from_files(registry: str, paths: list[Path]) -> Login | None:
    """The first login recorded for ``registry`` (``host[:port]``) in ``paths``."""
    for path in paths:
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            raise CredentialsError(f"{path}: {error}") from None
        auths = document.get("auths") if isinstance(document, dict) else None
        if not isinstance(auths, dict):
            continue
        for key, entry in auths.items():
            if _host(key) == registry and isinstance(entry, dict) and entry.get("auth"):
                return _decode(str(entry["auth"]), path)
    return None


async def exchange_access_key(key: AccessKey, endpoint: str, client: httpx.AsyncClient) -> Login:
    """``GetAuthorizationToken`` at ``endpoint`` (the ECR API; Strongroom serves it on the
    registry's own URL): a login ``AWS`` + a 12-hour password."""
    answer = await ecr_call(key, endpoint, "GetAuthorizationToken", {}, client)
    return _decode(str(answer["authorizationData"][0]["authorizationToken"]), None)


async def ecr_call(
    key: AccessKey, endpoint: str, operation: str, params: dict[str, Any], client: httpx.AsyncClient
) -> dict[str, Any]:
    """One ECR API operation, signed with SigV4 by botocore's signer (as the admin client
    signs). Raises :class:`EcrError` with the AWS error type when refused."""
    # Imported here: botocore costs ~30 MB, and only access-key users need it.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    url, body = endpoint.rstrip("/") + "/", json.dumps(params).encode()
    headers = {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": f"{ECR_TARGET_PREFIX}.{operation}",
    }
    request = AWSRequest("POST", url, data=body, headers=headers)
    signer = BotoCredentials(key.access_key_id, key.secret_access_key, key.session_token)
    SigV4Auth(signer, ECR_SIGNING_NAME, key.region).add_auth(request)
    response = await client.post(url, content=body, headers=dict(request.headers.items()))
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200:
        kind = str(answer.get("__type", "HttpError")).rsplit("#", 1)[-1]
        raise EcrError(kind, str(answer.get("message") or answer.get("Message") or response.status_code))
    return answer if isinstance(answer, dict) else {}


def ecr_api(registry: str) -> tuple[str, str] | None:
    """For an Amazon ECR registry host (``<account>.dkr.ecr.<region>.amazonaws.com``), its
    API endpoint and region: GetAuthorizationToken is asked there, not of the registry."""
    found = _ECR_HOST.match(registry)
    if found is None:
        return None
    region = found["region"]
    return f"https://api.ecr.{region}.amazonaws.com{found['suffix'] or ''}", region


def _host(key: str) -> str:
    """``https://index.docker.io/v1/`` and ``127.0.0.1:5000`` alike, as ``host[:port]``."""
    return key.split("://", 1)[-1].split("/", 1)[0]


def _decode(auth: str, path: Path | None) -> Login:
    try:
        user, _, password = base64.b64decode(auth, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise CredentialsError(f"{path or 'token'}: a login is not base64 user:password") from None
    return Login(user, password)
