"""Manifest GET/HEAD/PUT/DELETE by tag or digest."""

from __future__ import annotations

from dataclasses import replace

from starlette.responses import Response

from strongroom.api.oci.headers import not_modified
from strongroom.api.oci.routing import Call
from strongroom.auth.actions import Action
from strongroom.errors import ManifestTooLarge
from strongroom.oci.mediatypes import MAX_MANIFEST_BYTES
from strongroom.registry.manifests import Reference


async def get_manifest(call: Call) -> Response:
    reference = Reference.lookup(call.request.path_params["reference"])
    manifest = await call.services.manifests.get(
        call.repository, reference, pull=None if call.head else call.puller
    )
    etag = f'"{manifest.digest}"'
    headers = {"Docker-Content-Digest": manifest.digest, "ETag": etag}
    if not_modified(call.request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(len(manifest.content))
    body = b"" if call.head else manifest.content
    return Response(body, 200, headers=headers, media_type=manifest.media_type)


async def put_manifest(call: Call) -> Response:
    """``PUT …/manifests/<reference>[?tag=a&tag=b]``: OCI 1.1 lets one push name
    several tags; the answer carries one ``OCI-Tag`` header per tag it now holds."""
    reference = Reference.parse(call.request.path_params["reference"])
    extra_tags = call.request.query_params.getlist("tag")
    body = await _read_capped(call, MAX_MANIFEST_BYTES)
    pushed = await call.services.manifests.put(
        call.repository,
        reference,
        body,
        call.request.headers.get("content-type"),
        extra_tags,
        call.known,
        replicated=call.replicated,
        pusher=replace(call.puller, action=Action.PUT_IMAGE),
    )
    headers = {
        "Location": f"/v2/{call.repository.path}/manifests/{pushed.digest}",
        "Docker-Content-Digest": str(pushed.digest),
    }
    if pushed.subject is not None:
        headers["OCI-Subject"] = str(pushed.subject)
    response = Response(b"", 201, headers=headers)
    if extra_tags:
        for tag in pushed.tags:
            response.headers.append("OCI-Tag", tag)
    return response


async def delete_manifest(call: Call) -> Response:
    reference = Reference.lookup(call.request.path_params["reference"])
    await call.services.manifests.delete(call.repository, reference)
    return Response(b"", 202)


async def _read_capped(call: Call, limit: int) -> bytes:
    """The manifest, refused over ``limit`` (the middleware drains what the client still
    sends, so it gets the 413)."""
    declared = call.request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ManifestTooLarge(limit)
    body = bytearray()
    async for chunk in call.request.stream():
        body += chunk
        if len(body) > limit:
            raise ManifestTooLarge(limit)
    return bytes(body)
