"""The SqlWebhookStore contract, on SQLite and PostgreSQL: subscriptions page in creation
order, per account; the delivery log pages newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strongroom.metadata.database import Database
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.metadata.webhooks import Delivery, SqlWebhookStore, Webhook

pytestmark = pytest.mark.anyio

ACCOUNT, OTHER = "123456789012", "210987654321"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def webhook(webhook_id: str, account: str, at: datetime) -> Webhook:
    return Webhook(webhook_id, account, "https://hooks.example.com/", ("image.push",), None, b"sealed", True,
                   None, 0, at)  # fmt: skip


async def test_subscriptions_page_in_creation_order_within_their_account(database: Database) -> None:
    core = SqlMetadataStore(database)
    await core.create_default_account(ACCOUNT, NOW)
    await core.create_account(OTHER, NOW)
    store = SqlWebhookStore(database)
    # Two created at the same instant: the id breaks the tie.
    for webhook_id, account, at in (
        ("wh-c", ACCOUNT, NOW), ("wh-a", ACCOUNT, NOW + timedelta(seconds=1)),
        ("wh-b", ACCOUNT, NOW + timedelta(seconds=1)), ("wh-z", OTHER, NOW),
    ):  # fmt: skip
        await store.create(webhook(webhook_id, account, at), at)

    assert [w.id for w in await store.list(ACCOUNT)] == ["wh-c", "wh-a", "wh-b"]
    first = await store.list(ACCOUNT, limit=2)
    assert [w.id for w in first] == ["wh-c", "wh-a"]
    rest = await store.list(ACCOUNT, after=(first[-1].created_at, first[-1].id), limit=2)
    assert [w.id for w in rest] == ["wh-b"]
    assert [w.id for w in await store.list(OTHER)] == ["wh-z"]


async def test_the_delivery_log_pages_newest_first(database: Database) -> None:
    await SqlMetadataStore(database).create_default_account(ACCOUNT, NOW)
    store = SqlWebhookStore(database)
    await store.create(webhook("wh-log", ACCOUNT, NOW), NOW)
    for attempt in (1, 2, 3):
        delivery = Delivery(0, "wh-log", "event-1", attempt, 500, 3, "down", NOW + timedelta(seconds=attempt))
        await store.record_delivery(delivery, succeeded=False, disable_after=10)
    newest = await store.deliveries("wh-log", 2)
    assert [d.attempt for d in newest] == [3, 2]
    assert [d.attempt for d in await store.deliveries("wh-log", 2, before=newest[-1].id)] == [1]
