"""Blob uploads: POST (start, monolithic, mount), PATCH, PUT, GET status, DELETE cancel."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from strongroom.api.oci.errors import error_response
from strongroom.api.oci.headers import upload_content_range, upload_range
from strongroom.api.oci.routing import Call
from strongroom.auth.actions import Action
from strongroom.errors import DigestInvalid, NameInvalid, UploadRangeInvalid
from strongroom.oci.digest import Digest
from strongroom.oci.names import RepositoryRef
from strongroom.registry.upload_bodies import ContentRange
from strongroom.registry.uploads import UploadState


async def start_upload(call: Call) -> Response:
    query = call.request.query_params
    uploads = call.services.uploads
    mount = query.get("mount")
    if mount is not None:
        mounted = await _try_mount(call, Digest.parse(mount), query.get("from"))
        if mounted is not None:
            return mounted
    elif (digest := query.get("digest")) is not None:
        parsed = Digest.parse(digest)
        await uploads.upload_whole(call.repository, parsed, call.request.stream(), call.known)
        return _created(call, parsed)
    state = await uploads.start(call.repository, query.get("digest-algorithm") or "sha256", call.known)
    return _accepted(call, state)


async def _try_mount(call: Call, digest: Digest, source: str | None) -> Response | None:
    """201 when the blob could be mounted from ``source`` (or, without one, from a
    repository the caller may read); None to fall back to an upload."""
    if not source:
        mounted = await call.services.mounts.mount_readable(call.repository, digest, _may_read(call))
        return None if mounted is None else _created(call, digest)
    try:
        source_ref = RepositoryRef.parse(source, call.services.default_account_id)
    except NameInvalid:  # an unusable `from` just means "no mount" (spec §5.4)
        return None
    if not await call.authorize(Action.GET_DOWNLOAD_URL_FOR_LAYER, source_ref):
        return None
    if await call.services.mounts.mount(call.repository, digest, source_ref) is None:
        return None
    return _created(call, digest)


def _may_read(call: Call) -> Callable[[RepositoryRef], Awaitable[bool]]:
    async def may_read(source: RepositoryRef) -> bool:
        return await call.authorize(Action.GET_DOWNLOAD_URL_FOR_LAYER, source)

    return may_read


async def patch_upload(call: Call) -> Response:
    upload_id = call.request.path_params["upload_id"]
    content_range = _content_range(call)
    try:
        state = await call.services.uploads.append(
            call.repository, upload_id, call.request.stream(), content_range
        )
    except UploadRangeInvalid as error:
        return error_response(error, headers=_session_headers(call, UploadState(upload_id, error.size)))
    return _accepted(call, state)


async def finish_upload(call: Call) -> Response:
    upload_id = call.request.path_params["upload_id"]
    digest = call.request.query_params.get("digest")
    if digest is None:  # spec §5.1: a missing digest is DIGEST_INVALID
        raise DigestInvalid("the digest query parameter is required to complete an upload")
    parsed = Digest.parse(digest)
    content_range = _content_range(call)
    try:
        await call.services.uploads.complete(
            call.repository, upload_id, parsed, call.request.stream(), content_range
        )
    except UploadRangeInvalid as error:
        return error_response(error, headers=_session_headers(call, UploadState(upload_id, error.size)))
    return _created(call, parsed)


async def upload_status(call: Call) -> Response:
    state = await call.services.uploads.status(call.repository, call.request.path_params["upload_id"])
    headers = _session_headers(call, state)
    if state.busy_for > 0:  # another request holds the upload (RFC 9110 §10.2.3)
        headers["Retry-After"] = str(math.ceil(state.busy_for))
    return Response(status_code=204, headers=headers)


async def cancel_upload(call: Call) -> Response:
    await call.services.uploads.cancel(call.repository, call.request.path_params["upload_id"])
    return Response(status_code=204)


def _content_range(call: Call) -> ContentRange | None:
    headers = call.request.headers
    return upload_content_range(headers.get("content-range"), headers.get("content-length"))


def _session_headers(call: Call, state: UploadState) -> dict[str, str]:
    return {
        "Location": f"/v2/{call.repository.path}/blobs/uploads/{state.id}",
        "Range": upload_range(state.size),
        "Docker-Upload-UUID": state.id,
    }


def _accepted(call: Call, state: UploadState) -> Response:
    return Response(b"", 202, headers=_session_headers(call, state))


def _created(call: Call, digest: Digest) -> Response:
    headers = {
        "Location": f"/v2/{call.repository.path}/blobs/{digest}",
        "Docker-Content-Digest": str(digest),
    }
    return Response(b"", 201, headers=headers)
