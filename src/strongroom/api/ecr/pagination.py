"""Opaque ``nextToken`` values: the position after which the next page starts."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from strongroom.api.ecr.model import InvalidParameter

DEFAULT_PAGE = 100


def next_token(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode("ascii")


def position(params: dict[str, Any] | Any) -> str | None:
    """The position a request's ``nextToken`` names, or None for the first page."""
    token = params.get("nextToken")
    if token is None:
        return None
    try:
        return base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidParameter(
            "Invalid parameter at 'nextToken' failed to satisfy constraint: 'invalid token'"
        ) from None


def page_size(params: dict[str, Any] | Any, default: int = DEFAULT_PAGE) -> int:
    value = params.get("maxResults")
    return default if value is None else int(value)
