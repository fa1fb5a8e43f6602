"""``/token`` tells the client what it was granted, not what it asked for (RFC 6749 §5.1):
a user allowed only to pull asks for pull and push and learns it got pull."""

from __future__ import annotations

import json

import httpx
import pytest

from support.server import RunningServer

pytestmark = pytest.mark.e2e

PULL_ONLY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                           "ecr:BatchCheckLayerAvailability", "ecr:ListImages"],
                "Resource": "arn:aws:ecr:*:*:repository/shared/*",
            }
        ],
    }
)  # fmt: skip


def test_the_token_response_names_the_scope_granted(shared_server: RunningServer) -> None:
    shared_server.cli("iam", "create-user", "--user-name", "reader")
    key = shared_server.cli_json("iam", "create-access-key", "--user-name", "reader")["AccessKey"]
    shared_server.cli("iam", "put-user-policy", "--user-name", "reader", "--policy-name", "pull",
                      "--policy-document", PULL_ONLY)  # fmt: skip
    asked = "repository:shared/model:pull,push repository:private/model:pull registry:catalog:*"
    form = {
        "grant_type": "password", "username": key["AccessKeyId"], "password": key["SecretAccessKey"],
        "service": shared_server.registry, "scope": asked, "client_id": "containerd",
    }  # fmt: skip
    posted = httpx.post(shared_server.url + "/token", data=form)
    assert posted.status_code == 200, posted.text
    assert posted.json()["scope"] == "repository:shared/model:pull"
    auth = (key["AccessKeyId"], key["SecretAccessKey"])
    params = {"service": shared_server.registry, "scope": asked.split()}
    fetched = httpx.get(shared_server.url + "/token", params=params, auth=auth)
    assert fetched.json()["scope"] == "repository:shared/model:pull"
    nothing = httpx.post(shared_server.url + "/token", data={**form, "scope": "repository:private/x:push"})
    assert nothing.status_code == 200
    assert nothing.json()["scope"] == ""
