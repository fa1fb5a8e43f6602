"""Registry-wide ECR settings against a real server with boto3: the registry scanning
configuration and each repository's effective one, account settings (BLOB_MOUNTING turns
OCI mounts into uploads), and repository creation templates — with a push through skopeo
that creates a repository from a CREATE_ON_PUSH template."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from support.aws import aws_client, error_of
from support.images import OciLayout, build_image
from support.server import RunningServer

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

LIFECYCLE_POLICY = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "drop untagged images after a week",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 7,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


@pytest.fixture
def ecr(server: RunningServer) -> Any:
    return aws_client(server, "ecr")


@pytest.fixture
def account(ecr: Any) -> str:
    return str(ecr.describe_registry()["registryId"])


def pull_policy(account: str) -> str:
    statement = {
        "Sid": "TeamPull",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def wildcard(*filters: str) -> list[dict[str, str]]:
    return [{"filter": value, "filterType": "WILDCARD"} for value in filters]


# registry scanning


def test_registry_scanning_configuration_round_trip(ecr: Any, account: str) -> None:
    default = ecr.get_registry_scanning_configuration()
    assert default["registryId"] == account
    assert default["scanningConfiguration"] == {"scanType": "BASIC", "rules": []}

    rules = [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": wildcard("ml/*", "prod-*")}]
    put = ecr.put_registry_scanning_configuration(scanType="BASIC", rules=rules)
    assert put["registryScanningConfiguration"] == {"scanType": "BASIC", "rules": rules}
    assert ecr.get_registry_scanning_configuration()["scanningConfiguration"]["rules"] == rules

    enhanced = [
        {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": wildcard("prod/*")},
        {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": wildcard("*")},
    ]
    ecr.put_registry_scanning_configuration(scanType="ENHANCED", rules=enhanced)
    got = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
    assert got == {"scanType": "ENHANCED", "rules": enhanced}

    # What Terraform's aws_ecr_registry_scanning_configuration sends on delete.
    ecr.put_registry_scanning_configuration(scanType="BASIC", rules=[])
    assert ecr.get_registry_scanning_configuration()["scanningConfiguration"] == {
        "scanType": "BASIC",
        "rules": [],
    }


def test_registry_scanning_configuration_is_validated(ecr: Any) -> None:
    put = ecr.put_registry_scanning_configuration
    code, message, status = error_of(
        put,
        scanType="BASIC",
        rules=[{"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": wildcard("*")}],
    )
    assert (code, status) == ("ValidationException", 400)
    assert "CONTINUOUS_SCAN" in message
    code, _, _ = error_of(
        put, scanType="ENHANCED", rules=[{"scanFrequency": "MANUAL", "repositoryFilters": wildcard("*")}]
    )
    assert code == "ValidationException"
    twice = {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": wildcard("*")}
    assert error_of(put, scanType="BASIC", rules=[twice, twice])[0] == "ValidationException"
    three = [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": wildcard("*")}] * 3
    code, message, _ = error_of(put, scanType="BASIC", rules=three)
    assert (code, message) == (
        "InvalidParameterException",
        "Invalid parameter at 'rules' failed to satisfy constraint: "
        "'Member must have length less than or equal to 2'",
    )
    bad_filter = [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": wildcard("Upper/Case")}]
    assert error_of(put, scanType="BASIC", rules=bad_filter)[0] == "InvalidParameterException"
    assert error_of(put, scanType="SOMETIMES")[0] == "InvalidParameterException"
    assert ecr.get_registry_scanning_configuration()["scanningConfiguration"]["rules"] == []


def test_effective_scanning_configuration_of_repositories(ecr: Any, account: str) -> None:
    ecr.create_repository(repositoryName="ml/model")
    ecr.create_repository(repositoryName="prod/api")
    ecr.create_repository(repositoryName="legacy", imageScanningConfiguration={"scanOnPush": True})
    ecr.create_repository(repositoryName="plain")
    ecr.put_registry_scanning_configuration(
        scanType="BASIC", rules=[{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": wildcard("ml/*")}]
    )
    names = ["ml/model", "legacy", "plain", "no/such-repo"]
    result = ecr.batch_get_repository_scanning_configuration(repositoryNames=names)
    assert result["scanningConfigurations"] == [
        {
            "repositoryArn": f"arn:aws:ecr:us-east-1:{account}:repository/ml/model",
            "repositoryName": "ml/model",
            "scanOnPush": True,
            "scanFrequency": "SCAN_ON_PUSH",
            "appliedScanFilters": wildcard("ml/*"),
        },
        {
            "repositoryArn": f"arn:aws:ecr:us-east-1:{account}:repository/legacy",
            "repositoryName": "legacy",
            "scanOnPush": True,
            "scanFrequency": "SCAN_ON_PUSH",
            "appliedScanFilters": [],
        },
        {
            "repositoryArn": f"arn:aws:ecr:us-east-1:{account}:repository/plain",
            "repositoryName": "plain",
            "scanOnPush": False,
            "scanFrequency": "MANUAL",
            "appliedScanFilters": [],
        },
    ]
    assert result["failures"] == [
        {
            "repositoryName": "no/such-repo",
            "failureCode": "REPOSITORY_NOT_FOUND",
            "failureReason": (
                f"The repository with name 'no/such-repo' does not exist in the registry with id '{account}'"
            ),
        }
    ]

    # Continuous scanning wins over scan on push where both rules match.
    ecr.put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[
            {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": wildcard("*")},
            {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": wildcard("prod/*", "*/api")},
        ],
    )
    by_name = {
        c["repositoryName"]: c
        for c in ecr.batch_get_repository_scanning_configuration(repositoryNames=["prod/api", "plain"])[
            "scanningConfigurations"
        ]
    }
    assert by_name["prod/api"]["scanFrequency"] == "CONTINUOUS_SCAN"
    assert by_name["prod/api"]["appliedScanFilters"] == wildcard("prod/*", "*/api")
    assert (by_name["plain"]["scanFrequency"], by_name["plain"]["appliedScanFilters"]) == (
        "SCAN_ON_PUSH",
        wildcard("*"),
    )
    code, _, _ = error_of(
        ecr.batch_get_repository_scanning_configuration, repositoryNames=[f"r{i}" for i in range(26)]
    )
    assert code == "InvalidParameterException"


# account settings


def test_account_settings_have_defaults_and_refuse_unknown_values(ecr: Any) -> None:
    defaults = {
        "BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE",
        "REGISTRY_POLICY_SCOPE": "V2",
        "BLOB_MOUNTING": "ENABLED",
    }
    for name, value in defaults.items():
        got = ecr.get_account_setting(name=name)
        assert (got["name"], got["value"]) == (name, value)

    put = ecr.put_account_setting(name="REGISTRY_POLICY_SCOPE", value="V1")
    assert (put["name"], put["value"]) == ("REGISTRY_POLICY_SCOPE", "V1")
    assert ecr.get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"] == "V1"
    ecr.put_account_setting(name="BASIC_SCAN_TYPE_VERSION", value="AWS_NATIVE")

    code, message, status = error_of(ecr.get_account_setting, name="NO_SUCH_SETTING")
    assert (code, status) == ("ValidationException", 400)
    assert "NO_SUCH_SETTING" in message
    assert error_of(ecr.put_account_setting, name="NO_SUCH_SETTING", value="V2")[0] == "ValidationException"
    code, message, _ = error_of(ecr.put_account_setting, name="BLOB_MOUNTING", value="SOMETIMES")
    assert code == "ValidationException"
    assert "ENABLED, DISABLED" in message
    assert error_of(ecr.put_account_setting, name="BASIC_SCAN_TYPE_VERSION", value="CLAIR")[0] == (
        "ValidationException"
    )


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_blob_mounting_disabled_turns_mounts_into_uploads(server: RunningServer, ecr: Any) -> None:
    blob = random.Random(7).randbytes(4096)
    digest = _digest(blob)
    with server.client() as oci:
        assert (
            oci.post("/v2/source/blobs/uploads/", params={"digest": digest}, content=blob).status_code == 201
        )

        mounted = oci.post("/v2/first/blobs/uploads/", params={"mount": digest, "from": "source"})
        assert mounted.status_code == 201

        ecr.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")
        refused = oci.post("/v2/second/blobs/uploads/", params={"mount": digest, "from": "source"})
        assert refused.status_code == 202, refused.text
        assert oci.head(f"/v2/second/blobs/{digest}").status_code == 404
        done = oci.put(refused.headers["location"], params={"digest": digest}, content=blob)
        assert done.status_code == 201
        assert oci.get(f"/v2/second/blobs/{digest}").content == blob

        ecr.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
        again = oci.post("/v2/third/blobs/uploads/", params={"mount": digest, "from": "source"})
        assert again.status_code == 201


def test_settings_operations_are_authorized_by_their_actions(server: RunningServer, ecr: Any) -> None:
    iam = aws_client(server, "iam")
    iam.create_user(UserName="auditor")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ecr:GetRegistryScanningConfiguration", "ecr:GetAccountSetting"],
                "Resource": "*",
            }
        ],
    }
    iam.put_user_policy(UserName="auditor", PolicyName="read", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    auditor = aws_client(server, "ecr", key["AccessKeyId"], key["SecretAccessKey"])

    assert auditor.get_registry_scanning_configuration()["scanningConfiguration"]["scanType"] == "BASIC"
    assert auditor.get_account_setting(name="BLOB_MOUNTING")["value"] == "ENABLED"
    denied = [
        (auditor.put_registry_scanning_configuration, {"scanType": "ENHANCED"}),
        (auditor.put_account_setting, {"name": "BLOB_MOUNTING", "value": "DISABLED"}),
        (auditor.describe_repository_creation_templates, {}),
        (auditor.create_repository_creation_template, {"prefix": "xy", "appliedFor": ["CREATE_ON_PUSH"]}),
        (auditor.batch_get_repository_scanning_configuration, {"repositoryNames": ["xy"]}),
    ]
    for call, kwargs in denied:
        code, message, _ = error_of(call, **kwargs)
        assert code == "AccessDeniedException", call
        assert "is not authorized to perform: ecr:" in message
    assert ecr.get_account_setting(name="BLOB_MOUNTING")["value"] == "ENABLED"


# repository creation templates


def full_template(account: str, prefix: str) -> dict[str, Any]:
    return {
        "prefix": prefix,
        "description": "services of team A",
        "encryptionConfiguration": {"encryptionType": "AES256"},
        "resourceTags": [{"Key": "team", "Value": "a"}, {"Key": "cost-center", "Value": "42"}],
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": wildcard("dev-*"),
        "repositoryPolicy": pull_policy(account),
        "lifecyclePolicy": LIFECYCLE_POLICY,
        "appliedFor": ["CREATE_ON_PUSH", "REPLICATION"],
    }


def test_creation_templates_create_describe_update_delete(ecr: Any, account: str) -> None:
    wanted = full_template(account, "team-a")
    created = ecr.create_repository_creation_template(**wanted)
    assert created["registryId"] == account
    template = created["repositoryCreationTemplate"]
    assert {key: template[key] for key in wanted} == wanted
    assert template["createdAt"] == template["updatedAt"]

    code, message, _ = error_of(ecr.create_repository_creation_template, **wanted)
    assert code == "TemplateAlreadyExistsException"
    assert message == (
        "The repository creation template with prefix 'team-a' already exists "
        f"in the registry with id '{account}'"
    )

    minimal = ecr.create_repository_creation_template(prefix="ROOT", appliedFor=["PULL_THROUGH_CACHE"])
    root = minimal["repositoryCreationTemplate"]
    assert root["imageTagMutability"] == "MUTABLE"
    assert root["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert root["resourceTags"] == []
    assert "repositoryPolicy" not in root
    ecr.create_repository_creation_template(prefix="team-b/", appliedFor=["CREATE_ON_PUSH"])

    everything = ecr.describe_repository_creation_templates()
    assert everything["registryId"] == account
    assert [t["prefix"] for t in everything["repositoryCreationTemplates"]] == ["ROOT", "team-a", "team-b/"]
    (only,) = ecr.describe_repository_creation_templates(prefixes=["team-a"])["repositoryCreationTemplates"]
    assert only == template
    assert ecr.describe_repository_creation_templates(prefixes=["nope"])["repositoryCreationTemplates"] == []
    pages = ecr.get_paginator("describe_repository_creation_templates").paginate(
        PaginationConfig={"PageSize": 1}
    )
    assert [[t["prefix"] for t in page["repositoryCreationTemplates"]] for page in pages] == [
        ["ROOT"],
        ["team-a"],
        ["team-b/"],
    ]

    # Terraform sends only what changed; empty strings and lists clear a member.
    updated = ecr.update_repository_creation_template(
        prefix="team-a", description="", resourceTags=[], imageTagMutability="IMMUTABLE", repositoryPolicy=""
    )["repositoryCreationTemplate"]
    assert "description" not in updated
    assert updated["resourceTags"] == []
    assert updated["imageTagMutability"] == "IMMUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in updated
    assert "repositoryPolicy" not in updated
    assert updated["lifecyclePolicy"] == LIFECYCLE_POLICY
    assert updated["appliedFor"] == ["CREATE_ON_PUSH", "REPLICATION"]
    assert updated["createdAt"] == template["createdAt"]
    assert updated["updatedAt"] >= template["updatedAt"]

    deleted = ecr.delete_repository_creation_template(prefix="team-a")["repositoryCreationTemplate"]
    assert deleted == updated
    code, message, _ = error_of(ecr.delete_repository_creation_template, prefix="team-a")
    assert code == "TemplateNotFoundException"
    assert message == (
        "The repository creation template with prefix 'team-a' does not exist "
        f"in the registry with id '{account}'"
    )
    code, _, _ = error_of(ecr.update_repository_creation_template, prefix="team-a", description="x")
    assert code == "TemplateNotFoundException"


def test_creation_templates_are_validated(ecr: Any, account: str) -> None:
    kms_key = f"arn:aws:kms:us-east-1:{account}:key/abc-1"
    refused: list[tuple[str, Any]] = [
        ("prefix", "Team_A"),
        ("prefix", "/team"),
        ("appliedFor", []),
        ("appliedFor", ["ON_A_WHIM"]),
        ("repositoryPolicy", "{not json"),
        ("repositoryPolicy", json.dumps({"Version": "2012-10-17", "Statement": []})),
        ("lifecyclePolicy", json.dumps({"rules": []}) + " " * 100),
        ("imageTagMutability", "IMMUTABLE_WITH_EXCLUSION"),
        ("resourceTags", [{"Key": "aws:reserved", "Value": "x"}]),
        ("resourceTags", [{"Key": f"k{i}", "Value": "v"} for i in range(51)]),
        ("encryptionConfiguration", {"encryptionType": "AES256", "kmsKey": kms_key}),
        ("customRoleArn", "arn:aws:iam::999999999999:role/elsewhere"),
        ("description", "d" * 257),
    ]
    for member, value in refused:
        request = {"prefix": "checked", "appliedFor": ["CREATE_ON_PUSH"], member: value}
        code, message, status = error_of(ecr.create_repository_creation_template, **request)
        assert (code, status) == ("InvalidParameterException", 400), (member, value, message)
    assert ecr.describe_repository_creation_templates()["repositoryCreationTemplates"] == []

    # An empty KMS key is no key; a role of the registry's account is accepted.
    role = f"arn:aws:iam::{account}:role/ecr-templates"
    ecr.create_repository_creation_template(
        prefix="checked",
        appliedFor=["CREATE_ON_PUSH"],
        encryptionConfiguration={"encryptionType": "AES256", "kmsKey": ""},
        customRoleArn=role,
    )
    (stored,) = ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
    assert stored["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert stored["customRoleArn"] == role
    code, _, _ = error_of(ecr.update_repository_creation_template, prefix="checked", appliedFor=["NEVER"])
    assert code == "InvalidParameterException"


def skopeo_push(skopeo: Cli, server: RunningServer, tmp_path: Path, repository: str, tag: str) -> None:
    layout = OciLayout.create(tmp_path / f"layout-{repository.replace('/', '-')}")
    layout.add(tag, build_image(random.Random(repository), layers=1))
    skopeo.run(
        "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", f"{server.user}:{server.password}",
        f"oci:{layout.path}:{tag}", f"docker://{server.registry}/{repository}:{tag}",
    )  # fmt: skip


def test_push_creates_repository_from_create_on_push_template(
    server: RunningServer, ecr: Any, account: str, skopeo: Cli, tmp_path: Path
) -> None:
    template = full_template(account, "team-a")
    template["imageTagMutability"] = "IMMUTABLE"
    del template["imageTagMutabilityExclusionFilters"]
    ecr.create_repository_creation_template(**template)
    ecr.create_repository_creation_template(
        prefix="ROOT", appliedFor=["REPLICATION"], imageTagMutability="IMMUTABLE"
    )

    skopeo_push(skopeo, server, tmp_path, "team-a/new", "v1")
    skopeo_push(skopeo, server, tmp_path, "elsewhere/new", "v1")

    (created,) = ecr.describe_repositories(repositoryNames=["team-a/new"])["repositories"]
    assert created["imageTagMutability"] == "IMMUTABLE"
    assert created["encryptionConfiguration"] == {"encryptionType": "AES256"}
    tags = ecr.list_tags_for_resource(resourceArn=created["repositoryArn"])["tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "a", "cost-center": "42"}
    policy = ecr.get_repository_policy(repositoryName="team-a/new")["policyText"]
    assert json.loads(policy) == json.loads(template["repositoryPolicy"])

    # No CREATE_ON_PUSH template matches: the defaults (ROOT applies to replication only).
    (plain,) = ecr.describe_repositories(repositoryNames=["elsewhere/new"])["repositories"]
    assert plain["imageTagMutability"] == "MUTABLE"
    assert ecr.list_tags_for_resource(resourceArn=plain["repositoryArn"])["tags"] == []
    code, _, _ = error_of(ecr.get_repository_policy, repositoryName="elsewhere/new")
    assert code == "RepositoryPolicyNotFoundException"

    # The template's immutability holds for the pushed tag.
    with httpx.Client(base_url=server.url, auth=server.auth) as oci:
        manifest = oci.get(
            "/v2/team-a/new/manifests/v1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
        )
        other = json.loads(manifest.content)
        other["annotations"] = {"changed": "yes"}
        moved = oci.put(
            "/v2/team-a/new/manifests/v1",
            content=json.dumps(other).encode(),
            headers={"Content-Type": manifest.headers["content-type"]},
        )
    assert moved.status_code in (400, 409), moved.text
