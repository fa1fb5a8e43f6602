"""ECR repository operations against a real server with boto3: create, describe, delete,
tag mutability, scan on push, repository and registry policies, resource tags, and
DescribeRegistry with the replication configuration — with ECR's documented errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from support.aws import aws_client, error_of
from support.images import push_random_image
from support.server import RunningServer

pytestmark = pytest.mark.e2e


def pull_policy(account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "pull",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                }
            ],
        }
    )


def test_create_describe_and_delete(ecr: Any, account: str, shared_server: RunningServer) -> None:
    created = ecr.create_repository(
        repositoryName="ml/fraud-model",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
        tags=[{"Key": "team", "Value": "risk"}],
    )["repository"]
    assert created["repositoryArn"] == f"arn:aws:ecr:us-east-1:{account}:repository/ml/fraud-model"
    assert created["registryId"] == account
    assert created["repositoryUri"] == f"{shared_server.registry}/ml/fraud-model"
    assert created["imageTagMutability"] == "IMMUTABLE"
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    assert created["encryptionConfiguration"] == {"encryptionType": "AES256"}
    described = ecr.describe_repositories(repositoryNames=["ml/fraud-model"])["repositories"]
    assert described == [created]
    assert ecr.describe_repositories(registryId=account, repositoryNames=["ml/fraud-model"])["repositories"]
    deleted = ecr.delete_repository(repositoryName="ml/fraud-model")["repository"]
    assert deleted["repositoryName"] == "ml/fraud-model"
    code, message, _ = error_of(ecr.describe_repositories, repositoryNames=["ml/fraud-model"])
    assert code == "RepositoryNotFoundException"
    assert (
        message
        == f"The repository with name 'ml/fraud-model' does not exist in the registry with id '{account}'"
    )


def test_create_errors(ecr: Any, account: str) -> None:
    ecr.create_repository(repositoryName="dup/repo")
    code, message, status = error_of(ecr.create_repository, repositoryName="dup/repo")
    assert (code, status) == ("RepositoryAlreadyExistsException", 400)
    assert (
        message == f"The repository with name 'dup/repo' already exists in the registry with id '{account}'"
    )
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    assert (
        error_of(ecr.create_repository, repositoryName="many/tags", tags=too_many)[0]
        == "TooManyTagsException"
    )
    long_key = [{"Key": "k" * 129, "Value": "v"}]
    assert error_of(ecr.create_repository, repositoryName="long/key", tags=long_key)[0] == (
        "InvalidTagParameterException"
    )
    reserved = [{"Key": "aws:owner", "Value": "v"}]
    assert error_of(ecr.create_repository, repositoryName="res/key", tags=reserved)[0] == (
        "InvalidTagParameterException"
    )
    filters_without_mode = error_of(
        ecr.create_repository,
        repositoryName="bad/filters",
        imageTagMutability="IMMUTABLE",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "dev-*"}],
    )
    assert filters_without_mode[0] == "InvalidParameterException"
    for failed in ("many/tags", "long/key", "res/key", "bad/filters"):
        assert (
            error_of(ecr.describe_repositories, repositoryNames=[failed])[0] == "RepositoryNotFoundException"
        )


def test_describe_paginates_in_name_order(ecr: Any) -> None:
    names = [f"page/r{i:02d}" for i in range(7)]
    for name in names:
        ecr.create_repository(repositoryName=name)
    paginator = ecr.get_paginator("describe_repositories")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 3}))
    listed = [r["repositoryName"] for page in pages for r in page["repositories"]]
    assert [n for n in listed if n.startswith("page/")] == names
    assert all(len(page["repositories"]) <= 3 for page in pages)
    code, _, _ = error_of(ecr.describe_repositories, repositoryNames=["page/r00"], maxResults=2)
    assert code == "InvalidParameterException"
    assert error_of(ecr.describe_repositories, nextToken="%%%")[0] == "InvalidParameterException"


def test_delete_refuses_a_repository_with_images_unless_forced(
    ecr: Any, account: str, shared_server: RunningServer
) -> None:
    ecr.create_repository(repositoryName="full/repo")
    push_random_image(shared_server, "full/repo", "v1")
    code, message, _ = error_of(ecr.delete_repository, repositoryName="full/repo")
    assert code == "RepositoryNotEmptyException"
    assert "still contains images" in message
    ecr.delete_repository(repositoryName="full/repo", force=True)
    with shared_server.client() as client:
        assert client.get("/v2/full/repo/tags/list").status_code == 404
    assert error_of(ecr.delete_repository, repositoryName="full/repo")[0] == "RepositoryNotFoundException"


def test_tag_mutability_modes(ecr: Any) -> None:
    ecr.create_repository(repositoryName="mut/repo")
    changed = ecr.put_image_tag_mutability(
        repositoryName="mut/repo",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "dev-*"}],
    )
    assert changed["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert changed["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": "dev-*"}]
    described = ecr.describe_repositories(repositoryNames=["mut/repo"])["repositories"][0]
    assert described["imageTagMutabilityExclusionFilters"] == changed["imageTagMutabilityExclusionFilters"]
    needs_filters = error_of(
        ecr.put_image_tag_mutability, repositoryName="mut/repo", imageTagMutability="MUTABLE_WITH_EXCLUSION"
    )
    assert needs_filters[0] == "InvalidParameterException"
    bad_filter = error_of(
        ecr.put_image_tag_mutability,
        repositoryName="mut/repo",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "no spaces"}],
    )
    assert bad_filter[0] == "InvalidParameterException"
    plain = ecr.put_image_tag_mutability(repositoryName="mut/repo", imageTagMutability="MUTABLE")
    assert "imageTagMutabilityExclusionFilters" not in plain
    missing = error_of(ecr.put_image_tag_mutability, repositoryName="mut/none", imageTagMutability="MUTABLE")
    assert missing[0] == "RepositoryNotFoundException"


def test_immutable_tags_hold_for_oci_pushes(ecr: Any, shared_server: RunningServer) -> None:
    ecr.create_repository(repositoryName="mut/oci", imageTagMutability="IMMUTABLE")
    push_random_image(shared_server, "mut/oci", "v1")
    response = push_random_image(shared_server, "mut/oci", "v1", check=False)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "TAG_INVALID"
    ecr.put_image_tag_mutability(
        repositoryName="mut/oci",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "dev-*"}],
    )
    push_random_image(shared_server, "mut/oci", "dev-1")
    push_random_image(shared_server, "mut/oci", "dev-1")  # excluded: may move
    assert push_random_image(shared_server, "mut/oci", "v1", check=False).status_code == 400


def test_scan_on_push_setting(ecr: Any) -> None:
    ecr.create_repository(repositoryName="scan/repo")
    result = ecr.put_image_scanning_configuration(
        repositoryName="scan/repo", imageScanningConfiguration={"scanOnPush": True}
    )
    assert result["imageScanningConfiguration"] == {"scanOnPush": True}
    described = ecr.describe_repositories(repositoryNames=["scan/repo"])["repositories"][0]
    assert described["imageScanningConfiguration"] == {"scanOnPush": True}


def test_repository_policy(ecr: Any, account: str) -> None:
    ecr.create_repository(repositoryName="pol/repo")
    missing = error_of(ecr.get_repository_policy, repositoryName="pol/repo")
    assert missing[0] == "RepositoryPolicyNotFoundException"
    assert missing[1] == (
        "Repository policy does not exist for the repository with name 'pol/repo' "
        f"in the registry with id '{account}'"
    )
    text = pull_policy(account)
    assert ecr.set_repository_policy(repositoryName="pol/repo", policyText=text)["policyText"] == text
    got = ecr.get_repository_policy(repositoryName="pol/repo")
    assert (got["policyText"], got["repositoryName"], got["registryId"]) == (text, "pol/repo", account)
    assert ecr.delete_repository_policy(repositoryName="pol/repo")["policyText"] == text
    assert error_of(ecr.delete_repository_policy, repositoryName="pol/repo")[0] == (
        "RepositoryPolicyNotFoundException"
    )
    malformed = error_of(ecr.set_repository_policy, repositoryName="pol/repo", policyText='{"Statement": 1}')
    assert malformed[0] == "InvalidParameterException"
    no_repo = error_of(ecr.set_repository_policy, repositoryName="pol/none", policyText=text)
    assert no_repo[0] == "RepositoryNotFoundException"


def test_resource_tags(ecr: Any, account: str) -> None:
    arn = ecr.create_repository(repositoryName="tags/repo", tags=[{"Key": "a", "Value": "1"}])["repository"][
        "repositoryArn"
    ]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "one"}])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"Key": "a", "Value": "one"},
        {"Key": "b", "Value": "2"},
    ]
    ecr.untag_resource(resourceArn=arn, tagKeys=["a", "never-there"])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]
    fill = [{"Key": f"k{i}", "Value": "v"} for i in range(49)]
    ecr.tag_resource(resourceArn=arn, tags=fill)
    assert error_of(ecr.tag_resource, resourceArn=arn, tags=[{"Key": "one-more", "Value": "v"}])[0] == (
        "TooManyTagsException"
    )
    unknown = f"arn:aws:ecr:us-east-1:{account}:repository/tags/none"
    assert error_of(ecr.list_tags_for_resource, resourceArn=unknown)[0] == "RepositoryNotFoundException"
    assert error_of(ecr.list_tags_for_resource, resourceArn="arn:aws:s3:::bucket")[0] == (
        "InvalidParameterException"
    )


def test_registry_policy_and_describe_registry(ecr: Any, account: str) -> None:
    assert error_of(ecr.get_registry_policy)[:2] == (
        "RegistryPolicyNotFoundException",
        f"Registry policy does not exist in the registry with id '{account}'",
    )
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                    "Action": ["ecr:ReplicateImage", "ecr:CreateRepository"],
                    "Resource": f"arn:aws:ecr:us-east-1:{account}:repository/*",
                }
            ],
        }
    )
    put = ecr.put_registry_policy(policyText=text)
    assert (put["registryId"], put["policyText"]) == (account, text)
    assert ecr.get_registry_policy()["policyText"] == text
    assert ecr.delete_registry_policy()["policyText"] == text
    assert error_of(ecr.delete_registry_policy)[0] == "RegistryPolicyNotFoundException"
    assert ecr.describe_registry()["replicationConfiguration"] == {"rules": []}
    configuration = {
        "rules": [
            {
                "destinations": [{"region": "us-west-2", "registryId": account}],
                "repositoryFilters": [{"filter": "prod", "filterType": "PREFIX_MATCH"}],
            }
        ]
    }
    put = ecr.put_replication_configuration(replicationConfiguration=configuration)
    assert put["replicationConfiguration"] == configuration
    assert ecr.describe_registry()["replicationConfiguration"] == configuration
    to_itself = {"rules": [{"destinations": [{"region": "us-east-1", "registryId": account}]}]}
    assert error_of(ecr.put_replication_configuration, replicationConfiguration=to_itself)[0] == (
        "InvalidParameterException"
    )
    ecr.put_replication_configuration(replicationConfiguration={"rules": []})


def test_other_registries_are_not_reachable_without_a_policy(ecr: Any) -> None:
    other = "210987654321"
    code, message, _ = error_of(ecr.describe_repositories, registryId=other, repositoryNames=["x1"])
    assert code == "AccessDeniedException"
    assert f"arn:aws:ecr:us-east-1:{other}:repository/x1" in message


def test_resource_tag_conditions_decide_access(ecr: Any, shared_server: RunningServer) -> None:
    shared_server.cli("iam", "create-user", "--user-name", "tag-reader")
    key = shared_server.cli_json("iam", "create-access-key", "--user-name", "tag-reader")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ecr:ListImages", "ecr:DescribeRepositories"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "risk"}},
            }
        ],
    }
    shared_server.cli(
        "iam", "put-user-policy", "--user-name", "tag-reader", "--policy-name", "by-tag",
        "--policy-document", json.dumps(policy),
    )  # fmt: skip
    tagged = ecr.create_repository(repositoryName="cond/tagged", tags=[{"Key": "team", "Value": "risk"}])
    ecr.create_repository(repositoryName="cond/other", tags=[{"Key": "team", "Value": "ops"}])
    auth = (key["AccessKeyId"], key["SecretAccessKey"])
    with httpx.Client(base_url=shared_server.url, auth=auth) as client:
        assert client.get("/v2/cond/tagged/tags/list").status_code == 200
        assert client.get("/v2/cond/other/tags/list").status_code == 403
    reader = aws_client(shared_server, "ecr", *auth)
    assert reader.describe_repositories(repositoryNames=["cond/tagged"])["repositories"]
    assert (
        error_of(reader.describe_repositories, repositoryNames=["cond/other"])[0] == "AccessDeniedException"
    )
    ecr.untag_resource(resourceArn=tagged["repository"]["repositoryArn"], tagKeys=["team"])
    assert (
        error_of(reader.describe_repositories, repositoryNames=["cond/tagged"])[0] == "AccessDeniedException"
    )
