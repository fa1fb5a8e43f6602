"""The ``/admin/v1/lineage`` routes (docs/adr/0021).

Reading an image's ancestry or dependents is ``ecr:DescribeImages`` on the image's
repository (what reading images needs), and what the answer then shows of other
repositories is decided per repository by :class:`strongroom.hierarchy.views.LineageViews`.
The report is ``strongroom:GetLineageReport`` on ``lineage/*`` of the caller's account,
then limited the same way. Roles and patch policies are the caller's own account's,
``strongroom:PutRepositoryRole``, ``strongroom:PutLineagePolicy``,
``strongroom:DescribeLineagePolicy`` and ``strongroom:DeleteLineagePolicy`` on the
repository's ARN (a prefix's ``repository/<prefix>*``; listing, ``repository/*``).
"""

from __future__ import annotations

from typing import Any

from strongroom.api.admin.endpoint import MAX_RESULTS, AdminCall, AdminRoute
from strongroom.api.admin.pull_policies import actor, own_name, scope_and_name, scoped_arn
from strongroom.api.requests import request_context
from strongroom.errors import InvalidRequest
from strongroom.hierarchy.settings import policy_document, policy_of
from strongroom.hierarchy.views import Caller
from strongroom.lineage.compliance import PREFIX
from strongroom.oci.names import RepositoryRef

_POLICY_FIELDS = {
    "scope", "name", "maxBaseAge", "maxRebuildDelay", "noInheritedCritical", "allowedBases", "enforce",
}  # fmt: skip
MAX_REFERENCE = 256


def _caller(call: AdminCall) -> Caller:
    return Caller(call.principal, request_context(call.request))


def _image(call: AdminCall) -> tuple[RepositoryRef, str]:
    name, reference = call.query("repository"), call.query("reference")
    if not name or not reference or len(reference) > MAX_REFERENCE:
        raise InvalidRequest(
            "repository ([<account id>/]name) and reference (a tag or a digest) are required"
        )
    return RepositoryRef.parse(name, call.principal.account_id), reference


def _image_resource(call: AdminCall) -> str:
    return _image(call)[0].arn(call.services.settings.region)


def _report_resource(call: AdminCall) -> str:
    return call.arn(call.principal.account_id, "lineage/*")


async def show(call: AdminCall) -> dict[str, Any]:
    ref, reference = _image(call)
    return await call.services.lineage.show(_caller(call), ref, reference)


async def dependents(call: AdminCall) -> dict[str, Any]:
    ref, reference = _image(call)
    return await call.services.lineage.dependents(_caller(call), ref, reference)


async def report(call: AdminCall) -> dict[str, Any]:
    """A page of the report: ``maxResults`` images examined (default and at most
    1,000) after ``nextToken``."""
    limit = call.max_results(default=MAX_RESULTS)
    return await call.services.lineage.report(_caller(call), after=call.query("nextToken"), limit=limit)


def _role_resource(call: AdminCall) -> str:
    return scoped_arn(call, own_name(call, call.json().get("repository"), "repository"))


async def put_role(call: AdminCall) -> dict[str, Any]:
    document = call.json()
    role = document.get("role")
    if role is not None and not isinstance(role, str):
        raise InvalidRequest("role is a string: public, base, framework or application (null: none)")
    name = own_name(call, document.get("repository"), "repository")
    return await call.services.lineage_settings.set_role(call.principal.account_id, name, role, actor(call))


def _policy_resource(call: AdminCall) -> str:
    if call.request.method == "GET":
        return scoped_arn(call, "*")
    scope, name = scope_and_name(call)
    return scoped_arn(call, name, prefix=scope == PREFIX)


async def put_policy(call: AdminCall) -> dict[str, Any]:
    document = call.json()
    unknown = sorted(set(document) - _POLICY_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown[:5]}; known: {', '.join(sorted(_POLICY_FIELDS))}")
    scope, name = scope_and_name(call)
    flags = {key: document.get(key, False) for key in ("noInheritedCritical", "enforce")}
    if not all(isinstance(value, bool) for value in flags.values()):
        raise InvalidRequest("noInheritedCritical and enforce are true or false")
    bases = document.get("allowedBases") or []
    if not isinstance(bases, list):
        raise InvalidRequest("allowedBases is a list of repository names or prefixes ending in *")
    policy = policy_of(
        scope, name, max_base_age=_text(document, "maxBaseAge"),
        max_rebuild_delay=_text(document, "maxRebuildDelay"),
        no_inherited_critical=flags["noInheritedCritical"], allowed_bases=bases, enforce=flags["enforce"],
    )  # fmt: skip
    stored = await call.services.lineage_settings.put(call.principal.account_id, policy, actor(call))
    return policy_document(stored)


async def list_policies(call: AdminCall) -> dict[str, Any]:
    found = await call.services.lineage_settings.list(call.principal.account_id)
    return {"lineagePolicies": [policy_document(policy) for policy in found]}


async def delete_policy(call: AdminCall) -> None:
    scope, name = scope_and_name(call)
    await call.services.lineage_settings.delete(call.principal.account_id, scope, name, actor(call))


def _text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is not None and (not isinstance(value, str) or not value or len(value) > 32):
        raise InvalidRequest(f"{name} is a duration such as 30d, 12h or 2w")
    return value


LINEAGE_ROUTES = [
    AdminRoute("/lineage/ancestry", "GET", "ecr:DescribeImages", _image_resource, show),
    AdminRoute("/lineage/dependents", "GET", "ecr:DescribeImages", _image_resource, dependents),
    AdminRoute("/lineage/report", "GET", "strongroom:GetLineageReport", _report_resource, report),
    AdminRoute("/lineage/roles", "PUT", "strongroom:PutRepositoryRole", _role_resource, put_role),
    AdminRoute("/lineage/policies", "PUT", "strongroom:PutLineagePolicy", _policy_resource, put_policy),
    AdminRoute("/lineage/policies", "GET", "strongroom:DescribeLineagePolicy", _policy_resource,
               list_policies),
    AdminRoute("/lineage/policies", "DELETE", "strongroom:DeleteLineagePolicy", _policy_resource,
               delete_policy, status=204),
]  # fmt: skip
"""Changes are audited by the use case (with what changed), not by the endpoint."""
