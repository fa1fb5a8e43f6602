"""Webhook subscriptions and at-least-once delivery through the job queue.

Every event of an account with an enabled subscription gets a ``webhook.dispatch`` job
(written with the event, see :mod:`.outbox`); dispatching queues one ``webhook.deliver`` job per enabled
subscription of the event's account that wants it, keyed by event and subscription, so
a dispatch run twice queues each delivery once. A delivery that fails raises, and the
queue retries it with backoff for about a day (:data:`DELIVERY_MAX_ATTEMPTS`); every
attempt sends the same ``webhook-id`` (the event's id) so receivers can drop repeats.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from strongroom.auth.secretbox import SecretBox
from strongroom.clock import Clock, IdFactory
from strongroom.errors import InvalidRequest, NotFound
from strongroom.events.catalogue import CATALOGUE, WEBHOOK_TEST
from strongroom.events.delivery import WebhookSender, check_url, cloudevent, secret_key
from strongroom.events.log import decode_page_token, encode_page_token
from strongroom.metadata.events import SqlEventStore
from strongroom.metadata.jobs import Job, SqlJobStore
from strongroom.metadata.outbox import NewEvent, NewJob
from strongroom.metadata.webhooks import Delivery, SqlWebhookStore, Webhook

DISPATCH = "webhook.dispatch"
DELIVER = "webhook.deliver"
DELIVERY_MAX_ATTEMPTS = 30
"""With the default backoff (10 s doubling to an hour) about a day of attempts."""
SECRET_BYTES = 32


class DeliveryFailed(Exception):
    """The receiver did not take the event; the queue tries again later."""


@dataclass(frozen=True, slots=True)
class NewSubscription:
    webhook: Webhook
    secret: str | None
    """The generated secret, to show once; None when the caller gave one."""


class Webhooks:
    def __init__(
        self,
        store: SqlWebhookStore,
        jobs: SqlJobStore,
        events: SqlEventStore,
        sender: WebhookSender,
        secrets_box: SecretBox,
        clock: Clock,
        ids: IdFactory,
        *,
        source: str,
        disable_after: int,
    ) -> None:
        self._store = store
        self._jobs = jobs
        self._events = events
        self._sender = sender
        self._box = secrets_box
        self._clock = clock
        self._ids = ids
        self._source = source
        self._disable_after = disable_after

    # subscriptions

    async def create(
        self,
        account_id: str,
        url: str,
        event_types: Sequence[str],
        repository_prefix: str | None,
        secret: str | None,
    ) -> NewSubscription:
        unknown = sorted(set(event_types) - set(CATALOGUE))
        if unknown or not event_types:
            raise InvalidRequest(f"unknown event types {unknown}; known: {', '.join(sorted(CATALOGUE))}")
        generated = None
        if secret is None:
            generated = secret = "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
        secret_key(secret)  # refuse a malformed secret now, not at the first delivery
        webhook_id = "wh-" + self._ids.new_id()[:24]
        webhook = Webhook(
            id=webhook_id,
            account_id=account_id,
            url=check_url(url),
            event_types=tuple(dict.fromkeys(event_types)),
            repository_prefix=repository_prefix or None,
            encrypted_secret=self._box.encrypt(secret.encode(), webhook_id.encode()),
            enabled=True,
            disabled_reason=None,
            consecutive_failures=0,
            created_at=self._clock.now(),
        )
        await self._store.create(webhook, self._clock.now())
        return NewSubscription(webhook, generated)

    async def list(self, account_id: str) -> list[Webhook]:
        return await self._store.list(account_id)

    async def page(
        self, account_id: str, *, next_token: str | None, limit: int
    ) -> tuple[Sequence[Webhook], str | None]:
        """An account's subscriptions, oldest first, and the next page's token (None on the last)."""
        after = decode_page_token(next_token) if next_token else None
        found = await self._store.list(account_id, after=after, limit=limit)
        last = found[-1] if len(found) == limit else None
        return found, None if last is None else encode_page_token(last.created_at, last.id)

    async def get(self, account_id: str, webhook_id: str) -> Webhook:
        webhook = await self._store.get(webhook_id)
        if webhook is None or webhook.account_id != account_id:
            raise NotFound(f"no webhook {webhook_id} in account {account_id}")
        return webhook

    async def delete(self, account_id: str, webhook_id: str) -> None:
        if not await self._store.delete(account_id, webhook_id):
            raise NotFound(f"no webhook {webhook_id} in account {account_id}")

    async def enable(self, account_id: str, webhook_id: str) -> None:
        if not await self._store.set_enabled(account_id, webhook_id, True, self._clock.now()):
            raise NotFound(f"no webhook {webhook_id} in account {account_id}")

    async def deliveries(
        self, account_id: str, webhook_id: str, limit: int = 100, *, before: int | None = None
    ) -> Sequence[Delivery]:
        """The latest attempts, newest first; ``before``: only attempts with a smaller id."""
        await self.get(account_id, webhook_id)
        return await self._store.deliveries(webhook_id, limit, before=before)

    async def delivery_outcomes(self) -> dict[str, int]:
        """Attempts on record across the deployment, by outcome (for metrics)."""
        return await self._store.outcomes()

    async def test(self, account_id: str, webhook_id: str) -> str:
        """Queue a ``webhook.test`` event delivered to this subscription only; its id."""
        webhook = await self.get(account_id, webhook_id)
        event_id = self._ids.new_id()
        event = NewEvent(event_id, WEBHOOK_TEST.name, account_id, webhook.id, {"webhook-id": webhook.id})
        await self._events.record(event, [_delivery_job(event_id, webhook.id)], self._clock.now())
        return event_id

    # job handlers

    async def dispatch(self, job: Job) -> None:
        event = await self._events.get(str(job.payload["event_id"]))
        if event is None:
            return  # purged before dispatch: nothing left to deliver
        wanted = [w for w in await self._store.list(event.account_id) if w.wants(event.type, event.subject)]
        if wanted:
            await self._jobs.enqueue([_delivery_job(event.id, w.id) for w in wanted], self._clock.now())

    async def deliver(self, job: Job) -> None:
        webhook = await self._store.get(str(job.payload["webhook_id"]))
        event = await self._events.get(str(job.payload["event_id"]))
        if webhook is None or event is None or not webhook.enabled:
            return  # deleted, purged or disabled since: the delivery is moot
        body = cloudevent(
            event_id=event.id,
            source=f"{self._source}/accounts/{event.account_id}",
            type=CATALOGUE[event.type].cloudevents_type if event.type in CATALOGUE else event.type,
            subject=event.subject,
            time=event.at,
            data=event.data,
        )
        key = secret_key(self._box.decrypt(webhook.encrypted_secret, webhook.id.encode()).decode())
        status = latency = error = None
        try:
            outcome = await self._sender.send(webhook.url, event.id, key, body)
            status, latency = outcome.status_code, outcome.latency_ms
            succeeded = outcome.succeeded
            if not succeeded:
                error = f"the receiver answered {status}"
        except Exception as failure:  # refused, unreachable, timed out: recorded, then retried
            succeeded, error = False, f"{type(failure).__name__}: {failure}"[:1000]
        record = Delivery(0, webhook.id, event.id, job.attempts, status, latency, error, self._clock.now())
        enabled = await self._store.record_delivery(
            record, succeeded=succeeded, disable_after=self._disable_after
        )
        if not succeeded and enabled:
            raise DeliveryFailed(error)


def _delivery_job(event_id: str, webhook_id: str) -> NewJob:
    return NewJob(
        DELIVER,
        {"event_id": event_id, "webhook_id": webhook_id},
        idempotency_key=f"{DELIVER}:{event_id}:{webhook_id}",
        max_attempts=DELIVERY_MAX_ATTEMPTS,
    )


def webhook_document(webhook: Webhook) -> dict[str, Any]:
    """A subscription as the CLI and ``/admin/v1`` show it (never its secret)."""
    return {
        "webhookId": webhook.id,
        "accountId": webhook.account_id,
        "url": webhook.url,
        "events": list(webhook.event_types),
        "repositoryPrefix": webhook.repository_prefix,
        "enabled": webhook.enabled,
        "disabledReason": webhook.disabled_reason,
        "consecutiveFailures": webhook.consecutive_failures,
        "createdAt": webhook.created_at.isoformat(),
    }


def delivery_document(delivery: Delivery) -> dict[str, Any]:
    return {
        "deliveryId": delivery.id,
        "at": delivery.at.isoformat(),
        "eventId": delivery.event_id,
        "attempt": delivery.attempt,
        "statusCode": delivery.status_code,
        "latencyMs": delivery.latency_ms,
        "error": delivery.error,
    }
