"""The ECR API's protocol against a real server: AWS JSON 1.1 framing, SigV4, errors in
both ``__type`` and ``x-amzn-ErrorType``, input validation from the service model,
authorization of every operation, audit, and ``AWS`` + registry-password sign-in."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support.aws import REGION, aws_client, error_of
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer

pytestmark = pytest.mark.e2e

TARGET = "AmazonEC2ContainerRegistry_V20150921"
JSON = "application/x-amz-json-1.1"


def signed_post(
    server: RunningServer,
    operation: str,
    body: bytes,
    *,
    service: str = "ecr",
    target: str = TARGET,
    key: tuple[str, str] = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY),
) -> httpx.Response:
    headers = {"X-Amz-Target": f"{target}.{operation}", "Content-Type": JSON}
    request = AWSRequest("POST", server.url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(*key), service, REGION).add_auth(request)
    return httpx.post(server.url + "/", content=body, headers=dict(request.headers))


def assert_error(response: httpx.Response, code: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"] == code
    assert response.headers["content-type"] == JSON
    assert response.headers["x-amzn-RequestId"]
    body: dict[str, Any] = response.json()
    assert body["__type"] == code
    assert body["message"]
    return body


def audit_events(server: RunningServer, action: str, resource_part: str) -> list[dict[str, Any]]:
    lines = server.cli("audit", "export", "--action", action).stdout.splitlines()
    events = [json.loads(line)["event"] for line in lines]
    return [event for event in events if resource_part in event["resource"]]


def test_results_are_aws_json_with_epoch_timestamps(shared_server: RunningServer) -> None:
    response = signed_post(shared_server, "CreateRepository", b'{"repositoryName": "proto/epoch"}')
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    assert response.headers["x-amzn-RequestId"]
    created = response.json()["repository"]["createdAt"]
    assert isinstance(created, float | int) and created > 1.7e9


def test_framing_and_signature_errors(shared_server: RunningServer) -> None:
    url = shared_server.url + "/"
    unknown = httpx.post(
        url, content=b"{}", headers={"X-Amz-Target": f"{TARGET}.Bogus", "Content-Type": JSON}
    )
    assert_error(unknown, "UnknownOperationException")
    unsigned = httpx.post(
        url, content=b"{}", headers={"X-Amz-Target": f"{TARGET}.DescribeRepositories", "Content-Type": JSON}
    )
    assert_error(unsigned, "MissingAuthenticationTokenException")
    wrong_secret = signed_post(
        shared_server, "DescribeRepositories", b"{}", key=(ADMIN_ACCESS_KEY_ID, "not-the-secret")
    )
    assert_error(wrong_secret, "InvalidSignatureException")
    unknown_key = signed_post(shared_server, "DescribeRepositories", b"{}", key=("AKIAUNKNOWNKEY000000", "x"))
    assert_error(unknown_key, "UnrecognizedClientException")
    wrong_scope = signed_post(shared_server, "DescribeRepositories", b"{}", service="iam")
    assert_error(wrong_scope, "InvalidSignatureException")
    not_json = signed_post(shared_server, "DescribeRepositories", b"{not json")
    assert_error(not_json, "SerializationException")
    not_object = signed_post(shared_server, "DescribeRepositories", b"[1, 2]")
    assert_error(not_object, "InvalidParameterException")


def test_a_signed_body_cannot_be_swapped(shared_server: RunningServer) -> None:
    headers = {"X-Amz-Target": f"{TARGET}.CreateRepository", "Content-Type": JSON}
    request = AWSRequest("POST", shared_server.url + "/", data=b'{"repositoryName": "a1"}', headers=headers)
    SigV4Auth(Credentials(ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY), "ecr", REGION).add_auth(request)
    swapped = httpx.post(
        shared_server.url + "/", content=b'{"repositoryName": "b1"}', headers=dict(request.headers)
    )
    assert_error(swapped, "InvalidSignatureException")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"repositoryName": "Upper/Case"}, "must satisfy regular expression"),
        ({"repositoryName": "x" * 257}, "length less than or equal to 256"),
        ({"repositoryName": "ok-name", "imageTagMutability": "BOGUS"}, "enum value set"),
        ({"repositoryName": "ok-name", "imageScanningConfiguration": {"scanOnPush": "yes"}}, "boolean"),
        ({}, "must not be null"),
    ],
)
def test_inputs_are_validated_against_the_service_model(
    shared_server: RunningServer, params: dict[str, Any], fragment: str
) -> None:
    response = signed_post(shared_server, "CreateRepository", json.dumps(params).encode())
    body = assert_error(response, "InvalidParameterException")
    assert fragment in body["message"]


def test_operations_not_offered_answer_a_modeled_error_naming_them(shared_server: RunningServer) -> None:
    ecr = aws_client(shared_server, "ecr")
    code, message, status = error_of(ecr.describe_pull_through_cache_rules)
    assert (code, status) == ("InvalidParameterException", 400)
    assert "DescribePullThroughCacheRules" in message


def test_each_operation_is_authorized_by_its_action(shared_server: RunningServer) -> None:
    shared_server.cli("iam", "create-user", "--user-name", "proto-reader")
    key = shared_server.cli_json("iam", "create-access-key", "--user-name", "proto-reader")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecr:DescribeRepositories", "Resource": "*"}],
    }
    shared_server.cli(
        "iam", "put-user-policy", "--user-name", "proto-reader", "--policy-name", "read",
        "--policy-document", json.dumps(policy),
    )  # fmt: skip
    reader = aws_client(shared_server, "ecr", key["AccessKeyId"], key["SecretAccessKey"])
    reader.describe_repositories()
    code, message, status = error_of(reader.create_repository, repositoryName="proto/denied")
    assert (code, status) == ("AccessDeniedException", 400)
    assert "ecr:CreateRepository" in message and "proto-reader" in message
    denials = audit_events(shared_server, "ecr:CreateRepository", "proto/denied")
    assert denials and denials[-1]["decision"] == "deny"


def test_mutations_are_audited(shared_server: RunningServer) -> None:
    aws_client(shared_server, "ecr").create_repository(repositoryName="proto/audited")
    created = audit_events(shared_server, "ecr:CreateRepository", "proto/audited")
    assert created and created[-1]["decision"] == "allow"
    assert created[-1]["principal"].endswith(":user/admin")


def test_a_registry_password_signs_in_as_aws(shared_server: RunningServer) -> None:
    data = aws_client(shared_server, "ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and ":" not in password
    assert data["proxyEndpoint"] == shared_server.url
    assert 11.9 * 3600 < data["expiresAt"].timestamp() - time.time() < 12.1 * 3600
    assert httpx.get(shared_server.url + "/v2/", auth=("AWS", password)).status_code == 200
    forged = password[:-4] + ("AAAA" if not password.endswith("AAAA") else "BBBB")
    assert httpx.get(shared_server.url + "/v2/", auth=("AWS", forged)).status_code == 401
    assert httpx.get(shared_server.url + "/v2/", auth=("AWS", "not-a-token")).status_code == 401


def test_a_registry_password_carries_only_what_policy_allows(shared_server: RunningServer) -> None:
    shared_server.cli("iam", "create-user", "--user-name", "proto-puller")
    key = shared_server.cli_json("iam", "create-access-key", "--user-name", "proto-puller")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}],
    }
    shared_server.cli(
        "iam", "put-user-policy", "--user-name", "proto-puller", "--policy-name", "login",
        "--policy-document", json.dumps(policy),
    )  # fmt: skip
    puller = aws_client(shared_server, "ecr", key["AccessKeyId"], key["SecretAccessKey"])
    token = puller.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().partition(":")[2]
    aws_client(shared_server, "ecr").create_repository(repositoryName="proto/private")
    with httpx.Client(base_url=shared_server.url, auth=("AWS", password)) as client:
        assert client.get("/v2/").status_code == 200
        assert client.get("/v2/proto/private/tags/list").status_code == 403
