"""Hostile documents against a real server: every front door answers its protocol's 4xx
(OCI error JSON, ECR ``__type``, IAM XML) and stores nothing, and the server logs no
traceback (issue 9 §3 and §2.7).

Each case here answered 500 before the one JSON reader (``strongroom.untrusted``) bounded
depth and numbers: Python's ``int`` refuses to convert more than 4,300 digits, ``json``
recurses once per nesting level, and ``str.isdigit`` accepts ``²``, which ``int`` refuses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.aws import aws_client, json_post, query_post
from support.server import RunningServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
REPO = "hostile/docs"
HUGE = "9" * 5000
BOM = b"\xef\xbb\xbf"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own: its log must show no traceback once the module is done."""
    running = start_server(tmp_path_factory.mktemp("hostile") / "data")
    try:
        with running.client() as client:
            for blob in (CONFIG, LAYER):
                location = client.post(f"/v2/{REPO}/blobs/uploads/").headers["location"]
                assert client.put(location, params={"digest": sha256(blob)}, content=blob).status_code == 201
        yield running
    finally:
        running.stop()
    log = running.log()
    assert "Traceback" not in log and "unexpected error" not in log, log[-4000:]


CONFIG = b'{"architecture":"amd64","os":"linux"}'
LAYER = b"hostile layer bytes " * 64


def manifest(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(CONFIG), "size": len(CONFIG)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256(LAYER), "size": len(LAYER)}],
        **extra,
    }


def with_huge_size() -> bytes:
    text = json.dumps(manifest())
    return text.replace(f'"size": {len(CONFIG)}', f'"size": {HUGE}').encode()


def with_huge_annotation_number() -> bytes:
    return (json.dumps(manifest())[:-1] + f', "x-extra": {HUGE}}}').encode()


HOSTILE_MANIFESTS = {
    "5,000-digit size": with_huge_size(),
    "5,000-digit number elsewhere": with_huge_annotation_number(),
    "20-digit size": json.dumps(manifest())
    .replace(f'"size": {len(CONFIG)}', '"size": 1' + "0" * 19)
    .encode(),
    "nested 50,000 levels": (json.dumps(manifest())[:-1] + f', "x-deep": {nested(50_000)}}}').encode(),
    "UTF-8 byte order mark": BOM + json.dumps(manifest()).encode(),
    "UTF-16": json.dumps(manifest()).encode("utf-16"),
    "NaN": (json.dumps(manifest())[:-1] + ', "x-nan": NaN}').encode(),
    "lone surrogate": (json.dumps(manifest())[:-1] + ', "annotations": {"a": "\\ud800"}}').encode(),
}


def oci_codes(response: httpx.Response) -> list[str]:
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    return [entry["code"] for entry in response.json()["errors"]]


@pytest.mark.parametrize("body", HOSTILE_MANIFESTS.values(), ids=HOSTILE_MANIFESTS.keys())
def test_oci_manifest_put_refuses_hostile_json_and_stores_nothing(server: RunningServer, body: bytes) -> None:
    with server.client() as client:
        response = client.put(
            f"/v2/{REPO}/manifests/hostile", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert oci_codes(response) == ["MANIFEST_INVALID"]
        assert client.get(f"/v2/{REPO}/manifests/{sha256(body)}").status_code == 404
        assert client.get(f"/v2/{REPO}/manifests/hostile").status_code == 404


def ecr_error(response: httpx.Response) -> tuple[str, str]:
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    assert response.headers["x-amzn-ErrorType"] == response.json()["__type"]
    return response.json()["__type"], response.json()["message"]


ECR_MANIFESTS = {name: body for name, body in HOSTILE_MANIFESTS.items() if name != "UTF-16"}
"""imageManifest is a JSON string: only text reaches the manifest parser."""


@pytest.mark.parametrize("body", ECR_MANIFESTS.values(), ids=ECR_MANIFESTS.keys())
def test_ecr_put_image_refuses_hostile_manifests_and_stores_nothing(
    server: RunningServer, body: bytes
) -> None:
    request = {"repositoryName": REPO, "imageManifest": body.decode("utf-8"), "imageTag": "ecr-hostile"}
    code, _ = ecr_error(json_post(server, "ecr", "PutImage", json.dumps(request).encode()))
    assert code == "InvalidParameterException"
    ecr = aws_client(server, "ecr")
    tags = [image.get("imageTag") for image in ecr.list_images(repositoryName=REPO)["imageIds"]]
    assert "ecr-hostile" not in tags


@pytest.mark.parametrize(
    "body",
    [
        nested(50_000).encode(),
        ('{"repositoryName": ' + nested(50_000) + "}").encode(),
        ('{"maxResults": ' + HUGE + "}").encode(),
        b'{"maxResults": NaN}',
        b'{"maxResults": Infinity}',
        BOM + b"{}",
        b'{"repositoryNames": ["\\udfff"]}',
        b"\xff\xfe{\x00}\x00",
    ],
    ids=["array", "member", "5,000 digits", "NaN", "Infinity", "BOM", "lone surrogate", "UTF-16"],
)
@pytest.mark.parametrize("service", ["ecr", "ecr-public"])
def test_hostile_ecr_bodies_are_serialization_exceptions(
    server: RunningServer, service: str, body: bytes
) -> None:
    code, _ = ecr_error(json_post(server, service, "DescribeRepositories", body))
    assert code == "SerializationException"


IDENTITY_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
)
RESOURCE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:DescribeImages"}],
    }
)
TRUST_POLICY = RESOURCE_POLICY.replace("ecr:DescribeImages", "sts:AssumeRole")
HOSTILE_POLICIES = {
    "nested 3,000 levels": lambda valid: valid.replace('"Action"', f'"Sid": {nested(3000)}, "Action"'),
    "5,000-digit number": lambda valid: valid.replace('"Action"', f'"Sid": {HUGE}, "Action"'),
    "version 2012-10-18": lambda valid: valid.replace("2012-10-17", "2012-10-18"),
    "version as a number": lambda valid: valid.replace('"2012-10-17"', "20121017"),
    "version as a list": lambda valid: valid.replace('"2012-10-17"', '["2012-10-17"]'),
    "byte order mark": lambda valid: "\ufeff" + valid,
    "NaN": lambda valid: valid.replace('"Effect"', '"Sid": NaN, "Effect"'),
    "lone surrogate": lambda valid: valid.replace('"Version"', '"Id": "\\ud800", "Version"'),
}
"""Each turns a valid policy into a hostile one, so the refusal is for what the case names."""


def test_the_valid_policies_are_accepted(server: RunningServer, role: str, public_repository: str) -> None:
    params = {"UserName": "hostile-user", "PolicyName": "valid", "PolicyDocument": IDENTITY_POLICY}
    assert query_post(server, "iam", {"Action": "PutUserPolicy", **params}).status_code == 200
    aws_client(server, "iam").delete_user_policy(UserName="hostile-user", PolicyName="valid")
    for (service, operation), params in ECR_POLICY_CALLS.items():
        document = (
            RESOURCE_POLICY.replace("ecr:", "ecr-public:") if service == "ecr-public" else RESOURCE_POLICY
        )
        request = {key: document if value is None else value for key, value in params.items()}
        response = json_post(server, service, operation, json.dumps(request).encode())
        assert response.status_code == 200, f"{operation}: {response.text}"
    aws_client(server, "ecr").delete_repository_policy(repositoryName="hostile/policy")
    aws_client(server, "ecr").delete_registry_policy()
    aws_client(server, "ecr").delete_repository_creation_template(prefix="hostile-template")
    aws_client(server, "ecr-public").delete_repository_policy(repositoryName="hostile-public")


@pytest.fixture(scope="module")
def role(server: RunningServer) -> str:
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
        }
    )
    aws_client(server, "iam").create_role(RoleName="hostile-role", AssumeRolePolicyDocument=trust)
    aws_client(server, "iam").create_user(UserName="hostile-user")
    aws_client(server, "ecr").create_repository(repositoryName="hostile/policy")
    return "hostile-role"


def iam_error(response: httpx.Response) -> str:
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"].startswith("text/xml")
    found = re.search(r"<Code>([A-Za-z]+)</Code>", response.text)
    assert found is not None, response.text
    return found.group(1)


IAM_POLICY_CALLS = {
    "PutUserPolicy": {"UserName": "hostile-user", "PolicyName": "p", "PolicyDocument": "{}"},
    "PutRolePolicy": {"RoleName": "hostile-role", "PolicyName": "p", "PolicyDocument": "{}"},
    "CreatePolicy": {"PolicyName": "hostile-managed", "PolicyDocument": "{}"},
    "CreateRole": {"RoleName": "hostile-new-role", "AssumeRolePolicyDocument": "{}"},
    "UpdateAssumeRolePolicy": {"RoleName": "hostile-role", "PolicyDocument": "{}"},
}


def iam_state(server: RunningServer) -> Any:
    iam = aws_client(server, "iam")
    return (
        iam.list_user_policies(UserName="hostile-user")["PolicyNames"],
        iam.list_role_policies(RoleName="hostile-role")["PolicyNames"],
        [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]],
        [r["RoleName"] for r in iam.list_roles()["Roles"]],
        iam.get_role(RoleName="hostile-role")["Role"]["AssumeRolePolicyDocument"],
    )


@pytest.mark.parametrize("hostile", HOSTILE_POLICIES.values(), ids=HOSTILE_POLICIES.keys())
@pytest.mark.parametrize("action", IAM_POLICY_CALLS.keys())
def test_iam_refuses_hostile_policies_as_malformed_and_stores_nothing(
    server: RunningServer, role: str, action: str, hostile: Callable[[str], str]
) -> None:
    before = iam_state(server)
    trust = action in ("CreateRole", "UpdateAssumeRolePolicy")
    document = hostile(TRUST_POLICY if trust else IDENTITY_POLICY)
    params = {key: (document if value == "{}" else value) for key, value in IAM_POLICY_CALLS[action].items()}
    assert iam_error(query_post(server, "iam", {"Action": action, **params})) == "MalformedPolicyDocument"
    assert iam_state(server) == before


ECR_POLICY_CALLS = {
    # force: the refusal is about the document, not about findings (issue 9 §4)
    ("ecr", "SetRepositoryPolicy"): {"repositoryName": "hostile/policy", "policyText": None, "force": True},
    ("ecr", "PutRegistryPolicy"): {"policyText": None},
    ("ecr", "CreateRepositoryCreationTemplate"): {
        "prefix": "hostile-template",
        "appliedFor": ["CREATE_ON_PUSH"],
        "repositoryPolicy": None,
    },
    ("ecr-public", "SetRepositoryPolicy"): {
        "repositoryName": "hostile-public",
        "policyText": None,
        "force": True,
    },
}


def ecr_state(server: RunningServer) -> Any:
    ecr = aws_client(server, "ecr")
    policies = []
    for call in (
        lambda: ecr.get_repository_policy(repositoryName="hostile/policy")["policyText"],
        lambda: ecr.get_registry_policy()["policyText"],
    ):
        try:
            policies.append(call())
        except ecr.exceptions.ClientError as error:
            policies.append(error.response["Error"]["Code"])
    templates = ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
    return policies, [t["prefix"] for t in templates]


@pytest.fixture(scope="module")
def public_repository(server: RunningServer) -> str:
    aws_client(server, "ecr-public").create_repository(repositoryName="hostile-public")
    return "hostile-public"


@pytest.mark.parametrize("hostile", HOSTILE_POLICIES.values(), ids=HOSTILE_POLICIES.keys())
@pytest.mark.parametrize("call", ECR_POLICY_CALLS.keys(), ids="/".join)
def test_ecr_refuses_hostile_policies_as_invalid_parameters_and_stores_nothing(
    server: RunningServer,
    role: str,
    public_repository: str,
    call: tuple[str, str],
    hostile: Callable[[str], str],
) -> None:
    service, operation = call
    document = hostile(
        RESOURCE_POLICY.replace("ecr:", "ecr-public:") if service == "ecr-public" else RESOURCE_POLICY
    )
    before = ecr_state(server)
    request = {key: document if value is None else value for key, value in ECR_POLICY_CALLS[call].items()}
    code, _ = ecr_error(json_post(server, service, operation, json.dumps(request).encode()))
    assert code == "InvalidParameterException"
    assert ecr_state(server) == before


@pytest.mark.parametrize("value", [HUGE, "²", "٣", "1²", "-1", "+5", " 5", "5 ", "0x10", "1_0", "1e3", ""])
def test_iam_max_items_accepts_only_ascii_decimals(server: RunningServer, value: str) -> None:
    response = query_post(server, "iam", {"Action": "ListUsers", "MaxItems": value})
    assert iam_error(response) == "ValidationError"


@pytest.mark.parametrize("value", [HUGE, "²", "٣٦٠٠", "3600²", "-3600", "3600.0"])
def test_sts_duration_seconds_accepts_only_ascii_decimals(
    server: RunningServer, role: str, value: str
) -> None:
    arn = aws_client(server, "iam").get_role(RoleName=role)["Role"]["Arn"]
    params = {
        "Action": "AssumeRole",
        "RoleArn": arn,
        "RoleSessionName": "hostile-session",
        "DurationSeconds": value,
    }
    assert iam_error(query_post(server, "sts", params)) == "ValidationError"


def test_ascii_decimals_still_work(server: RunningServer, role: str) -> None:
    assert query_post(server, "iam", {"Action": "ListUsers", "MaxItems": "0007"}).status_code == 200
    arn = aws_client(server, "iam").get_role(RoleName=role)["Role"]["Arn"]
    params = {
        "Action": "AssumeRole",
        "RoleArn": arn,
        "RoleSessionName": "hostile-session",
        "DurationSeconds": "900",
    }
    assert query_post(server, "sts", params).status_code == 200


def test_a_manifest_with_a_bom_is_refused_by_both_apis(server: RunningServer) -> None:
    """§2.7: the BOM is refused before storage; without it the same bytes are accepted."""
    body = json.dumps(manifest(annotations={"which": "bom"})).encode()
    with server.client() as client:
        refused = client.put(
            f"/v2/{REPO}/manifests/bom", content=BOM + body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert oci_codes(refused) == ["MANIFEST_INVALID"]
        assert client.get(f"/v2/{REPO}/manifests/{sha256(BOM + body)}").status_code == 404
        catalog = client.get("/v2/_catalog").json()["repositories"]
        accepted = client.put(
            f"/v2/{REPO}/manifests/bom", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert accepted.status_code == 201, accepted.text
    assert REPO in catalog


def test_a_refused_manifest_push_creates_no_repository(server: RunningServer) -> None:
    """Found by test_hostile_requests: the push created the repository, then refused the
    manifest for naming blobs the new repository could not hold."""
    with server.client() as client:
        refused = client.put(
            "/v2/hostile/new/manifests/v1",
            content=json.dumps(manifest()).encode(),
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert set(oci_codes(refused)) == {"MANIFEST_BLOB_UNKNOWN"}
        assert "hostile/new" not in client.get("/v2/_catalog").json()["repositories"]
        assert oci_codes(client.get("/v2/hostile/new/tags/list")) == ["NAME_UNKNOWN"]
        empty_index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        accepted = client.put(
            "/v2/hostile/new/manifests/v1",
            content=json.dumps(empty_index).encode(),
            headers={"Content-Type": OCI_INDEX},
        )
        assert accepted.status_code == 201, accepted.text
        assert "hostile/new" in client.get("/v2/_catalog").json()["repositories"]


def test_data_files_and_folders_are_private_to_the_server_user(tmp_path: Path) -> None:
    """§2.7: nothing under the data directory is readable by group or others, whatever
    the umask the server was started with."""
    running = start_server(tmp_path / "data")
    try:
        with running.client() as client:
            blob = b"private bytes"
            location = client.post("/v2/private/repo/blobs/uploads/").headers["location"]
            assert client.put(location, params={"digest": sha256(blob)}, content=blob).status_code == 201
            started = client.post("/v2/private/repo/blobs/uploads/")  # leaves an upload in progress
            assert client.patch(started.headers["location"], content=b"partial").status_code == 202
    finally:
        running.stop()
    paths = [running.data_dir, *running.data_dir.rglob("*")]
    assert any(path.name.endswith((".db", ".sqlite", ".sqlite3")) for path in paths)
    exposed = [
        f"{path.relative_to(running.data_dir.parent)} {stat.filemode(path.stat().st_mode)}"
        for path in paths
        if path.stat().st_mode & 0o077
    ]
    assert exposed == []


def test_text_holding_nul_is_refused_by_every_front_door(server: RunningServer, role: str) -> None:
    """PostgreSQL cannot store or compare text holding U+0000 (a DataError: a 500 there);
    every store refuses it, so each front door answers its own 4xx on either database."""
    ecr = aws_client(server, "ecr")
    arn = ecr.describe_repositories(repositoryNames=["hostile/policy"])["repositories"][0]["repositoryArn"]
    request = {"resourceArn": arn, "tags": [{"Key": "k", "Value": "a\x00b"}]}
    code, message = ecr_error(json_post(server, "ecr", "TagResource", json.dumps(request).encode()))
    assert (code, "NUL" in message) == ("InvalidParameterException", True)
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == []
    with server.client() as client:
        for path, params in [
            ("/v2/_catalog", {"last": "\x00"}),
            (f"/v2/{REPO}/tags/list", {"last": "a\x00"}),
        ]:
            assert oci_codes(client.get(path, params=params)) == ["UNSUPPORTED"]
    params = {
        "Action": "CreateRole",
        "RoleName": "hostile-nul",
        "Description": "\x00",
        "AssumeRolePolicyDocument": TRUST_POLICY,
    }
    assert iam_error(query_post(server, "iam", params)) == "ValidationError"
    roles = [r["RoleName"] for r in aws_client(server, "iam").list_roles()["Roles"]]
    assert "hostile-nul" not in roles


@pytest.mark.parametrize("position", ["\u00b2", "9" * 5000, "-1", "\u0663"])
def test_a_lifecycle_preview_token_must_hold_an_ascii_position(server: RunningServer, position: str) -> None:
    """ECR's nextToken is an opaque base64 of a position; a forged one holding '²' reached
    int() (a 500), and 5,000 digits hit Python's int-str conversion limit."""
    ecr = aws_client(server, "ecr")
    lifecycle = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100},
                "action": {"type": "expire"},
            }
        ]
    }
    ecr.start_lifecycle_policy_preview(repositoryName=REPO, lifecyclePolicyText=json.dumps(lifecycle))
    token = base64.urlsafe_b64encode(position.encode()).decode()
    request = {"repositoryName": REPO, "nextToken": token}
    code, message = ecr_error(
        json_post(server, "ecr", "GetLifecyclePolicyPreview", json.dumps(request).encode())
    )
    assert (code, "nextToken" in message) == ("InvalidParameterException", True)
