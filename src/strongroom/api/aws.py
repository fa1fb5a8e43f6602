"""``POST /``: the AWS front door (DESIGN §10 "POST / dispatch").

* ``X-Amz-Target`` → an AWS JSON 1.1 service: ECR or ECR Public (:mod:`strongroom.api.ecr`).
* otherwise a form body with ``Action=`` → the IAM or STS query API
  (:mod:`strongroom.api.iam`), chosen by the SigV4 credential scope's service.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from strongroom.api.ecr.endpoint import json_api
from strongroom.api.iam.endpoint import query_api


async def aws_post(request: Request) -> Response:
    if "x-amz-target" in request.headers:
        return await json_api(request)
    return await query_api(request)
