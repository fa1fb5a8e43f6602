"""The ``/admin/v1/pull-policies`` and ``/admin/v1/accepted-risks`` routes (ADR 0014).

Every route acts on the caller's own account. Its resource is the repository's ECR ARN
(a prefix policy's is ``repository/<prefix>*``; listing everything is ``repository/*``),
so ``strongroom:`` actions are granted per repository as ``ecr:`` ones are; a repository
named under another account (``<12 digits>/name``) is refused before any policy is asked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from strongroom.api.admin.endpoint import AdminCall, AdminRoute
from strongroom.errors import AccessDenied, InvalidRequest
from strongroom.oci.names import RepositoryRef
from strongroom.registry.pull_policies import (
    PREFIX,
    REPOSITORY,
    Actor,
    expiry_of,
    policy_document,
    risk_document,
)

_POLICY_FIELDS = {"scope", "name", "maxSeverity", "unsafeModelSeverity", "blockUnscanned"}
_RISK_FIELDS = {"repository", "findingId", "reason", "expiresAt", "imageDigest"}
MAX_NAME = 256


def actor(call: AdminCall) -> Actor:
    return Actor(call.principal.arn, call.request.client.host if call.request.client else None)


def own_name(call: AdminCall, name: object, field: str) -> str:
    """A repository name (or prefix) of the caller's account."""
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise InvalidRequest(f"{field} must be a string of at most {MAX_NAME} characters")
    account = call.principal.account_id
    first = name.split("/", 1)[0]
    if len(first) == 12 and first.isdigit() and "/" in name:
        if first != account:
            raise AccessDenied(
                f"User: {call.principal.arn} is not authorized to act on pull policies of account {first}"
            )
        name = name.split("/", 1)[1]
    return name


def scope_and_name(call: AdminCall) -> tuple[str, str]:
    if call.request.method == "PUT":
        document = call.json()
        scope, name = document.get("scope", REPOSITORY), document.get("name")
    else:
        scope, name = call.query("scope") or REPOSITORY, call.query("name")
    if scope not in (REPOSITORY, PREFIX):
        raise InvalidRequest("scope is repository or prefix")
    if name is None:
        raise InvalidRequest("name is required")
    return str(scope), own_name(call, name, "name")


def scoped_arn(call: AdminCall, name: str, *, prefix: bool = False) -> str:
    ref = RepositoryRef(call.principal.account_id, name, name)
    return ref.arn(call.services.settings.region) + ("*" if prefix else "")


def _policy_resource(call: AdminCall) -> str:
    if call.request.method == "GET" and call.query("name") is None:
        return scoped_arn(call, "*")
    scope, name = scope_and_name(call)
    return scoped_arn(call, name, prefix=scope == PREFIX)


def _risk_resource(call: AdminCall) -> str:
    posted = call.request.method == "POST"
    repository = call.json().get("repository") if posted else call.query("repository")
    if repository is None:
        if call.request.method != "GET":
            raise InvalidRequest("repository is required")
        return scoped_arn(call, "*")
    return scoped_arn(call, own_name(call, repository, "repository"))


async def put_pull_policy(call: AdminCall) -> dict[str, Any]:
    document = call.json()
    unknown = sorted(set(document) - _POLICY_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown[:5]}; known: {', '.join(sorted(_POLICY_FIELDS))}")
    scope, name = scope_and_name(call)
    block = document.get("blockUnscanned", False)
    if not isinstance(block, bool):
        raise InvalidRequest("blockUnscanned is true or false")
    policy = await call.services.pull_policies.put(
        call.principal.account_id, scope, name,
        max_severity=_optional_text(document, "maxSeverity"),
        unsafe_model_severity=_optional_text(document, "unsafeModelSeverity"),
        block_unscanned=block, actor=actor(call),
    )  # fmt: skip
    return policy_document(policy)


async def describe_pull_policies(call: AdminCall) -> dict[str, Any]:
    """With ``name``: the policy that applies; without: a page of the account's policies."""
    policies = call.services.pull_policies
    if call.query("name") is not None:
        scope, name = scope_and_name(call)
        return policy_document(await policies.describe(call.principal.account_id, scope, name))
    token = call.query("nextToken")
    after = None
    if token is not None:
        scope, _, name = token.partition(":")
        if scope not in (REPOSITORY, PREFIX):
            raise InvalidRequest("invalid nextToken")
        after = (scope, name)
    limit = call.max_results()
    found = await policies.page(call.principal.account_id, after=after, limit=limit + 1)
    result: dict[str, Any] = {"pullPolicies": [policy_document(policy) for policy in found[:limit]]}
    if len(found) > limit:
        result["nextToken"] = f"{found[limit - 1].scope}:{found[limit - 1].name}"
    return result


async def delete_pull_policy(call: AdminCall) -> None:
    scope, name = scope_and_name(call)
    await call.services.pull_policies.delete(call.principal.account_id, scope, name, actor(call))


async def accept_risk(call: AdminCall) -> dict[str, Any]:
    document = call.json()
    unknown = sorted(set(document) - _RISK_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown[:5]}; known: {', '.join(sorted(_RISK_FIELDS))}")
    finding, reason = _optional_text(document, "findingId"), _optional_text(document, "reason")
    if finding is None or reason is None:
        raise InvalidRequest("findingId and reason are required")
    risk = await call.services.pull_policies.accept(
        call.principal.account_id, own_name(call, document.get("repository"), "repository"), finding,
        reason=reason, expires_at=_expiry(call, document.get("expiresAt")),
        image_digest=_optional_text(document, "imageDigest"), actor=actor(call),
    )  # fmt: skip
    return risk_document(risk, call.services.clock.now())


async def list_accepted_risks(call: AdminCall) -> dict[str, Any]:
    repository = call.query("repository")
    limit = call.max_results()
    found = await call.services.pull_policies.accepted(
        call.principal.account_id,
        None if repository is None else own_name(call, repository, "repository"),
        include_expired=call.query("includeExpired") == "true",
        after=call.query("nextToken"),
        limit=limit + 1,
    )
    now = call.services.clock.now()
    result: dict[str, Any] = {"acceptedRisks": [risk_document(risk, now) for risk in found[:limit]]}
    if len(found) > limit:
        result["nextToken"] = found[limit - 1].id
    return result


async def revoke_risk(call: AdminCall) -> dict[str, Any]:
    repository = own_name(call, call.query("repository"), "repository")
    risk_id = str(call.request.path_params["risk_id"])
    revoked = await call.services.pull_policies.revoke(
        call.principal.account_id, repository, risk_id, actor(call)
    )
    return risk_document(revoked, call.services.clock.now())


def _optional_text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is not None and (not isinstance(value, str) or not value or len(value) > 1000):
        raise InvalidRequest(f"{name} must be a string of 1 to 1000 characters")
    return value


def _expiry(call: AdminCall, value: object) -> datetime:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidRequest("expiresAt is required: a duration such as 30d, or an ISO 8601 time")
    return expiry_of(value, call.services.clock.now())


PULL_POLICY_ROUTES = [
    AdminRoute("/pull-policies", "PUT", "strongroom:PutPullPolicy", _policy_resource, put_pull_policy),
    AdminRoute("/pull-policies", "GET", "strongroom:DescribePullPolicy", _policy_resource,
               describe_pull_policies),
    AdminRoute("/pull-policies", "DELETE", "strongroom:DeletePullPolicy", _policy_resource,
               delete_pull_policy, status=204),
    AdminRoute("/accepted-risks", "POST", "strongroom:AcceptFindingRisk", _risk_resource, accept_risk,
               status=201),
    AdminRoute("/accepted-risks", "GET", "strongroom:ListAcceptedRisks", _risk_resource, list_accepted_risks),
    AdminRoute("/accepted-risks/{risk_id}", "DELETE", "strongroom:RevokeFindingRisk", _risk_resource,
               revoke_risk),
]  # fmt: skip
"""Changes are audited by the use case (with what changed), not by the endpoint."""
