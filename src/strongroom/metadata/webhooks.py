"""Webhook subscriptions and their delivery log on SQL (SQLite or PostgreSQL).

The signing secret is stored as the caller gives it: already encrypted (the metadata
layer never sees it in clear). A subscription that fails ``disable_after`` deliveries
in a row is disabled in the transaction that records the last failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.schema import webhook_deliveries, webhooks


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    account_id: str
    url: str
    event_types: tuple[str, ...]
    repository_prefix: str | None
    encrypted_secret: bytes
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at: datetime

    def wants(self, event_type: str, subject: str | None) -> bool:
        if not self.enabled or event_type not in self.event_types:
            return False
        return self.repository_prefix is None or (subject or "").startswith(self.repository_prefix)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: str
    event_id: str
    attempt: int
    status_code: int | None
    latency_ms: int | None
    error: str | None
    at: datetime


class SqlWebhookStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(self, webhook: Webhook, now: datetime) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    webhooks.insert().values(
                        id=webhook.id,
                        account_id=webhook.account_id,
                        url=webhook.url,
                        event_types=json.dumps(list(webhook.event_types)),
                        repository_prefix=webhook.repository_prefix,
                        secret=webhook.encrypted_secret,
                        enabled=webhook.enabled,
                        consecutive_failures=0,
                        created_at=now,
                        updated_at=now,
                    )
                )

        await self._db.write(work)

    async def get(self, webhook_id: str) -> Webhook | None:
        def work() -> Webhook | None:
            with self._db.reading() as conn:
                row = conn.execute(sa.select(webhooks).where(webhooks.c.id == webhook_id)).first()
                return None if row is None else _webhook(row)

        return await self._db.run(work)

    async def list(
        self, account_id: str, *, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[Webhook]:
        """Oldest first; ``after`` is the (creation time, id) of the last of the previous page."""
        query = sa.select(webhooks).where(webhooks.c.account_id == account_id)
        if after is not None:
            at, webhook_id = after
            query = query.where(
                sa.or_(
                    webhooks.c.created_at > at,
                    sa.and_(webhooks.c.created_at == at, webhooks.c.id > webhook_id),
                )
            )
        query = query.order_by(webhooks.c.created_at, webhooks.c.id).limit(limit)

        def work() -> list[Webhook]:
            with self._db.reading() as conn:
                return [_webhook(row) for row in conn.execute(query)]

        return await self._db.run(work)

    async def delete(self, account_id: str, webhook_id: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                deleted = conn.execute(
                    webhooks.delete()
                    .where(webhooks.c.id == webhook_id, webhooks.c.account_id == account_id)
                    .returning(webhooks.c.id)
                ).first()
                return deleted is not None

        return await self._db.write(work)

    async def record_delivery(self, delivery: Delivery, *, succeeded: bool, disable_after: int) -> bool:
        """Log an attempt and count failures in a row; return whether the subscription
        is still enabled afterwards."""

        def work() -> bool:
            with self._db.writing() as conn:
                conn.execute(
                    webhook_deliveries.insert().values(
                        webhook_id=delivery.webhook_id,
                        event_id=delivery.event_id,
                        attempt=delivery.attempt,
                        status_code=delivery.status_code,
                        latency_ms=delivery.latency_ms,
                        error=delivery.error,
                        at=delivery.at,
                    )
                )
                failures = 0 if succeeded else webhooks.c.consecutive_failures + 1
                conn.execute(
                    webhooks.update()
                    .where(webhooks.c.id == delivery.webhook_id)
                    .values(consecutive_failures=failures, updated_at=delivery.at)
                )
                if not succeeded:
                    conn.execute(
                        webhooks.update()
                        .where(
                            webhooks.c.id == delivery.webhook_id,
                            webhooks.c.enabled,
                            webhooks.c.consecutive_failures >= disable_after,
                        )
                        .values(
                            enabled=False,
                            disabled_reason=f"disabled after {disable_after} failed deliveries in a row",
                        )
                    )
                enabled = conn.scalar(
                    sa.select(webhooks.c.enabled).where(webhooks.c.id == delivery.webhook_id)
                )
                return bool(enabled)

        return await self._db.write(work)

    async def set_enabled(self, account_id: str, webhook_id: str, enabled: bool, now: datetime) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                changed = conn.execute(
                    webhooks.update()
                    .where(webhooks.c.id == webhook_id, webhooks.c.account_id == account_id)
                    .values(enabled=enabled, disabled_reason=None, consecutive_failures=0, updated_at=now)
                    .returning(webhooks.c.id)
                ).first()
                return changed is not None

        return await self._db.write(work)

    async def outcomes(self) -> dict[str, int]:
        """Delivery attempts on record: ``delivered`` (2xx) and ``failed``."""

        def work() -> dict[str, int]:
            ok = sa.and_(webhook_deliveries.c.status_code >= 200, webhook_deliveries.c.status_code < 300)
            outcome = sa.case((ok, "delivered"), else_="failed").label("outcome")
            query = sa.select(outcome, sa.func.count()).group_by(outcome)
            with self._db.reading() as conn:
                return {str(name): int(count) for name, count in conn.execute(query)}

        return await self._db.run(work)

    async def deliveries(
        self, webhook_id: str, limit: int = 100, *, before: int | None = None
    ) -> Sequence[Delivery]:
        """The latest attempts, newest first; ``before``: only attempts with a smaller id."""
        query = sa.select(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
        if before is not None:
            query = query.where(webhook_deliveries.c.id < before)
        query = query.order_by(webhook_deliveries.c.id.desc()).limit(limit)

        def work() -> list[Delivery]:
            with self._db.reading() as conn:
                return [
                    Delivery(
                        row.id,
                        row.webhook_id,
                        row.event_id,
                        row.attempt,
                        row.status_code,
                        row.latency_ms,
                        row.error,
                        row.at,
                    )
                    for row in conn.execute(query)
                ]

        return await self._db.run(work)


def _webhook(row: sa.Row[Any]) -> Webhook:
    return Webhook(
        id=row.id,
        account_id=row.account_id,
        url=row.url,
        event_types=tuple(json.loads(row.event_types)),
        repository_prefix=row.repository_prefix,
        encrypted_secret=row.secret,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        consecutive_failures=row.consecutive_failures,
        created_at=row.created_at,
    )
