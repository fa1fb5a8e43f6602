"""boto3 clients for a running server, and reading the error of a failed call."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer

REGION = "us-east-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1})
QUERY_VERSIONS = {"iam": "2010-05-08", "sts": "2011-06-15"}
JSON_TARGETS = {
    "ecr": "AmazonEC2ContainerRegistry_V20150921",
    "ecr-public": "SpencerFrontendService",
}


def aws_client(
    server: RunningServer,
    service: str,
    key_id: str = ADMIN_ACCESS_KEY_ID,
    secret: str = ADMIN_SECRET_ACCESS_KEY,
    **kwargs: Any,
) -> Any:
    """A boto3 client for ``service`` (``ecr``, ``ecr-public``, ``iam``, ``sts``) signed with
    the given key, the administrator's by default; no retries, so errors surface at once."""
    kwargs.setdefault("region_name", REGION)
    return boto3.client(
        service, endpoint_url=server.url, config=NO_RETRIES,
        aws_access_key_id=key_id, aws_secret_access_key=secret, **kwargs,
    )  # fmt: skip


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, str, int]:
    """``(code, message, HTTP status)`` of a call that must fail."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    error, status = response["Error"], response["ResponseMetadata"]["HTTPStatusCode"]
    return error["Code"], error["Message"], status


def signed_post(
    server: RunningServer,
    service: str,
    body: bytes,
    headers: dict[str, str],
    key: tuple[str, str] = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY),
) -> httpx.Response:
    """POST ``body`` to ``/`` signed with SigV4 for ``service``, exactly as given: for
    requests boto3 would refuse to build (hostile bodies, out-of-model parameters)."""
    request = AWSRequest("POST", server.url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(*key), service, REGION).add_auth(request)
    return httpx.post(server.url + "/", content=body, headers=dict(request.headers), timeout=60)


def query_post(server: RunningServer, service: str, params: dict[str, str]) -> httpx.Response:
    """A signed IAM or STS query request (form body) with the administrator's key."""
    body = urlencode({"Version": QUERY_VERSIONS[service], **params}).encode()
    return signed_post(server, service, body, {"Content-Type": "application/x-www-form-urlencoded"})


def json_post(server: RunningServer, service: str, operation: str, body: bytes) -> httpx.Response:
    """A signed ECR (``ecr``) or ECR Public (``ecr-public``) JSON 1.1 request."""
    target = f"{JSON_TARGETS[service]}.{operation}"
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    return signed_post(server, service, body, headers)
