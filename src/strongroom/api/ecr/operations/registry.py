"""Registry-wide operations: sign-in tokens, the registry policy, DescribeRegistry and
replication (reference/ecr-api.md §4.4, §4.5)."""

from __future__ import annotations

import base64
import json
from typing import Any

from strongroom.api.ecr.call import ECR, EcrCall, Operation, Result, registry_resource, table
from strongroom.api.ecr.errors import RegistryPolicyNotFound
from strongroom.api.ecr.model import InvalidParameter
from strongroom.api.ecr.operations.images import image_id_of, render_image_id
from strongroom.auth.authenticator import REGISTRY_LOGIN_USER
from strongroom.registry.images import ImageId
from strongroom.registry.policy_review import audit_findings
from strongroom.replication.status import status_document

REPLICATION_SETTING = "replication"


async def get_authorization_token(call: EcrCall) -> Result:
    """``authorizationToken`` is base64(``AWS:<password>``), valid 12 hours, for every
    registry the caller may reach (``registryIds`` is deprecated and only echoed)."""
    services = call.services
    password, expires = services.tokens.issue_login(call.principal, services.clock.now())
    token = base64.b64encode(f"{REGISTRY_LOGIN_USER}:{password}".encode()).decode("ascii")
    endpoint = services.settings.resolved_public_url
    count = len(call.params.get("registryIds") or ()) or 1
    return {
        "authorizationData": [
            {"authorizationToken": token, "expiresAt": expires, "proxyEndpoint": endpoint}
            for _ in range(count)
        ]
    }


async def put_registry_policy(call: EcrCall) -> Result:
    account = call.own_registry()
    text = call.params["policyText"]
    found = call.services.policy_review.review(text, f"registry {account}")
    call.audit_detail["findings"] = audit_findings(found)
    await call.services.iam.put_registry_policy(account, text, call.services.clock.now())
    return {"registryId": account, "policyText": text}


async def get_registry_policy(call: EcrCall) -> Result:
    account = call.own_registry()
    text = await call.services.iam.get_registry_policy(account)
    if text is None:
        raise RegistryPolicyNotFound(account)
    return {"registryId": account, "policyText": text}


async def delete_registry_policy(call: EcrCall) -> Result:
    result = await get_registry_policy(call)
    assert result is not None
    await call.services.iam.put_registry_policy(call.own_registry(), None, call.services.clock.now())
    return result


async def describe_registry(call: EcrCall) -> Result:
    account = call.own_registry()
    stored = await call.services.repository_store.account_setting(account, REPLICATION_SETTING)
    replication: dict[str, Any] = json.loads(stored) if stored else {"rules": []}
    return {"registryId": account, "replicationConfiguration": replication}


async def put_replication_configuration(call: EcrCall) -> Result:
    """Stored and validated; replicating is the replication engine's job."""
    account = call.own_registry()
    configuration = call.params["replicationConfiguration"]
    for rule in configuration["rules"]:
        for destination in rule["destinations"]:
            if destination["registryId"] == account and destination["region"] == call.region:
                raise InvalidParameter(
                    "Invalid parameter at 'replicationConfiguration': "
                    "a rule cannot replicate to its own registry and region"
                )
    await call.services.repository_store.put_account_setting(
        account, REPLICATION_SETTING, json.dumps(configuration), call.services.clock.now()
    )
    return {"replicationConfiguration": configuration}


async def describe_image_replication_status(call: EcrCall) -> Result:
    image_id = image_id_of(call.params["imageId"])
    digest, statuses = await call.services.replication.of(call.repository, image_id)
    return {
        "repositoryName": call.repository_name,
        "imageId": render_image_id(ImageId(digest, image_id.tag)),
        "replicationStatuses": [status_document(status) for status in statuses],
    }


OPERATIONS = table(
    Operation(ECR, "DescribeImageReplicationStatus", describe_image_replication_status),
    Operation(ECR, "GetAuthorizationToken", get_authorization_token, resource=registry_resource),
    Operation(ECR, "PutRegistryPolicy", put_registry_policy, resource=registry_resource, mutates=True),
    Operation(ECR, "GetRegistryPolicy", get_registry_policy, resource=registry_resource),
    Operation(ECR, "DeleteRegistryPolicy", delete_registry_policy, resource=registry_resource, mutates=True),
    Operation(ECR, "DescribeRegistry", describe_registry, resource=registry_resource),
    Operation(
        ECR,
        "PutReplicationConfiguration",
        put_replication_configuration,
        resource=registry_resource,
        mutates=True,
    ),
)
