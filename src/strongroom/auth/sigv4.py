"""Verification of AWS Signature Version 4 on incoming requests.

The AWS front doors (ECR, ECR Public, IAM, STS; DESIGN §10 "POST / dispatch") authenticate
with SigV4, in either of its two forms:

* the ``Authorization`` header::

      Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1/ecr/aws4_request,
          SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=<64 hex>

* a presigned URL: ``X-Amz-Algorithm``, ``-Credential``, ``-Date``, ``-Expires``,
  ``-SignedHeaders`` and ``-Signature`` query parameters.

Two steps, with the secret lookup between them: :func:`parse_authorization` reads who
claims to sign (access key id, scope, session token), then :func:`verify` checks the time
window and recomputes the signature with the decrypted secret.

The canonical request follows the AWS SigV4 specification ("Create a canonical request"
in the IAM user guide) for services other than S3, and agrees bit for bit with botocore's
``SigV4Auth`` (the tests sign with botocore and verify here; reference/ecr-api.md §9.1):

* path: the path as sent on the wire, dot segments and empty segments removed, then
  URI-encoded once more (so ``%20`` on the wire is ``%2520`` in the canonical request);
* query: every parameter but ``X-Amz-Signature``, decoded (``+`` as a space), re-encoded
  keeping only RFC 3986 unreserved characters, sorted by key and then value;
* headers: exactly the signed ones, lower-cased, values trimmed with inner runs of
  whitespace collapsed, repeated headers joined with ``,``; ``host``, the date header and
  every ``x-amz-*`` header sent must be signed (an unsigned ``X-Amz-Target`` would let a
  captured signature run another operation);
* payload: the SHA-256 of the body, which ``x-amz-content-sha256`` must equal if sent
  (``UNSIGNED-PAYLOAD`` is not accepted: every body is authenticated).

botocore is not used at run time: its signer's helpers are private, keep a URL's query
as sent instead of canonicalising it, and drop ``user-agent`` and others from the signed
set, each of which would reject a correct signature made by another SDK.

Errors carry the AWS error names. JSON-protocol services (ECR) report every
:class:`InvalidSignatureException` as that ``__type``; query-protocol services (IAM, STS)
use the subclass codes ``SignatureDoesNotMatch`` and ``RequestExpired``::

    AuthenticationRequired
     └── SignatureError
          ├── MissingAuthenticationToken      no SigV4 credentials at all
          ├── IncompleteSignature             SigV4 present but malformed or incomplete
          └── InvalidSignatureException       well formed, not acceptable
               ├── SignatureDoesNotMatch      recomputed signature differs
               └── RequestExpired             outside the clock-skew or presign window
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import ClassVar
from urllib.parse import quote, unquote_plus, unquote_to_bytes

from strongroom.errors import AuthenticationRequired
from strongroom.untrusted import decimal_integer

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600  # seconds; the SigV4 limit for presigned URLs
_UNRESERVED = "-_.~"
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_PRESIGN_PARAMS = (
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)

RequestHeaders = Mapping[str, str] | Iterable[tuple[str, str]]
"""Request headers: a mapping, or every (name, value) pair (e.g. Starlette's ``headers.items()``)."""


class SignatureError(AuthenticationRequired):
    aws_code: ClassVar[str] = "InvalidSignatureException"


class MissingAuthenticationToken(SignatureError):
    aws_code = "MissingAuthenticationToken"


class IncompleteSignature(SignatureError):
    aws_code = "IncompleteSignature"


class InvalidSignatureException(SignatureError):
    aws_code = "InvalidSignatureException"


class SignatureDoesNotMatch(InvalidSignatureException):
    aws_code = "SignatureDoesNotMatch"


class RequestExpired(InvalidSignatureException):
    aws_code = "RequestExpired"


@dataclass(frozen=True)
class SignedRequestInfo:
    """What a SigV4 request claims, before its signature is checked."""

    access_key_id: str
    timestamp: str  # as signed: yyyymmddThhmmssZ
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    security_token: str | None = None  # session credentials; the caller must validate it
    expires: int | None = None  # seconds, presigned URLs only

    @property
    def presigned(self) -> bool:
        return self.expires is not None

    @property
    def signed_at(self) -> datetime:
        return datetime.strptime(self.timestamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)

    @property
    def credential_scope(self) -> str:
        return f"{self.timestamp[:8]}/{self.region}/{self.service}/{TERMINATOR}"


def parse_authorization(headers: RequestHeaders, query: str) -> SignedRequestInfo:
    """Read the SigV4 claims from the ``Authorization`` header or the presign query.

    ``query`` is the raw query string. Raises :class:`MissingAuthenticationToken` when
    the request carries neither form, :class:`IncompleteSignature` when it is malformed.
    """
    header_map = _header_map(headers)
    params = _decoded_params(query)
    if "authorization" in header_map and "X-Amz-Algorithm" in params:
        raise IncompleteSignature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
            "or the Authorization header should be specified"
        )
    if "X-Amz-Algorithm" in params:
        credential, timestamp, signed_headers, signature, token, expires = _presigned_fields(params)
    elif "authorization" in header_map:
        credential, timestamp, signed_headers, signature, token, expires = _header_fields(header_map)
    else:
        raise MissingAuthenticationToken("Request is missing Authentication Token")
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != TERMINATOR or not all(parts[:4]):
        raise IncompleteSignature(
            f"Credential must be <access key id>/<yyyymmdd>/<region>/<service>/{TERMINATOR}"
        )
    access_key_id, scope_date, region, service, _ = parts
    if scope_date != timestamp[:8]:
        raise SignatureDoesNotMatch(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    names = tuple(signed_headers.split(";"))
    if len(set(names)) != len(names) or not all(_HEADER_NAME.fullmatch(name) for name in names):
        raise IncompleteSignature(
            f"SignedHeaders must be distinct lower-case header names: {signed_headers!r}"
        )
    _require_signed(header_map, names, presigned=expires is not None)
    if not _SIGNATURE.fullmatch(signature.lower()):
        raise IncompleteSignature("Signature must be 64 hexadecimal characters")
    return SignedRequestInfo(
        access_key_id, timestamp, region, service, names, signature.lower(), token, expires
    )


def _require_signed(header_map: Mapping[str, list[str]], names: tuple[str, ...], *, presigned: bool) -> None:
    """Refuse a signature that leaves out ``host``, the date it was made with, or any
    ``x-amz-*`` header sent (``x-amz-target`` names the operation, so an unsigned one
    lets a captured signature run another; botocore and the other SDKs sign them all)."""
    required = ["host", *(name for name in header_map if name.startswith("x-amz-"))]
    if not presigned and "x-amz-date" not in header_map:
        required.append("date")  # the timestamp came from it
    missing = [name for name in dict.fromkeys(required) if name not in names]
    if missing:
        raise IncompleteSignature(
            " ".join(f"'{_display(n)}' must be a 'SignedHeader' in the AWS Authorization." for n in missing)
        )


def _display(name: str) -> str:
    """``x-amz-target`` as AWS writes it in messages: ``X-Amz-Target``."""
    return "-".join(part.capitalize() for part in name.split("-"))


def verify(
    method: str,
    path: str,
    query_string: str,
    headers: RequestHeaders,
    body_sha256_hex: str,
    secret_access_key: str,
    info: SignedRequestInfo,
    now: datetime,
    *,
    max_clock_skew: timedelta = MAX_CLOCK_SKEW,
) -> None:
    """Check the time window, then recompute the signature and compare in constant time.

    ``path`` and ``query_string`` are as sent on the wire (ASGI ``raw_path``, still
    percent-encoded); ``body_sha256_hex`` is the SHA-256 of the raw body (of the empty
    string when there is none). Which access keys, session tokens, regions and services
    are acceptable is the caller's decision.
    """
    _check_time(info, now, max_clock_skew)
    header_map = _header_map(headers)
    declared = header_map.get("x-amz-content-sha256")
    if declared and declared[-1].strip().lower() != body_sha256_hex.lower():
        raise SignatureDoesNotMatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    request = canonical_request(method, path, query_string, header_map, info.signed_headers, body_sha256_hex)
    expected = signature(secret_access_key, info, string_to_sign(info, request))
    if not hmac.compare_digest(expected, info.signature):
        raise SignatureDoesNotMatch(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )


def canonical_request(
    method: str,
    path: str,
    query_string: str,
    header_map: Mapping[str, list[str]],
    signed_headers: tuple[str, ...],
    payload_hash: str,
) -> str:
    """The SigV4 canonical request; ``header_map`` maps lower-case names to all values."""
    lines = [method.upper(), canonical_path(path), canonical_query_string(query_string)]
    for name in signed_headers:
        values = header_map.get(name)
        if values is None:
            raise SignatureDoesNotMatch(f"Signed header '{name}' is not present in the request")
        lines.append(f"{name}:" + ",".join(" ".join(value.split()) for value in values))
    lines += ["", ";".join(signed_headers), payload_hash.lower()]
    return "\n".join(lines)


def canonical_path(raw_path: str) -> str:
    """Remove dot and empty segments (RFC 3986 §5.2.4, as AWS does), then encode once more."""
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    trailing = "/" if raw_path.endswith("/") and segments else ""
    return quote("/" + "/".join(segments) + trailing, safe="/~")


def canonical_query_string(raw_query: str) -> str:
    """Every parameter but ``X-Amz-Signature``, re-encoded (RFC 3986) and sorted."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if unquote_plus(key) == "X-Amz-Signature":
            continue
        pairs.append((_encode(key), _encode(value)))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def string_to_sign(info: SignedRequestInfo, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return "\n".join((ALGORITHM, info.timestamp, info.credential_scope, digest))


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """The HMAC chain ``"AWS4" + secret`` → date → region → service → ``aws4_request``."""
    key = ("AWS4" + secret_access_key).encode("utf-8")
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def signature(secret_access_key: str, info: SignedRequestInfo, to_sign: str) -> str:
    key = signing_key(secret_access_key, info.timestamp[:8], info.region, info.service)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _encode(component: str) -> str:
    # "+" is a space in a query, as AWS reads it (botocore sends spaces so with params=).
    # Decoding to bytes keeps invalid UTF-8 exactly as the client encoded it.
    return quote(unquote_to_bytes(component.replace("+", " ")), safe=_UNRESERVED)


def _header_map(headers: RequestHeaders) -> dict[str, list[str]]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    header_map: dict[str, list[str]] = {}
    for name, value in pairs:
        header_map.setdefault(name.lower(), []).append(value)
    return header_map


def _decoded_params(query: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            params.setdefault(unquote_plus(key), []).append(unquote_plus(value))
    return params


_Fields = tuple[str, str, str, str, str | None, int | None]
"""Credential, timestamp, signed headers, signature, session token, presign expiry."""


def _header_fields(header_map: Mapping[str, list[str]]) -> _Fields:
    authorization = header_map["authorization"]
    if len(authorization) > 1:
        raise IncompleteSignature("Only one Authorization header is allowed")
    algorithm, _, rest = authorization[0].strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(f"Unsupported authorization algorithm {algorithm!r}; expected {ALGORITHM}")
    fields: dict[str, str] = {}
    for component in rest.split(","):
        name, _, value = component.strip().partition("=")
        fields[name] = value
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if missing:
        raise IncompleteSignature(
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        )
    token = header_map.get("x-amz-security-token")
    timestamp = _header_timestamp(header_map)
    return (
        fields["Credential"],
        timestamp,
        fields["SignedHeaders"],
        fields["Signature"],
        token[0] if token else None,
        None,
    )


def _presigned_fields(params: Mapping[str, list[str]]) -> _Fields:
    def single(name: str) -> str | None:
        values = params.get(name)
        if values is not None and len(values) != 1:
            raise IncompleteSignature(f"Query parameter '{name}' must appear only once")
        return values[0] if values else None

    if single("X-Amz-Algorithm") != ALGORITHM:
        raise IncompleteSignature(f"X-Amz-Algorithm only supports '{ALGORITHM}'")
    required = {name: single(name) or "" for name in _PRESIGN_PARAMS}
    if missing := [name for name, value in required.items() if not value]:
        raise IncompleteSignature(
            " ".join(f"Query-string authentication requires the {name} parameter." for name in missing)
        )
    credential, date, expires, signed_headers, signature = required.values()
    seconds = decimal_integer(expires, max_digits=19)  # str.isdigit() let '²' reach int()
    if seconds is None or not 0 < seconds <= MAX_PRESIGN_EXPIRES:
        raise IncompleteSignature(
            f"X-Amz-Expires must be a number of seconds from 1 to {MAX_PRESIGN_EXPIRES}"
        )
    token = single("X-Amz-Security-Token")
    return credential, _checked_timestamp(date), signed_headers, signature, token, seconds


def _header_timestamp(header_map: Mapping[str, list[str]]) -> str:
    # SigV4 takes X-Amz-Date, else the HTTP Date header (botocore signs with either).
    if amz_date := header_map.get("x-amz-date"):
        return _checked_timestamp(amz_date[-1].strip())
    if date := header_map.get("date"):
        try:
            return parsedate_to_datetime(date[-1]).astimezone(UTC).strftime(TIMESTAMP_FORMAT)
        except (TypeError, ValueError):
            raise IncompleteSignature(f"Date header {date[-1]!r} is not an HTTP date") from None
    raise IncompleteSignature(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def _checked_timestamp(text: str) -> str:
    try:
        datetime.strptime(text, TIMESTAMP_FORMAT)
    except ValueError:
        raise IncompleteSignature(f"X-Amz-Date {text!r} must have the form yyyymmddThhmmssZ") from None
    return text


def _check_time(info: SignedRequestInfo, now: datetime, max_clock_skew: timedelta) -> None:
    signed_at = info.signed_at
    if now < signed_at - max_clock_skew:
        later = (now + max_clock_skew).strftime(TIMESTAMP_FORMAT)
        raise RequestExpired(f"Signature not yet current: {info.timestamp} is still later than {later}")
    if info.expires is not None:
        if now > signed_at + timedelta(seconds=info.expires):
            raise RequestExpired("Request has expired")
    elif now > signed_at + max_clock_skew:
        earlier = (now - max_clock_skew).strftime(TIMESTAMP_FORMAT)
        raise RequestExpired(f"Signature expired: {info.timestamp} is now earlier than {earlier}")
