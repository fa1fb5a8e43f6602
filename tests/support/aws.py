"""boto3 clients for a running server, and reading the error of a failed call."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer

REGION = "us-east-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1})


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
