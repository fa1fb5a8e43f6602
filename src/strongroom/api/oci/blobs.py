"""Blob GET/HEAD (with ranges) and DELETE."""

from __future__ import annotations

from starlette.responses import FileResponse, Response, StreamingResponse

from strongroom.api.oci.errors import plain_error
from strongroom.api.oci.headers import RangeNotSatisfiable, blob_range, not_modified
from strongroom.api.oci.routing import Call
from strongroom.oci.digest import Digest

OCTET_STREAM = "application/octet-stream"
_PATHSEND = "http.response.pathsend"


async def get_blob(call: Call) -> Response:
    digest = Digest.parse(call.request.path_params["digest"])
    found = await call.services.blobs.find(call.repository, digest, pull=None if call.head else call.puller)
    size = found.size
    headers = {
        "Docker-Content-Digest": str(digest),
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
    }
    if not_modified(call.request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    try:
        byte_range = blob_range(call.request.headers.get("range"), size)
    except RangeNotSatisfiable:
        response = plain_error(416, "BLOB_UNKNOWN", "requested range not satisfiable", head=call.head)
        response.headers["Content-Range"] = f"bytes */{size}"
        return response
    status = 200
    length = size
    if byte_range is not None:
        status = 206
        length = byte_range.length
        headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
    headers["Content-Length"] = str(length)
    if call.head:
        return Response(b"", status, headers=headers, media_type=OCTET_STREAM)
    if found.manifest is not None:
        part = found.manifest if byte_range is None else found.manifest[byte_range.start : byte_range.end + 1]
        return Response(part, status, headers=headers, media_type=OCTET_STREAM)
    path = call.services.blobs.local_path(digest)
    whole = "range" not in call.request.headers  # FileResponse would interpret one itself
    if whole and path is not None and _PATHSEND in call.request.scope.get("extensions", {}):
        # The server (granian) sends the file itself: no Python per chunk.
        return FileResponse(path, headers=headers, media_type=OCTET_STREAM)
    return StreamingResponse(
        call.services.blobs.read(digest, byte_range), status, headers=headers, media_type=OCTET_STREAM
    )


async def delete_blob(call: Call) -> Response:
    digest = Digest.parse(call.request.path_params["digest"])
    await call.services.blobs.unlink(call.repository, digest)
    return Response(status_code=202, headers={"Content-Length": "0"})
