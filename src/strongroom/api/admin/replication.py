"""The ``/admin/v1/replication/destinations`` routes: where replication destinations live.

Destinations belong to the deployment, like jobs: a principal of another account is
refused outright, and one of the operators' account only as its policy allows the
``strongroom:`` action. The secret is accepted, sealed, and never shown again.
"""

from __future__ import annotations

from typing import Any

from strongroom.api.admin.endpoint import AdminCall, AdminRoute
from strongroom.errors import AccessDenied, InvalidRequest
from strongroom.replication.destinations import check_target, destination_document

_FIELDS = {"region", "registryId", "url", "kind", "accessKeyId", "secret"}


def _resource(call: AdminCall) -> str:
    default = call.services.default_account_id
    if call.principal.account_id != default:
        raise AccessDenied(
            f"User: {call.principal.arn} is not authorized to act on replication destinations: "
            f"they belong to the deployment, whose operators are in account {default}"
        )
    params = call.request.path_params
    where = "*"
    if "region" in params:
        check_target(str(params["region"]), str(params["registry_id"]))
        where = f"{params['region']}/{params['registry_id']}"
    return call.arn(default, f"replication-destination/{where}")


def _text(document: dict[str, Any], name: str, default: str | None = None) -> str:
    value = document.get(name, default)
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} is required, a string")
    return value


async def create_destination(call: AdminCall) -> dict[str, Any]:
    document = call.json()
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown[:5]}; known: {', '.join(sorted(_FIELDS))}")
    added = await call.services.replication_destinations.add(
        _text(document, "region"), _text(document, "registryId"), _text(document, "url"),
        _text(document, "kind", "strongroom"), _text(document, "accessKeyId"), _text(document, "secret"),
    )  # fmt: skip
    return destination_document(added)


async def list_destinations(call: AdminCall) -> dict[str, Any]:
    found = await call.services.replication_destinations.list()
    return {"destinations": [destination_document(destination) for destination in found]}


async def delete_destination(call: AdminCall) -> None:
    region, registry_id = (
        str(call.request.path_params["region"]),
        str(call.request.path_params["registry_id"]),
    )
    await call.services.replication_destinations.remove(region, registry_id)


REPLICATION_ROUTES = [
    AdminRoute("/replication/destinations", "POST", "strongroom:CreateReplicationDestination", _resource,
               create_destination, mutates=True, status=201),
    AdminRoute("/replication/destinations", "GET", "strongroom:ListReplicationDestinations", _resource,
               list_destinations),
    AdminRoute("/replication/destinations/{region}/{registry_id}", "DELETE",
               "strongroom:DeleteReplicationDestination", _resource, delete_destination, mutates=True,
               status=204),
]  # fmt: skip
