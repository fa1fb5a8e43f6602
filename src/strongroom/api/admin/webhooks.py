"""The ``/admin/v1/webhooks`` routes: an account's webhook subscriptions and their
delivery log.

A subscription belongs to an account, and every route acts on the caller's own account
only: the resource is ``webhook/<id>`` under the caller's account ARN, and a subscription
of another account is not found (404), whatever the caller's policy allows.
"""

from __future__ import annotations

import re
from typing import Any

from strongroom.api.admin.endpoint import AdminCall, AdminRoute
from strongroom.errors import InvalidRequest
from strongroom.events.webhooks import delivery_document, webhook_document

_WEBHOOK_ID = re.compile(r"^wh-[0-9a-z]{1,29}$")
_FIELDS = {"url", "events", "repositoryPrefix", "secret"}
MAX_URL = 2048
MAX_PREFIX = 256
MAX_EVENT_TYPES = 64


def _webhook_id(call: AdminCall) -> str:
    value = str(call.request.path_params["webhook_id"])
    if not _WEBHOOK_ID.match(value):
        raise InvalidRequest("webhookId looks like wh-<lowercase letters and digits>")
    return value


def _resource(call: AdminCall) -> str:
    webhook = "*" if "webhook_id" not in call.request.path_params else _webhook_id(call)
    return call.arn(call.principal.account_id, f"webhook/{webhook}")


def _text(document: dict[str, Any], name: str, limit: int) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidRequest(f"{name} must be a string of 1 to {limit} characters")
    return value


def _optional_text(document: dict[str, Any], name: str, limit: int) -> str | None:
    return None if document.get(name) is None else _text(document, name, limit)


def _event_types(document: dict[str, Any]) -> list[str]:
    value = document.get("events")
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_EVENT_TYPES
        or not all(isinstance(item, str) and 0 < len(item) <= 64 for item in value)
    ):
        raise InvalidRequest(f"events must be a list of 1 to {MAX_EVENT_TYPES} event type names")
    return value


async def create_webhook(call: AdminCall) -> dict[str, Any]:
    document = call.json()
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown[:5]}; known: {', '.join(sorted(_FIELDS))}")
    created = await call.services.webhooks.create(
        call.principal.account_id,
        _text(document, "url", MAX_URL),
        _event_types(document),
        _optional_text(document, "repositoryPrefix", MAX_PREFIX),
        _optional_text(document, "secret", 200),
    )
    result = webhook_document(created.webhook)
    if created.secret is not None:
        result["secret"] = created.secret  # generated: shown this once, never again
    return result


async def list_webhooks(call: AdminCall) -> dict[str, Any]:
    found, token = await call.services.webhooks.page(
        call.principal.account_id, next_token=call.query("nextToken"), limit=call.max_results()
    )
    result: dict[str, Any] = {"webhooks": [webhook_document(webhook) for webhook in found]}
    if token is not None:
        result["nextToken"] = token
    return result


async def describe_webhook(call: AdminCall) -> dict[str, Any]:
    return webhook_document(await call.services.webhooks.get(call.principal.account_id, _webhook_id(call)))


async def delete_webhook(call: AdminCall) -> None:
    await call.services.webhooks.delete(call.principal.account_id, _webhook_id(call))


async def enable_webhook(call: AdminCall) -> dict[str, Any]:
    """Enable a subscription again (after it was disabled for failing)."""
    account, webhook_id = call.principal.account_id, _webhook_id(call)
    await call.services.webhooks.enable(account, webhook_id)
    return webhook_document(await call.services.webhooks.get(account, webhook_id))


async def test_webhook(call: AdminCall) -> dict[str, Any]:
    return {"eventId": await call.services.webhooks.test(call.principal.account_id, _webhook_id(call))}


async def list_deliveries(call: AdminCall) -> dict[str, Any]:
    limit = call.max_results()
    found = await call.services.webhooks.deliveries(
        call.principal.account_id, _webhook_id(call), limit, before=call.token_int()
    )
    result: dict[str, Any] = {"deliveries": [delivery_document(delivery) for delivery in found]}
    if len(found) == limit:
        result["nextToken"] = str(found[-1].id)
    return result


WEBHOOK_ROUTES = [
    AdminRoute("/webhooks", "POST", "strongroom:CreateWebhook", _resource, create_webhook, mutates=True,
               status=201),
    AdminRoute("/webhooks", "GET", "strongroom:ListWebhooks", _resource, list_webhooks),
    AdminRoute("/webhooks/{webhook_id}", "GET", "strongroom:DescribeWebhook", _resource, describe_webhook),
    AdminRoute("/webhooks/{webhook_id}", "DELETE", "strongroom:DeleteWebhook", _resource, delete_webhook,
               mutates=True, status=204),
    AdminRoute("/webhooks/{webhook_id}/enable", "POST", "strongroom:UpdateWebhook", _resource, enable_webhook,
               mutates=True),
    AdminRoute("/webhooks/{webhook_id}/test", "POST", "strongroom:TestWebhook", _resource, test_webhook,
               mutates=True),
    AdminRoute("/webhooks/{webhook_id}/deliveries", "GET", "strongroom:ListWebhookDeliveries", _resource,
               list_deliveries),
]  # fmt: skip
