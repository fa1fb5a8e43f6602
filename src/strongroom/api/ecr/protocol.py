"""AWS JSON 1.1 as ECR speaks it (reference/ecr-api.md §1).

Results are JSON objects with epoch-second timestamps; errors carry the code in both
the body's ``__type`` (read by botocore) and ``x-amzn-ErrorType`` (read by the Go and
JavaScript SDKs), and every response an ``x-amzn-RequestId``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from starlette.responses import Response

from strongroom.api.ecr.model import epoch
from strongroom.errors import InvalidRequest
from strongroom.untrusted import InputRefused, read_json

CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_BODY_BYTES = 30 * 1024 * 1024
"""An UploadLayerPart carries up to 20 MiB as base64 (about 27 MiB of JSON)."""


class SerializationException(InvalidRequest):
    """The body is not JSON."""


class UnknownOperation(InvalidRequest):
    pass


def parse_json(body: bytes) -> object:
    if not body.strip():
        return {}
    try:
        return read_json(body)
    except InputRefused as error:
        raise SerializationException(f"the request body is not valid JSON: {error}") from None


def render(value: Any) -> Any:
    """A result as JSON values: times as epoch seconds, bytes as base64, None members dropped."""
    if isinstance(value, datetime):
        return epoch(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): render(v) for k, v in value.items() if v is not None}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Sequence):
        return [render(item) for item in value]
    raise TypeError(f"cannot render {type(value).__name__}")


def result_response(result: Mapping[str, Any] | None, request_id: str) -> Response:
    body = json.dumps(render(result or {}), separators=(",", ":")).encode()
    return Response(body, 200, media_type=CONTENT_TYPE, headers={"x-amzn-RequestId": request_id})


def error_response(
    code: str, message: str, status: int, request_id: str, extra: Mapping[str, Any] | None = None
) -> Response:
    body = json.dumps({"__type": code, "message": message, **render(extra or {})}).encode()
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code}
    return Response(body, status, media_type=CONTENT_TYPE, headers=headers)
