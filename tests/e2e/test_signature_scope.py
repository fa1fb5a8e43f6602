"""What a SigV4 signature must cover, as an attacker probes it against a real server:
every ``x-amz-*`` header (``X-Amz-Target`` above all: it names the operation), the date,
and a credential scope in the instance's region (or ``us-east-1`` for the services AWS
serves from there: IAM, STS, ECR Public). Signatures are made by botocore's own signer
over a header set the attacker chooses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support.aws import aws_client, error_of
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer, start_server

pytestmark = pytest.mark.e2e

ECR = "AmazonEC2ContainerRegistry_V20150921"
JSON = "application/x-amz-json-1.1"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
ADMIN = Credentials(ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)


class ChosenHeaders(SigV4Auth):
    """botocore's signer, signing only the headers named (an SDK that signs too little,
    or an attacker replaying what one signed)."""

    def __init__(self, names: set[str], *args: Any) -> None:
        super().__init__(*args)
        self._names = names

    def headers_to_sign(self, request: AWSRequest) -> Any:
        headers = super().headers_to_sign(request)
        for name in [name for name in headers if name.lower() not in self._names]:
            del headers[name]
        return headers


def sign(
    server: RunningServer,
    body: bytes,
    headers: dict[str, str],
    *,
    service: str = "ecr",
    region: str = "us-east-1",
    only: set[str] | None = None,
) -> dict[str, str]:
    request = AWSRequest("POST", server.url + "/", data=body, headers=headers)
    signer = ChosenHeaders(only, ADMIN, service, region) if only else SigV4Auth(ADMIN, service, region)
    signer.add_auth(request)
    return dict(request.headers)


def send(server: RunningServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.url + "/", content=body, headers=headers)


@pytest.fixture(scope="module")
def eu_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """An instance in eu-west-1."""
    running = start_server(tmp_path_factory.mktemp("eu") / "data", env={"STRONGROOM_REGION": "eu-west-1"})
    try:
        yield running
    finally:
        running.stop()


def test_a_replayed_signature_cannot_name_another_operation(shared_server: RunningServer) -> None:
    ecr = aws_client(shared_server, "ecr")
    ecr.create_repository(repositoryName="victim/app")
    body = json.dumps({"repositoryName": "victim/app"}).encode()
    # Signed for a harmless read, without X-Amz-Target among the signed headers...
    headers = sign(shared_server, body, {}, only={"host", "x-amz-date"})
    assert "SignedHeaders=host;x-amz-date," in headers["Authorization"]
    # ...then sent on with the operation the attacker wants.
    replay = send(shared_server, body, {**headers, "X-Amz-Target": f"{ECR}.DeleteRepository"})
    assert replay.status_code == 400, replay.text
    assert replay.json()["__type"] == "IncompleteSignatureException"
    assert "X-Amz-Target" in replay.json()["message"]
    assert ecr.describe_repositories(repositoryNames=["victim/app"])["repositories"]


@pytest.mark.parametrize(
    ("extra", "signed_names"),
    [
        ({"X-Amz-Security-Token": "anything"}, {"host", "x-amz-date", "x-amz-target"}),
        ({"X-Amz-Meta-Note": "added later"}, {"host", "x-amz-date", "x-amz-target"}),
        ({}, {"host", "x-amz-target"}),  # the date header itself unsigned
    ],
)
def test_every_x_amz_header_sent_must_be_signed(
    shared_server: RunningServer, extra: dict[str, str], signed_names: set[str]
) -> None:
    headers = {"X-Amz-Target": f"{ECR}.DescribeRepositories", "Content-Type": JSON, **extra}
    signed = sign(shared_server, b"{}", headers, only=signed_names)
    response = send(shared_server, b"{}", signed)
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "IncompleteSignatureException"
    assert "must be a 'SignedHeader'" in response.json()["message"]


def test_iam_refuses_an_unsigned_x_amz_header_in_its_own_words(shared_server: RunningServer) -> None:
    body = b"Action=ListUsers&Version=2010-05-08"
    headers = sign(shared_server, body, {"Content-Type": FORM}, service="iam", only={"host", "content-type"})
    response = send(shared_server, body, headers)
    assert response.status_code == 400, response.text
    assert "<Code>IncompleteSignature</Code>" in response.text


def test_a_credential_scoped_to_another_region_is_refused(eu_server: RunningServer) -> None:
    body = b"{}"
    headers = {"X-Amz-Target": f"{ECR}.DescribeRepositories", "Content-Type": JSON}
    wrong = send(eu_server, body, sign(eu_server, body, headers, region="us-east-1"))
    assert wrong.status_code == 400, wrong.text
    assert wrong.json() == {
        "__type": "InvalidSignatureException",
        "message": "Credential should be scoped to a valid region.",
    }
    right = send(eu_server, body, sign(eu_server, body, headers, region="eu-west-1"))
    assert right.status_code == 200, right.text


def test_iam_and_sts_refuse_a_foreign_region_as_signature_mismatch(shared_server: RunningServer) -> None:
    iam = aws_client(shared_server, "iam", region_name="eu-west-1")
    refused = error_of(iam.list_users)
    assert refused == ("SignatureDoesNotMatch", "Credential should be scoped to a valid region.", 403)
    sts = aws_client(shared_server, "sts", region_name="ap-south-1")
    assert error_of(sts.get_caller_identity)[0] == "SignatureDoesNotMatch"


@pytest.mark.parametrize("service", ["iam", "sts", "ecr-public"])
def test_global_services_accept_us_east_1_on_any_instance(eu_server: RunningServer, service: str) -> None:
    client = aws_client(eu_server, service, region_name="us-east-1")
    calls = {
        "iam": lambda: client.list_users(),
        "sts": lambda: client.get_caller_identity(),
        "ecr-public": lambda: client.describe_repositories(),
    }
    assert calls[service]()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert aws_client(eu_server, "ecr", region_name="eu-west-1").describe_repositories()
