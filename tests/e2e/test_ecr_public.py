"""ECR Public against a real server with boto3's ``ecr-public`` client: public repositories
with catalog data, the registry's catalog data, DescribeRegistries, repository policies,
resource tags and sign-in tokens — with ECR Public's errors. A repository created here is
pulled anonymously over /v2/ after skopeo pushed to it; private repositories stay refused
and invisible to ECR Public."""

from __future__ import annotations

import base64
import json
import random
import time
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

PNG_LOGO = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
"""Enough of a PNG for the server to recognise the type; it is stored, never decoded."""
CATALOG = {
    "description": "Tools published by the ML platform team",
    "architectures": ["x86-64", "ARM 64"],
    "operatingSystems": ["Linux"],
    "aboutText": "# tools\nBuilt in CI.",
    "usageText": "docker pull …",
}


@pytest.fixture(scope="module")
def public(shared_server: RunningServer) -> Any:
    return aws_client(shared_server, "ecr-public")


def pull_policy(account: str) -> str:
    statement = {
        "Sid": "Pull",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["ecr-public:BatchCheckLayerAvailability"],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_create_describe_and_delete(
    public: Any, ecr: Any, account: str, shared_server: RunningServer
) -> None:
    before = time.time()
    created = public.create_repository(
        repositoryName="tools/cli",
        catalogData={**CATALOG, "logoImageBlob": PNG_LOGO},
        tags=[{"Key": "team", "Value": "platform"}],
    )
    repository = created["repository"]
    assert repository["repositoryArn"] == f"arn:aws:ecr-public::{account}:repository/tools/cli"
    assert repository["registryId"] == account
    assert repository["repositoryName"] == "tools/cli"
    assert repository["repositoryUri"] == f"{shared_server.registry}/tools/cli"
    assert repository["createdAt"].timestamp() >= before - 1
    catalog = created["catalogData"]
    assert {key: catalog[key] for key in CATALOG} == CATALOG
    assert catalog["logoUrl"] == "data:image/png;base64," + base64.b64encode(PNG_LOGO).decode()
    assert catalog["marketplaceCertified"] is False

    assert public.describe_repositories(repositoryNames=["tools/cli"])["repositories"] == [repository]
    assert public.describe_repositories(registryId=account, repositoryNames=["tools/cli"])["repositories"]
    assert repository in public.describe_repositories()["repositories"]
    # One namespace: ECR sees the public repository as well.
    assert ecr.describe_repositories(repositoryNames=["tools/cli"])["repositories"][0]["repositoryName"] == (
        "tools/cli"
    )

    code, message, _ = error_of(public.create_repository, repositoryName="tools/cli")
    assert code == "RepositoryAlreadyExistsException"
    assert (
        message == f"The repository with name 'tools/cli' already exists in the registry with id '{account}'"
    )
    ecr.create_repository(repositoryName="tools/private")
    assert error_of(public.create_repository, repositoryName="tools/private")[0] == (
        "RepositoryAlreadyExistsException"
    )

    deleted = public.delete_repository(repositoryName="tools/cli")["repository"]
    assert deleted == repository
    code, message, _ = error_of(public.describe_repositories, repositoryNames=["tools/cli"])
    assert code == "RepositoryNotFoundException"
    assert (
        message == f"The repository with name 'tools/cli' does not exist in the registry with id '{account}'"
    )
    assert error_of(public.delete_repository, repositoryName="tools/cli")[0] == "RepositoryNotFoundException"


def test_private_repositories_do_not_exist_for_ecr_public(public: Any, ecr: Any) -> None:
    ecr.create_repository(repositoryName="hidden/model")
    public.create_repository(repositoryName="shown/model")
    names = [r["repositoryName"] for r in public.describe_repositories()["repositories"]]
    assert "shown/model" in names
    assert "hidden/model" not in names
    calls = [
        (public.describe_repositories, {"repositoryNames": ["shown/model", "hidden/model"]}),
        (public.delete_repository, {"repositoryName": "hidden/model"}),
        (public.get_repository_catalog_data, {"repositoryName": "hidden/model"}),
        (public.put_repository_catalog_data, {"repositoryName": "hidden/model", "catalogData": {}}),
        (public.get_repository_policy, {"repositoryName": "hidden/model"}),
        (public.set_repository_policy, {"repositoryName": "hidden/model", "policyText": "{}"}),
    ]
    for call, kwargs in calls:
        code, message, _ = error_of(call, **kwargs)
        assert code == "RepositoryNotFoundException", call
        assert "'hidden/model'" in message
    assert ecr.describe_repositories(repositoryNames=["hidden/model"])["repositories"]


def test_describe_repositories_pages_over_public_repositories_only(public: Any, ecr: Any) -> None:
    for index in range(4):
        public.create_repository(repositoryName=f"paged/public-{index}")
        ecr.create_repository(repositoryName=f"paged/private-{index}")
    pages = public.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 2})
    listed = [[r["repositoryName"] for r in page["repositories"]] for page in pages]
    paged = [name for page in listed for name in page if name.startswith("paged/")]
    assert paged == [f"paged/public-{index}" for index in range(4)]
    assert all(len(page) <= 2 for page in listed)
    code, _, _ = error_of(public.describe_repositories, repositoryNames=["paged/public-0"], maxResults=5)
    assert code == "InvalidParameterException"


def test_repository_names_follow_ecr_public_rules(public: Any) -> None:
    for name in ("Upper/case", "double__underscore", "x" * 206, "trailing/"):
        code, message, status = error_of(public.create_repository, repositoryName=name)
        assert (code, status) == ("InvalidParameterException", 400), name
        assert "repositoryName" in message


def test_catalog_data(public: Any, ecr: Any, account: str, shared_server: RunningServer) -> None:
    created = public.create_repository(repositoryName="catalog/bare")["catalogData"]
    assert created == {"marketplaceCertified": False}
    assert public.get_repository_catalog_data(repositoryName="catalog/bare")["catalogData"] == created

    put = public.put_repository_catalog_data(
        repositoryName="catalog/bare", registryId=account, catalogData={**CATALOG, "logoImageBlob": b"GIF89a"}
    )["catalogData"]
    assert put["logoUrl"] == "data:image/gif;base64," + base64.b64encode(b"GIF89a").decode()
    assert public.get_repository_catalog_data(repositoryName="catalog/bare")["catalogData"] == put
    # The whole catalog data is replaced, logo included.
    replaced = public.put_repository_catalog_data(
        repositoryName="catalog/bare", catalogData={"description": "new"}
    )["catalogData"]
    assert replaced == {"description": "new", "marketplaceCertified": False}

    code, message, _ = error_of(
        public.put_repository_catalog_data,
        repositoryName="catalog/bare",
        catalogData={"aboutText": "a" * 25601},
    )
    assert (code, message) == (
        "InvalidParameterException",
        "Invalid parameter at 'catalogData.aboutText' failed to satisfy constraint: "
        "'Member must have length less than or equal to 25600'",
    )
    code, _, _ = error_of(public.get_repository_catalog_data, repositoryName="catalog/missing")
    assert code == "RepositoryNotFoundException"

    # A repository made public outside ECR Public has no catalog data.
    ecr.create_repository(repositoryName="catalog/opened")
    shared_server.cli("repo", "set-visibility", "--repository-name", "catalog/opened", "public")
    code, message, _ = error_of(public.get_repository_catalog_data, repositoryName="catalog/opened")
    assert code == "RepositoryCatalogDataNotFoundException"
    assert "'catalog/opened'" in message
    public.put_repository_catalog_data(repositoryName="catalog/opened", catalogData={"description": "now"})
    got = public.get_repository_catalog_data(repositoryName="catalog/opened")["catalogData"]
    assert got["description"] == "now"


def test_registry_catalog_data_and_describe_registries(
    public: Any, account: str, shared_server: RunningServer
) -> None:
    assert public.get_registry_catalog_data()["registryCatalogData"] == {}
    put = public.put_registry_catalog_data(displayName="ML platform")
    assert put["registryCatalogData"] == {"displayName": "ML platform"}
    assert public.get_registry_catalog_data()["registryCatalogData"] == {"displayName": "ML platform"}
    assert public.put_registry_catalog_data()["registryCatalogData"] == {"displayName": "ML platform"}
    code, _, _ = error_of(public.put_registry_catalog_data, displayName="d" * 101)
    assert code == "InvalidParameterException"

    registries = public.describe_registries()
    assert registries["registries"] == [
        {
            "registryId": account,
            "registryArn": f"arn:aws:ecr-public::{account}:registry/{account}",
            "registryUri": shared_server.registry,
            "verified": False,
            "aliases": [],
        }
    ]
    assert "nextToken" not in registries
    pages = list(public.get_paginator("describe_registries").paginate())
    assert [len(page["registries"]) for page in pages] == [1]


def test_repository_policy(public: Any, account: str) -> None:
    public.create_repository(repositoryName="policy/tool")
    code, message, _ = error_of(public.get_repository_policy, repositoryName="policy/tool")
    assert code == "RepositoryPolicyNotFoundException"
    assert message == (
        "Repository policy does not exist for the repository with name 'policy/tool' "
        f"in the registry with id '{account}'"
    )
    text = pull_policy(account)
    put = public.set_repository_policy(repositoryName="policy/tool", policyText=text)
    assert (put["registryId"], put["repositoryName"], put["policyText"]) == (account, "policy/tool", text)
    got = public.get_repository_policy(repositoryName="policy/tool")
    assert (got["registryId"], got["repositoryName"], got["policyText"]) == (account, "policy/tool", text)
    deleted = public.delete_repository_policy(repositoryName="policy/tool")
    assert deleted["policyText"] == text
    assert error_of(public.delete_repository_policy, repositoryName="policy/tool")[0] == (
        "RepositoryPolicyNotFoundException"
    )
    code, _, _ = error_of(public.set_repository_policy, repositoryName="policy/tool", policyText="{nope")
    assert code == "InvalidParameterException"


def test_resource_tags(public: Any, ecr: Any, account: str) -> None:
    arn = public.create_repository(repositoryName="tags/tool", tags=[{"Key": "a", "Value": "1"}])[
        "repository"
    ]["repositoryArn"]
    assert arn == f"arn:aws:ecr-public::{account}:repository/tags/tool"
    public.tag_resource(resourceArn=arn, tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "one"}])
    listed = public.list_tags_for_resource(resourceArn=arn)["tags"]
    assert {t["Key"]: t["Value"] for t in listed} == {"a": "one", "b": "2"}
    public.untag_resource(resourceArn=arn, tagKeys=["a", "never-set"])
    assert public.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]

    code, _, _ = error_of(public.tag_resource, resourceArn=arn, tags=[{"Key": "aws:owner", "Value": "x"}])
    assert code == "InvalidTagParameterException"
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(60)]
    assert error_of(public.tag_resource, resourceArn=arn, tags=many)[0] == "TooManyTagsException"
    private_arn = f"arn:aws:ecr:us-east-1:{account}:repository/tags/tool"
    assert error_of(public.list_tags_for_resource, resourceArn=private_arn)[0] == "InvalidParameterException"
    ecr.create_repository(repositoryName="tags/private")
    hidden = f"arn:aws:ecr-public::{account}:repository/tags/private"
    assert error_of(public.list_tags_for_resource, resourceArn=hidden)[0] == "RepositoryNotFoundException"
    gone = f"arn:aws:ecr-public::{account}:repository/tags/gone"
    assert error_of(public.tag_resource, resourceArn=gone, tags=many[:1])[0] == "RepositoryNotFoundException"


def test_authorization_token_signs_in_to_the_registry(public: Any, shared_server: RunningServer) -> None:
    data = public.get_authorization_token()["authorizationData"]
    assert isinstance(data, dict)
    assert set(data) == {"authorizationToken", "expiresAt"}
    assert data["expiresAt"].timestamp() > time.time() + 3600
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":")
    assert user == "AWS"
    assert httpx.get(f"{shared_server.url}/v2/", auth=(user, password)).status_code == 200


def test_operations_strongroom_lacks_are_unsupported_commands(public: Any) -> None:
    public.create_repository(repositoryName="unsupported/tool")
    code, _, status = error_of(
        public.batch_check_layer_availability, repositoryName="unsupported/tool", layerDigests=["sha256:0"]
    )
    assert (code, status) == ("UnsupportedCommandException", 400)


def test_delete_needs_force_when_images_remain(public: Any, shared_server: RunningServer) -> None:
    public.create_repository(repositoryName="force/tool")
    push_over_http(shared_server, "force/tool")
    code, _, _ = error_of(public.delete_repository, repositoryName="force/tool")
    assert code == "RepositoryNotEmptyException"
    assert public.delete_repository(repositoryName="force/tool", force=True)["repository"][
        "repositoryName"
    ] == ("force/tool")


def push_over_http(server: RunningServer, repository: str) -> None:
    """A one-layer image over plain HTTP, for tests that only need content."""
    image = build_image(random.Random(repository), layers=1, files_per_layer=1, file_size=64)
    with server.client() as oci:
        for blob in (image.config, *image.layers):
            uploaded = oci.post(
                f"/v2/{repository}/blobs/uploads/", params={"digest": blob.digest}, content=blob.data
            )
            assert uploaded.status_code == 201, uploaded.text
        pushed = oci.put(
            f"/v2/{repository}/manifests/v1",
            content=image.manifest.data,
            headers={"Content-Type": image.manifest.media_type},
        )
        assert pushed.status_code == 201, pushed.text


def test_public_repository_is_pulled_anonymously(
    public: Any, ecr: Any, shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    public.create_repository(repositoryName="open/tool", catalogData={"description": "anyone may pull"})
    ecr.create_repository(repositoryName="closed/tool")
    for repository in ("open/tool", "closed/tool"):
        layout = OciLayout.create(tmp_path / repository.replace("/", "-"))
        layout.add("v1", build_image(random.Random(repository), layers=1))
        skopeo.run(
            "copy", "--quiet", "--dest-tls-verify=false",
            "--dest-creds", f"{shared_server.user}:{shared_server.password}",
            f"oci:{layout.path}:v1", f"docker://{shared_server.registry}/{repository}:v1",
        )  # fmt: skip

    with httpx.Client(base_url=shared_server.url) as anonymous:
        listed = anonymous.get("/v2/open/tool/tags/list")
        assert listed.status_code == 200, listed.text
        assert listed.json() == {"name": "open/tool", "tags": ["v1"]}
        assert anonymous.get("/v2/closed/tool/tags/list").status_code == 401
        assert anonymous.post("/v2/open/tool/blobs/uploads/").status_code == 401
    skopeo.run(
        "inspect", "--tls-verify=false", "--no-creds", f"docker://{shared_server.registry}/open/tool:v1"
    )
    skopeo.fails(
        "inspect", "--tls-verify=false", "--no-creds", f"docker://{shared_server.registry}/closed/tool:v1"
    )
