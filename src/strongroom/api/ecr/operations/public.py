"""ECR Public (``ecr-public``, target prefix ``SpencerFrontendService``): public repositories
and their catalog data, the registry's catalog data, repository policies, resource tags and
sign-in tokens (reference/ecr-api.md §3).

Public and private repositories share one namespace (DESIGN: visibility is a flag on the
repository). A public repository may be pulled over ``/v2/`` by anyone, signed in or not;
pushing still needs ECR permissions. ECR Public sees public repositories only: to it a
private one does not exist. Its ARNs have no region:
``arn:aws:ecr-public::<account>:repository/<name>``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from strongroom.api.ecr.call import ECR_PUBLIC, EcrCall, Operation, Result, registry_resource, table
from strongroom.api.ecr.errors import RepositoryCatalogDataNotFound
from strongroom.api.ecr.model import InvalidParameter
from strongroom.api.ecr.operations.repositories import described_repositories, resource_tags
from strongroom.api.ecr.pagination import next_token, page_size, position
from strongroom.auth.authenticator import REGISTRY_LOGIN_USER
from strongroom.errors import NameUnknown
from strongroom.oci.names import validate_name
from strongroom.registry.policy_review import audit_findings
from strongroom.registry.repositories import NewRepository, Repository

REGISTRY_CATALOG_SETTING = "public-catalog"
CATALOG_MEMBERS = ("description", "architectures", "operatingSystems", "aboutText", "usageText")
"""RepositoryCatalogDataInput members stored as given; ``logoImageBlob`` becomes ``logoUrl``."""
_LOGO_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))
_REPOSITORY_ARN = re.compile(r"^arn:aws:ecr-public::(?P<account>[0-9]{12}):repository/(?P<name>.+)$")
_SCAN_BATCH = 200
"""Repositories read at a time while paging over the public ones."""


# rendering


def render_repository(call: EcrCall, repository: Repository) -> dict[str, Any]:
    return {
        "repositoryArn": call.repository_arn(repository.account_id, repository.name),
        "registryId": repository.account_id,
        "repositoryName": repository.name,
        "repositoryUri": call.repository_uri(repository.account_id, repository.name),
        "createdAt": repository.created_at,
    }


def catalog_document(data: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a RepositoryCatalogDataInput: the logo as a ``data:`` URL, since
    Strongroom has no gallery to serve it from."""
    document = {key: data[key] for key in CATALOG_MEMBERS if key in data}
    logo: bytes = data.get("logoImageBlob") or b""
    if logo:
        media_type = next(
            (kind for magic, kind in _LOGO_TYPES if logo.startswith(magic)), "application/octet-stream"
        )
        document["logoUrl"] = f"data:{media_type};base64,{base64.b64encode(logo).decode('ascii')}"
    return document


def render_catalog(document: Mapping[str, Any]) -> dict[str, Any]:
    return {**document, "marketplaceCertified": False}


def _tags(tags: Sequence[Mapping[str, str]]) -> dict[str, str]:
    # ECR Public's Tag has no required members: a missing key is an empty (invalid) one.
    return resource_tags([{"Key": tag.get("Key", ""), "Value": tag.get("Value", "")} for tag in tags])


# public repositories


async def _is_public(call: EcrCall, repository: Repository) -> bool:
    return (await call.services.repository_store.repository_documents(repository.id)).public


async def public_repository(call: EcrCall, account_id: str, name: str) -> Repository:
    """The repository, if it exists and is public."""
    repository = await call.services.repositories.get(account_id, name)
    if not await _is_public(call, repository):
        raise NameUnknown(name)
    return repository


async def _public_page(
    call: EcrCall, account_id: str, after: str | None, limit: int
) -> tuple[list[Repository], bool]:
    """Up to ``limit`` public repositories after ``after`` in name order, and whether more follow."""
    found: list[Repository] = []
    while True:
        batch = await call.services.repository_store.list_repositories(
            account_id, after=after, limit=_SCAN_BATCH
        )
        for repository in batch:
            if await _is_public(call, repository):
                if len(found) == limit:
                    return found, True
                found.append(repository)
        if len(batch) < _SCAN_BATCH:
            return found, False
        after = batch[-1].name


async def create_repository(call: EcrCall) -> Result:
    account, name = call.registry_id, call.repository_name
    validate_name(name)
    catalog = catalog_document(call.params.get("catalogData") or {})
    new = NewRepository(account_id=account, name=name, public=True, catalog_data=json.dumps(catalog))
    repository = await call.services.repository_store.create_repository(
        new, _tags(call.params.get("tags") or ()), call.services.clock.now()
    )
    return {"repository": render_repository(call, repository), "catalogData": render_catalog(catalog)}


async def describe_repositories(call: EcrCall) -> Result:
    account = call.registry_id
    names = call.params.get("repositoryNames")
    if names is not None:
        if "nextToken" in call.params or "maxResults" in call.params:
            raise InvalidParameter("repositoryNames cannot be combined with nextToken or maxResults")
        found = await call.services.repositories.describe(account, names=names, after=None, limit=len(names))
        for repository in found:
            if not await _is_public(call, repository):
                raise NameUnknown(repository.name)
        return {"repositories": [render_repository(call, repository) for repository in found]}
    page, more = await _public_page(call, account, position(call.params), page_size(call.params))
    result: dict[str, Any] = {"repositories": [render_repository(call, repository) for repository in page]}
    if more:
        result["nextToken"] = next_token(page[-1].name)
    return result


async def delete_repository(call: EcrCall) -> Result:
    account, name = call.registry_id, call.repository_name
    await public_repository(call, account, name)
    deleted = await call.services.repositories.delete(account, name, force=bool(call.params.get("force")))
    return {"repository": render_repository(call, deleted)}


# catalog data


async def get_repository_catalog_data(call: EcrCall) -> Result:
    account, name = call.registry_id, call.repository_name
    repository = await public_repository(call, account, name)
    stored = (await call.services.repository_store.repository_documents(repository.id)).catalog_data
    if stored is None:
        raise RepositoryCatalogDataNotFound(account, name)
    return {"catalogData": render_catalog(json.loads(stored))}


async def put_repository_catalog_data(call: EcrCall) -> Result:
    """Replaces the whole catalog data, logo included."""
    repository = await public_repository(call, call.registry_id, call.repository_name)
    catalog = catalog_document(call.params["catalogData"])
    await call.services.repository_store.update_repository(repository.id, catalog_data=json.dumps(catalog))
    return {"catalogData": render_catalog(catalog)}


async def _registry_catalog(call: EcrCall, account: str) -> dict[str, Any]:
    stored = await call.services.repository_store.account_setting(account, REGISTRY_CATALOG_SETTING)
    return json.loads(stored) if stored else {}


async def get_registry_catalog_data(call: EcrCall) -> Result:
    return {"registryCatalogData": await _registry_catalog(call, call.own_registry())}


async def put_registry_catalog_data(call: EcrCall) -> Result:
    account = call.own_registry()
    catalog = await _registry_catalog(call, account)
    if "displayName" in call.params:
        catalog["displayName"] = call.params["displayName"]
        await call.services.repository_store.put_account_setting(
            account, REGISTRY_CATALOG_SETTING, json.dumps(catalog), call.services.clock.now()
        )
    return {"registryCatalogData": catalog}


async def describe_registries(call: EcrCall) -> Result:
    """The caller's registry, the only one; it has no aliases and is not verified."""
    account = call.own_registry()
    registry = {
        "registryId": account,
        "registryArn": registry_resource(call),
        "registryUri": call.repository_uri(account, "").rstrip("/"),
        "verified": False,
        "aliases": [],
    }
    return {"registries": [registry] if position(call.params) is None else []}


# repository policy


async def set_repository_policy(call: EcrCall) -> Result:
    account, name, text = call.registry_id, call.repository_name, call.params["policyText"]
    await public_repository(call, account, name)
    found = await call.services.repositories.set_policy(account, name, text, public=True)
    call.audit_detail["findings"] = audit_findings(found)
    return {"registryId": account, "repositoryName": name, "policyText": text}


async def get_repository_policy(call: EcrCall) -> Result:
    account, name = call.registry_id, call.repository_name
    await public_repository(call, account, name)
    text = await call.services.repositories.policy(account, name, public=True)
    return {"registryId": account, "repositoryName": name, "policyText": text}


async def delete_repository_policy(call: EcrCall) -> Result:
    account, name = call.registry_id, call.repository_name
    await public_repository(call, account, name)
    text = await call.services.repositories.delete_policy(account, name, public=True)
    return {"registryId": account, "repositoryName": name, "policyText": text}


# resource tags


def tagged_resource(call: EcrCall) -> str:
    """The public repository ARN in ``resourceArn`` (authorized as given)."""
    arn = str(call.params["resourceArn"])
    if _REPOSITORY_ARN.match(arn) is None:
        raise InvalidParameter(
            "Invalid parameter at 'resourceArn' failed to satisfy constraint: "
            "'must be an ECR Public repository ARN'"
        )
    return arn


async def _tagged_repository(call: EcrCall) -> Repository:
    match = _REPOSITORY_ARN.match(tagged_resource(call))
    assert match is not None
    return await public_repository(call, match.group("account"), match.group("name"))


async def tag_resource(call: EcrCall) -> Result:
    repository = await _tagged_repository(call)
    await call.services.repository_store.tag_repository(repository.id, _tags(call.params["tags"]))
    return {}


async def untag_resource(call: EcrCall) -> Result:
    repository = await _tagged_repository(call)
    await call.services.repository_store.untag_repository(repository.id, call.params["tagKeys"])
    return {}


async def list_tags_for_resource(call: EcrCall) -> Result:
    repository = await _tagged_repository(call)
    tags = await call.services.repository_store.resource_tags(repository.id)
    return {"tags": [{"Key": key, "Value": value} for key, value in tags.items()]}


# sign-in


async def get_authorization_token(call: EcrCall) -> Result:
    """One token (not a list, unlike ECR): base64(``AWS:<password>``), as ``aws ecr-public
    get-login-password`` expects; it signs in to the same ``/v2/`` as ECR's."""
    services = call.services
    password, expires = services.tokens.issue_login(call.principal, services.clock.now())
    token = base64.b64encode(f"{REGISTRY_LOGIN_USER}:{password}".encode()).decode("ascii")
    return {"authorizationData": {"authorizationToken": token, "expiresAt": expires}}


OPERATIONS = table(
    Operation(ECR_PUBLIC, "CreateRepository", create_repository, mutates=True),
    Operation(ECR_PUBLIC, "DescribeRepositories", describe_repositories, resource=described_repositories),
    Operation(ECR_PUBLIC, "DeleteRepository", delete_repository, mutates=True),
    Operation(ECR_PUBLIC, "GetRepositoryCatalogData", get_repository_catalog_data),
    Operation(ECR_PUBLIC, "PutRepositoryCatalogData", put_repository_catalog_data, mutates=True),
    Operation(ECR_PUBLIC, "GetRegistryCatalogData", get_registry_catalog_data, resource=registry_resource),
    Operation(
        ECR_PUBLIC,
        "PutRegistryCatalogData",
        put_registry_catalog_data,
        resource=registry_resource,
        mutates=True,
    ),
    Operation(ECR_PUBLIC, "DescribeRegistries", describe_registries, resource=registry_resource),
    Operation(ECR_PUBLIC, "SetRepositoryPolicy", set_repository_policy, mutates=True),
    Operation(ECR_PUBLIC, "GetRepositoryPolicy", get_repository_policy),
    Operation(ECR_PUBLIC, "DeleteRepositoryPolicy", delete_repository_policy, mutates=True),
    Operation(ECR_PUBLIC, "TagResource", tag_resource, resource=tagged_resource, mutates=True),
    Operation(ECR_PUBLIC, "UntagResource", untag_resource, resource=tagged_resource, mutates=True),
    Operation(ECR_PUBLIC, "ListTagsForResource", list_tags_for_resource, resource=tagged_resource),
    Operation(ECR_PUBLIC, "GetAuthorizationToken", get_authorization_token, resource=registry_resource),
)
