"""``POST /``: the AWS front door (DESIGN §10 "POST / dispatch").

* ``X-Amz-Target`` → an AWS JSON 1.1 service (ECR, ECR Public); not offered yet, so
  every target is answered ``UnknownOperationException``.
* otherwise a form body with ``Action=`` → the IAM or STS query API
  (:mod:`strongroom.api.iam`), chosen by the SigV4 credential scope's service.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from strongroom.api.iam.endpoint import query_api

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


async def aws_post(request: Request) -> Response:
    if "x-amz-target" in request.headers:
        return await json_api(request)
    return await query_api(request)


async def json_api(request: Request) -> Response:
    """The seam for the JSON services: the ECR API plugs in here."""
    return JSONResponse({"__type": "UnknownOperationException"}, 400, media_type=JSON_CONTENT_TYPE)
