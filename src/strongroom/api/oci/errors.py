"""Domain errors → OCI error responses, in one table (distribution-spec §9)."""

from __future__ import annotations

import json
import logging
import math

from starlette.responses import Response

from strongroom import errors

logger = logging.getLogger("strongroom.api")

# Most specific first: the first matching class decides.
_TABLE: tuple[tuple[type[errors.StrongroomError], int, str], ...] = (
    (errors.NameInvalid, 400, "NAME_INVALID"),
    (errors.TagInvalid, 400, "TAG_INVALID"),
    (errors.TagImmutable, 400, "TAG_INVALID"),  # as ECR answers docker
    (errors.DigestInvalid, 400, "DIGEST_INVALID"),
    (errors.ManifestInvalid, 400, "MANIFEST_INVALID"),
    (errors.SizeInvalid, 400, "SIZE_INVALID"),
    (errors.PaginationInvalid, 400, "PAGINATION_NUMBER_INVALID"),
    (errors.TooManyTagsRequested, 414, "TAG_INVALID"),  # distribution-spec: 414 for too many ?tag=
    (errors.BlobUploadInvalid, 400, "BLOB_UPLOAD_INVALID"),
    (errors.NameUnknown, 404, "NAME_UNKNOWN"),
    (errors.BlobUnknown, 404, "BLOB_UNKNOWN"),
    (errors.BlobUploadUnknown, 404, "BLOB_UPLOAD_UNKNOWN"),
    (errors.ManifestUnknown, 404, "MANIFEST_UNKNOWN"),
    (errors.ManifestBlobUnknown, 400, "MANIFEST_BLOB_UNKNOWN"),
    (errors.UploadRangeInvalid, 416, "BLOB_UPLOAD_INVALID"),
    (errors.ManifestTooLarge, 413, "SIZE_INVALID"),
    (errors.Unsupported, 405, "UNSUPPORTED"),
    (errors.ManifestReferenced, 405, "UNSUPPORTED"),  # why: registry/manifests.py refuse_listed
    (errors.StorageFull, 507, "UNKNOWN"),
    (errors.TooManyRequests, 429, "TOOMANYREQUESTS"),
    (errors.AuthenticationRequired, 401, "UNAUTHORIZED"),
    (errors.AccessDenied, 403, "DENIED"),
    (errors.InvalidRequest, 400, "UNSUPPORTED"),
    (errors.NotFound, 404, "NOT_FOUND"),
)


def status_and_code(error: errors.StrongroomError) -> tuple[int, str]:
    for kind, status, code in _TABLE:
        if isinstance(error, kind):
            return status, code
    return 500, "UNKNOWN"


def error_body(code: str, message: str, detail: object = None) -> bytes:
    entry: dict[str, object] = {"code": code, "message": message}
    if detail is not None:
        entry["detail"] = detail
    return json.dumps({"errors": [entry]}).encode()


def _details(error: errors.StrongroomError) -> list[tuple[str, str, object]]:
    """One (code, message, detail) per error entry; MANIFEST_BLOB_UNKNOWN lists each."""
    _status, code = status_and_code(error)
    if isinstance(error, errors.ManifestBlobUnknown):
        return [(code, f"blob unknown to registry: {d}", {"digest": d}) for d in error.missing]
    if isinstance(error, errors.NameUnknown):
        return [(code, error.message, {"name": error.name})]
    if isinstance(error, errors.ManifestReferenced):
        return [(code, error.message, {"digest": error.digest, "index": error.index})]
    return [(code, error.message, None)]


def error_response(
    error: errors.StrongroomError, *, head: bool = False, headers: dict[str, str] | None = None
) -> Response:
    status, _ = status_and_code(error)
    entries = [
        {"code": code, "message": message, **({"detail": detail} if detail is not None else {})}
        for code, message, detail in _details(error)
    ]
    body = b"" if head else json.dumps({"errors": entries}).encode()
    if isinstance(error, errors.TooManyRequests):
        headers = {**(headers or {}), "Retry-After": str(max(1, math.ceil(error.retry_after)))}
    return Response(body, status, headers=headers, media_type="application/json")


def plain_error(status: int, code: str, message: str, *, head: bool = False) -> Response:
    body = error_body(code, message)
    return Response(b"" if head else body, status, media_type="application/json")
