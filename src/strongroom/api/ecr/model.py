"""The ECR and ECR Public service models, and request validation against them.

The models are the ones botocore ships (``ecr`` 2015-09-21, ``ecr-public`` 2020-10-30),
so the operations, members and constraints are exactly those the SDKs were generated
from. They are loaded on first use and kept for the life of the process. Only botocore's
data files are read, never its Python modules (about 5 MB per worker, and a loader that
would also search ``~/.aws/models`` and ``AWS_DATA_PATH``); :class:`Shape` presents a shape
as botocore's ``Shape`` does, documentation left out.

botocore checks only ``required``, types and ``min`` before sending (ECR reference §1.4);
max lengths, patterns and enums are left to the server. :meth:`ServiceApi.validate`
checks all of them the way ECR does:

* the body is a JSON object; unknown members are ignored at every level and dropped;
  ``null`` counts as absent, except as a list or map element;
* members are checked in model order and the first failure is reported, worded as
  ECR words ``InvalidParameterException``::

      Invalid parameter at 'imageIds[0].imageTag' failed to satisfy constraint:
      'Member must have length less than or equal to 300'

* patterns must match the whole value (the model leaves most of them unanchored, as
  Java's ``String.matches`` expects) and use ASCII classes, as Java's do;
* blobs arrive base64-encoded and are returned decoded; their lengths count bytes.
"""

from __future__ import annotations

import base64
import functools
import gzip
import importlib.util
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from strongroom.errors import InvalidRequest

#: The services offered, by botocore model name.
SERVICE_NAMES = ("ecr", "ecr-public")

# The Java types behind the model's integer shapes bound values the model leaves open.
_INTEGER_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}

# "Member must be a <label>" for each model type.
_TYPE_LABELS = {
    "string": "string",
    "integer": "whole number",
    "long": "whole number",
    "float": "number",
    "double": "number",
    "boolean": "boolean",
    "timestamp": "timestamp in seconds since the epoch",
    "blob": "base64-encoded string",
    "list": "list",
    "map": "map",
    "structure": "structure",
}


class InvalidParameter(InvalidRequest):
    """A request that breaks its operation's input model (ECR ``InvalidParameterException``)."""


@dataclass(frozen=True)
class ServiceApi:
    """One AWS JSON 1.1 service: what ``X-Amz-Target`` and SigV4 name it, and its operations."""

    name: str
    target_prefix: str
    signing_name: str
    operation_names: frozenset[str]

    def validate(self, operation: str, params: object) -> dict[str, Any]:
        """The request body ``params`` checked against ``operation``'s input shape.

        Returns the members the model knows, blobs decoded to bytes; raises
        :class:`InvalidParameter` on the first member that breaks the model. ``operation``
        must be one of :attr:`operation_names` (ValueError otherwise: the caller answers
        unknown operations itself).
        """
        if operation not in self.operation_names:
            raise ValueError(f"{self.name} has no operation {operation!r}")
        if not isinstance(params, dict):
            raise InvalidParameter("Request body must be a JSON object")
        shape = _input_shape(self.name, operation)
        if shape is None:
            return {}
        cleaned: dict[str, Any] = _check_structure(shape, params, "")
        return cleaned


def service_apis() -> dict[str, ServiceApi]:
    """Every service offered, keyed by its ``X-Amz-Target`` prefix."""
    return {api.target_prefix: api for api in _service_apis()}


def epoch(value: datetime) -> float:
    """``value`` as the JSON 1.1 wire renders timestamps: seconds since the epoch.

    Naive datetimes are taken as UTC.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@functools.cache
def _service_apis() -> tuple[ServiceApi, ...]:
    apis = []
    for name in SERVICE_NAMES:
        model = _service_model(name)
        apis.append(
            ServiceApi(
                name=name,
                target_prefix=model.metadata["targetPrefix"],
                signing_name=model.metadata["signingName"],
                operation_names=frozenset(model.operation_names),
            )
        )
    return tuple(apis)


@dataclass(frozen=True)
class ServiceModel:
    """One service-2 model: its metadata and its operations' definitions."""

    metadata: Mapping[str, Any]
    operations: Mapping[str, Mapping[str, Any]]
    shapes: Mapping[str, Mapping[str, Any]]

    @property
    def operation_names(self) -> list[str]:
        return list(self.operations)

    def input_shape(self, operation: str) -> Shape | None:
        ref = self.operations[operation].get("input")
        return None if ref is None else Shape.of(ref, self.shapes)


@dataclass(frozen=True)
class Shape:
    """A shape as botocore's ``Shape`` presents it, member traits merged in; only what
    validation reads (``type_name``, ``metadata``, ``enum``, members and elements)."""

    name: str
    metadata: Mapping[str, Any]
    """The shape's definition: ``type``, ``min``, ``max``, ``pattern``, ``enum``, …"""
    shapes: Mapping[str, Mapping[str, Any]]

    @classmethod
    def of(cls, ref: Mapping[str, Any], shapes: Mapping[str, Mapping[str, Any]]) -> Shape:
        """The shape a reference names (``{"shape": name, **member traits}``)."""
        name = ref["shape"]
        traits = {key: value for key, value in ref.items() if key != "shape"}
        return cls(name, {**shapes[name], **traits} if traits else shapes[name], shapes)

    @property
    def type_name(self) -> str:
        return str(self.metadata["type"])

    @property
    def enum(self) -> list[str]:
        return list(self.metadata.get("enum", ()))

    @property
    def required_members(self) -> list[str]:
        return list(self.metadata.get("required", ()))

    @functools.cached_property
    def members(self) -> dict[str, Shape]:
        return {name: Shape.of(ref, self.shapes) for name, ref in self.metadata.get("members", {}).items()}

    @functools.cached_property
    def member(self) -> Shape:
        return Shape.of(self.metadata["member"], self.shapes)

    @functools.cached_property
    def key(self) -> Shape:
        return Shape.of(self.metadata["key"], self.shapes)

    @functools.cached_property
    def value(self) -> Shape:
        return Shape.of(self.metadata["value"], self.shapes)


@functools.cache
def _input_shape(service: str, operation: str) -> Shape | None:
    return _service_model(service).input_shape(operation)


@functools.cache
def _service_model(name: str) -> ServiceModel:
    raw = _load_model(name)
    return ServiceModel(raw["metadata"], raw["operations"], raw["shapes"])


def _load_model(name: str) -> dict[str, Any]:
    """The newest ``service-2`` model botocore ships for ``name``, without documentation."""
    spec = importlib.util.find_spec("botocore")  # finds the package; imports nothing
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("botocore's service models are not installed")
    service = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    version = max(entry.name for entry in service.iterdir() if entry.is_dir())
    path = service / version / "service-2.json.gz"
    data = gzip.decompress(path.read_bytes()) if path.exists() else path.with_suffix("").read_bytes()
    return dict(json.loads(data, object_hook=_undocumented))


def _undocumented(node: dict[str, Any]) -> dict[str, Any]:
    node.pop("documentation", None)
    return node


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


def _invalid(path: str, constraint: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter at '{path}' failed to satisfy constraint: '{constraint}'")


def _not_a(shape: Shape, path: str) -> InvalidParameter:
    return _invalid(path, f"Member must be a {_TYPE_LABELS[shape.type_name]}")


def _check(shape: Shape, value: object, path: str) -> Any:
    if value is None:
        raise _invalid(path, "Member must not be null")
    return _CHECKS[shape.type_name](shape, value, path)


def _check_structure(shape: Shape, value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _not_a(shape, path)
    required = set(shape.required_members)
    cleaned: dict[str, Any] = {}
    for name, member in shape.members.items():
        member_path = f"{path}.{name}" if path else name
        item = value.get(name)
        if item is None:
            if name in required:
                raise _invalid(member_path, "Member must not be null")
            continue
        cleaned[name] = _check(member, item, member_path)
    return cleaned


def _check_list(shape: Shape, value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _not_a(shape, path)
    _check_length(shape, len(value), path)
    return [_check(shape.member, item, f"{path}[{index}]") for index, item in enumerate(value)]


def _check_map(shape: Shape, value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _not_a(shape, path)
    _check_length(shape, len(value), path)
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        entry_path = f"{path}.{key}"
        cleaned[_check(shape.key, key, entry_path)] = _check(shape.value, item, entry_path)
    return cleaned


def _check_string(shape: Shape, value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _not_a(shape, path)
    _check_length(shape, len(value), path)
    pattern = shape.metadata.get("pattern")
    if pattern is not None and _pattern(pattern).fullmatch(value) is None:
        raise _invalid(path, f"must satisfy regular expression '{pattern}'")
    enum = shape.enum
    if enum and value not in enum:
        raise _invalid(path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
    return value


def _check_integer(shape: Shape, value: object, path: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _not_a(shape, path)
    lowest, highest = _INTEGER_RANGES[shape.type_name]
    _check_value(shape.metadata.get("min", lowest), shape.metadata.get("max", highest), value, path)
    return value


def _check_number(shape: Shape, value: object, path: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _not_a(shape, path)
    _check_value(shape.metadata.get("min"), shape.metadata.get("max"), value, path)
    return value


def _check_boolean(shape: Shape, value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _not_a(shape, path)
    return value


def _check_timestamp(shape: Shape, value: object, path: str) -> float | int:
    # The JSON 1.1 wire sends timestamps as epoch seconds, never as strings.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _not_a(shape, path)
    return value


def _check_blob(shape: Shape, value: object, path: str) -> bytes:
    if not isinstance(value, str):
        raise _not_a(shape, path)
    try:
        decoded = base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        raise _not_a(shape, path) from None
    _check_length(shape, len(decoded), path)
    return decoded


def _check_length(shape: Shape, length: int, path: str) -> None:
    shortest, longest = shape.metadata.get("min"), shape.metadata.get("max")
    if shortest is not None and length < shortest:
        raise _invalid(path, f"Member must have length greater than or equal to {shortest}")
    if longest is not None and length > longest:
        raise _invalid(path, f"Member must have length less than or equal to {longest}")


def _check_value(lowest: float | None, highest: float | None, value: float, path: str) -> None:
    if lowest is not None and value < lowest:
        raise _invalid(path, f"Member must have value greater than or equal to {lowest}")
    if highest is not None and value > highest:
        raise _invalid(path, f"Member must have value less than or equal to {highest}")


_CHECKS: dict[str, Callable[[Shape, object, str], Any]] = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_number,
    "double": _check_number,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
    "blob": _check_blob,
}
