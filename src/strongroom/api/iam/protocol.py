"""The AWS query protocol as IAM and STS speak it: a form body in, XML out.

Request (``Content-Type: application/x-www-form-urlencoded``)::

    Action=CreateUser&Version=2010-05-08&UserName=bob

Result, in the service's namespace::

    <CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
      <CreateUserResult><User>…</User></CreateUserResult>
      <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>
    </CreateUserResponse>

Lists render as ``<member>`` elements, booleans as ``true``/``false``, times as ISO 8601
UTC. Errors::

    <ErrorResponse xmlns="…">
      <Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>…</Message></Error>
      <RequestId>…</RequestId>
    </ErrorResponse>

with the HTTP status and code given by :data:`ERRORS`, the one table from the domain
errors to IAM's.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeAlias
from urllib.parse import parse_qsl

from strongroom.api.requests import RequestTooLarge
from strongroom.api.signing import InvalidClientTokenId
from strongroom.auth.management import (
    DeleteConflict,
    EntityAlreadyExists,
    ExpiredToken,
    LimitExceeded,
)
from strongroom.auth.sigv4 import (
    IncompleteSignature,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureError,
)
from strongroom.errors import (
    AccessDenied,
    AuthenticationRequired,
    Conflict,
    InvalidRequest,
    NotFound,
    StrongroomError,
    TooManyRequests,
)
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.untrusted import decimal_integer

logger = logging.getLogger("strongroom.api")

NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}
MAX_BODY_BYTES = 128 * 1024
"""Far above any valid request: a policy document is at most 6,144 characters
(IAM quotas), three times that once percent-encoded."""
MAX_FIELDS = 200
FORM = "application/x-www-form-urlencoded"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

XmlValue: TypeAlias = "str | int | bool | datetime | Sequence[XmlValue] | Mapping[str, XmlValue] | None"
Result: TypeAlias = "Mapping[str, XmlValue] | None"


class InvalidAction(InvalidRequest):
    pass


class MissingAction(InvalidRequest):
    pass


ERRORS: tuple[tuple[type[StrongroomError], str, int], ...] = (
    (MalformedPolicyDocument, "MalformedPolicyDocument", 400),
    (InvalidAction, "InvalidAction", 400),
    (MissingAction, "MissingAction", 400),
    (RequestTooLarge, "RequestEntityTooLarge", 413),
    (InvalidRequest, "ValidationError", 400),
    (EntityAlreadyExists, "EntityAlreadyExists", 409),
    (DeleteConflict, "DeleteConflict", 409),
    (LimitExceeded, "LimitExceeded", 409),
    (Conflict, "EntityAlreadyExists", 409),  # the use cases name every store conflict
    (NotFound, "NoSuchEntity", 404),
    (AccessDenied, "AccessDenied", 403),
    (TooManyRequests, "Throttling", 400),
    (InvalidClientTokenId, "InvalidClientTokenId", 403),
    (ExpiredToken, "ExpiredToken", 403),
    (MissingAuthenticationToken, "MissingAuthenticationToken", 403),
    (IncompleteSignature, "IncompleteSignature", 400),
    (RequestExpired, "RequestExpired", 400),
    (SignatureError, "SignatureDoesNotMatch", 403),
    (AuthenticationRequired, "InvalidClientTokenId", 403),
)
"""First match wins: subclasses before their bases."""


def error_code(error: StrongroomError) -> tuple[str, int]:
    for kind, code, status in ERRORS:
        if isinstance(error, kind):
            return code, status
    return "ServiceFailure", 500


class Params:
    """The request's form fields, with IAM's validation messages."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def optional(self, name: str) -> str | None:
        return self._values.get(name)

    def given(self, name: str) -> bool:
        """Whether the request carries ``name``, alone or as a list (``name.member.N…``)."""
        return name in self._values or any(key.startswith(f"{name}.") for key in self._values)

    def required(self, name: str) -> str:
        value = self._values.get(name)
        if value is None:
            member = name[0].lower() + name[1:]
            raise InvalidRequest(
                f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: "
                "Member must not be null"
            )
        return value

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        text = self._values.get(name)
        if text is None:
            return default
        value = decimal_integer(text, max_digits=19)
        if value is None or not low <= value <= high:
            raise InvalidRequest(f"{name} must be an integer from {low} to {high}")
        return value

    def boolean(self, name: str) -> bool:
        return self._values.get(name, "false").lower() == "true"


def parse_form(content_type: str, body: bytes) -> Params:
    if content_type.split(";")[0].strip().lower() != FORM:
        raise MissingAction(f"an AWS query request is a POST with a {FORM} body naming its Action")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not UTF-8") from None
    except ValueError:
        raise InvalidRequest(f"more than {MAX_FIELDS} parameters") from None
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            raise InvalidRequest(f"parameter {name[:100]!r} given more than once")
        values[name] = value
    return Params(values)


def render_result(service: str, action: str, result: Result, request_id: str) -> bytes:
    root = ET.Element(f"{action}Response", xmlns=NAMESPACES[service])
    if result is not None:
        _fill(ET.SubElement(root, f"{action}Result"), result)
    metadata = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(metadata, "RequestId").text = request_id
    return _serialise(root)


def render_error(service: str, code: str, status: int, message: str, request_id: str) -> bytes:
    root = ET.Element("ErrorResponse", xmlns=NAMESPACES.get(service, NAMESPACES["iam"]))
    error = ET.SubElement(root, "Error")
    ET.SubElement(error, "Type").text = "Sender" if status < 500 else "Receiver"
    ET.SubElement(error, "Code").text = code
    ET.SubElement(error, "Message").text = message
    ET.SubElement(root, "RequestId").text = request_id
    return _serialise(root)


def _fill(element: ET.Element, value: XmlValue) -> None:
    if isinstance(value, Mapping):
        for name, child in value.items():
            if child is not None:
                _fill(ET.SubElement(element, name), child)
    elif isinstance(value, str):
        element.text = value
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif isinstance(value, int):
        element.text = str(value)
    elif isinstance(value, datetime):
        element.text = iso_time(value)
    elif value is not None:
        for item in value:
            _fill(ET.SubElement(element, "member"), item)


def iso_time(value: datetime) -> str:
    # SQLite hands back naive datetimes; every stored time is UTC.
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _serialise(root: ET.Element) -> bytes:
    return _DECLARATION + ET.tostring(root, encoding="unicode").encode("utf-8")
