"""``GET /blobs/download/{token}``: the URLs ``GetDownloadUrlForLayer`` hands out.

Like an S3 pre-signed URL, the token is the whole authorization: it names one blob of
one repository and expires after minutes (:meth:`TokenIssuer.issue_download`), so the
request carries no credentials and is not authorized again. The blob must still be in
the repository. Bytes are streamed as an OCI blob GET streams them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response, StreamingResponse

from strongroom.auth.tokens import TokenError
from strongroom.errors import DigestInvalid, NameInvalid, NotFound
from strongroom.oci.digest import Digest
from strongroom.oci.names import RepositoryRef
from strongroom.services import Services

DOWNLOAD_PATH = "/blobs/download/{token}"
OCTET_STREAM = "application/octet-stream"
_PATHSEND = "http.response.pathsend"


def download_url(public_url: str, token: str) -> str:
    return public_url + DOWNLOAD_PATH.replace("{token}", token)


async def download_blob(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        grant = services.tokens.verify_download(request.path_params["token"], services.clock.now())
        digest = Digest.parse(grant.digest)
        path = (
            grant.name
            if grant.account_id == services.default_account_id
            else f"{grant.account_id}/{grant.name}"
        )
        size = await services.blobs.size(RepositoryRef(grant.account_id, grant.name, path), digest)
    except (TokenError, DigestInvalid, NameInvalid):
        return PlainTextResponse("download link invalid or expired\n", 403)
    except NotFound:
        return PlainTextResponse("layer not found\n", 404)
    headers = {"Docker-Content-Digest": str(digest), "Content-Length": str(size)}
    if request.method == "HEAD":
        return Response(b"", 200, headers=headers, media_type=OCTET_STREAM)
    local = services.blobs.local_path(digest)
    if local is not None and _PATHSEND in request.scope.get("extensions", {}):
        # The server (granian) sends the file itself: no Python per chunk.
        return FileResponse(local, headers=headers, media_type=OCTET_STREAM)
    return StreamingResponse(services.blobs.read(digest), 200, headers=headers, media_type=OCTET_STREAM)
