"""``GET /admin/v1/models``: the model index, filtered, paginated, and limited to the
models of repositories where the caller is allowed ``ecr:DescribeImages`` (ADR 0019).

The route has no action of its own: any signed-in caller may search, and which models it
sees is decided per repository by :class:`strongroom.mlmodels.catalogue.ModelCatalogue`,
so a role with the usual ECR read-only policy finds the models it may read, and a caller
that may read nothing gets an empty list.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from strongroom.api.admin.endpoint import AdminCall, AdminRoute
from strongroom.api.requests import request_context
from strongroom.errors import InvalidRequest
from strongroom.mlmodels.catalogue import ModelFilter, model_document

_RELATIVE = re.compile(r"^([0-9]{1,9})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_COUNT = re.compile(r"^[0-9]{1,19}(\.[0-9]{1,19})?([eE]\+?[0-9]{1,2})?$")
_FORMAT = re.compile(r"^[a-z0-9._+-]{1,32}$")
_MAX_PARAMETERS = 2**63 - 1
_MAX_TEXT = 256


def _resource(call: AdminCall) -> str:
    return call.arn(call.principal.account_id, "model/*")


async def list_models(call: AdminCall) -> dict[str, Any]:
    where = _filter(call)
    found, token = await call.services.models.list(
        call.principal,
        request_context(call.request),
        where,
        next_token=call.query("nextToken"),
        limit=call.max_results(),
    )
    result: dict[str, Any] = {"models": [model_document(model) for model in found]}
    if token is not None:
        result["nextToken"] = token
    return result


def _filter(call: AdminCall) -> ModelFilter:
    name = _text(call, "name")
    prefix = name is not None and name.endswith("*")
    fmt = _text(call, "format")
    if fmt is not None and not _FORMAT.match(fmt.lower()):
        raise InvalidRequest("format is a format name: safetensors, gguf, onnx, pytorch, …")
    minimum, maximum = _count(call, "minParameters"), _count(call, "maxParameters")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise InvalidRequest("minParameters is larger than maxParameters")
    now = call.services.clock.now()
    return ModelFilter(
        name=name.rstrip("*") if name is not None else None,
        name_prefix=prefix,
        format=fmt,
        architecture=_text(call, "architecture"),
        license=_text(call, "license"),
        min_parameters=minimum,
        max_parameters=maximum,
        tag=_text(call, "tag"),
        pushed_since=_time(call, "pushedSince", now),
        pushed_before=_time(call, "pushedBefore", now),
    )


def _text(call: AdminCall, key: str) -> str | None:
    value = call.query(key)
    if value is None or value == "":
        return None
    if len(value) > _MAX_TEXT or "\x00" in value:
        raise InvalidRequest(f"{key} must be at most {_MAX_TEXT} characters of text")
    return value


def _count(call: AdminCall, key: str) -> int | None:
    """A parameter count: an integer, or a decimal with an exponent (``1e9``, ``7.5e9``)."""
    value = call.query(key)
    if value is None:
        return None
    if not _COUNT.match(value):
        raise InvalidRequest(f"{key} is a number of parameters: 1000000, 1e9 or 7.5e9")
    try:
        count = int(Decimal(value))
    except InvalidOperation:
        raise InvalidRequest(f"{key} is a number of parameters: 1000000, 1e9 or 7.5e9") from None
    if count > _MAX_PARAMETERS:
        raise InvalidRequest(f"{key} is larger than any parameter count")
    return count


def _time(call: AdminCall, key: str, now: datetime) -> datetime | None:
    """An ISO 8601 time (UTC when it names no zone), or a time ago: 30s, 15m, 1h, 7d."""
    value = call.query(key)
    if value is None:
        return None
    relative = _RELATIVE.match(value)
    if relative is not None:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(value[:64])
    except ValueError:
        raise InvalidRequest(f"{key} is an ISO 8601 time or a time ago (30s, 15m, 1h, 7d)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


MODEL_ROUTES = [AdminRoute("/models", "GET", "ecr:DescribeImages", _resource, list_models, per_resource=True)]
