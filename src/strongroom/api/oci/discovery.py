"""Tag list, catalog, referrers, and the ``/v2/`` base endpoint."""

from __future__ import annotations

import json

from starlette.responses import Response

from strongroom.api.oci.headers import next_link, page_size
from strongroom.api.oci.routing import Call
from strongroom.oci.digest import Digest
from strongroom.oci.mediatypes import OCI_INDEX


async def base(call: Call) -> Response:
    return Response(b"{}", 200, media_type="application/json")


async def list_tags(call: Call) -> Response:
    query = call.request.query_params
    n = page_size(query.get("n"))
    page = await call.services.discovery.tags(call.repository, n, query.get("last") or None)
    body = json.dumps({"name": call.repository.path, "tags": page.items}).encode()
    headers = {}
    if page.more:
        headers["Link"] = next_link(f"/v2/{call.repository.path}/tags/list", n, page.items[-1])
    return Response(body, 200, headers=headers, media_type="application/json")


async def catalog(call: Call) -> Response:
    query = call.request.query_params
    n = page_size(query.get("n"))
    page = await call.services.discovery.catalog(call.repository.account_id, n, query.get("last") or None)
    body = json.dumps({"repositories": page.items}).encode()
    headers = {}
    if page.more:
        headers["Link"] = next_link("/v2/_catalog", n, page.items[-1])
    return Response(body, 200, headers=headers, media_type="application/json")


async def referrers(call: Call) -> Response:
    subject = Digest.parse(call.request.path_params["digest"])
    artifact_type = call.request.query_params.get("artifactType") or None
    manifests = await call.services.discovery.referrers(call.repository, subject, artifact_type)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return Response(json.dumps(index).encode(), 200, headers=headers, media_type=OCI_INDEX)
