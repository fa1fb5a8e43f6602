"""``strongroom webhook``: subscriptions that deliver an account's events to a URL
(Standard Webhooks signatures, CloudEvents bodies), on the store the settings name."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from strongroom.audit.log import AuditEvent, AuditLog
from strongroom.auth.management import LOCAL_OPERATOR
from strongroom.cli.jobs import echo_json, echo_table, output_format
from strongroom.cli.output import Output, emit, output_option
from strongroom.cli.store import run_on_store
from strongroom.clock import SystemClock
from strongroom.events.webhooks import Webhooks, delivery_document, webhook_document
from strongroom.metadata.audit import SqlAuditStore
from strongroom.metadata.database import Database
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.services import build_webhooks, open_secret_box
from strongroom.settings import Settings

T = TypeVar("T")
account_option = click.option("--account-id", help="Account (default: the default account).")


def run_webhooks(work: Callable[[Webhooks, str], Awaitable[T]], audited: str | None = None) -> T:
    """Run ``work(webhooks, account_id)``; an ``audited`` action is recorded as the local operator's."""

    async def with_webhooks(settings: Settings, database: Database) -> T:
        account = click.get_current_context().params.get("account_id")
        account = account or await SqlMetadataStore(database).default_account_id()
        if account is None:
            raise click.ClickException("the store is not set up: run `strongroom migrate` first")
        webhooks = build_webhooks(settings, database, open_secret_box(settings), SqlJobStore(database))
        result = await work(webhooks, account)
        if audited is not None:
            await AuditLog(SqlAuditStore(database)).record(
                AuditEvent(
                    SystemClock().now(),
                    LOCAL_OPERATOR,
                    audited,
                    f"account/{account}/webhooks",
                    None,
                    "allow",
                    {
                        "params": {
                            k: v for k, v in click.get_current_context().params.items() if isinstance(v, str)
                        }
                    },
                )
            )
        return result

    return run_on_store(with_webhooks)


@click.group("webhook")
def webhook() -> None:
    """Webhook subscriptions: an account's events delivered, at least once, to a URL."""


@webhook.command("create")
@account_option
@click.option("--url", required=True, help="Where to POST events (http or https).")
@click.option("--events", "event_types", required=True, help="Comma-separated event types, e.g. image.push.")
@click.option("--repository-prefix", help="Only events of repositories whose name starts so.")
@click.option("--secret-stdin", is_flag=True, help="Read the signing secret (whsec_…) from standard input.")
@output_option
def create(
    account_id: str | None, url: str, event_types: str, repository_prefix: str | None, secret_stdin: bool,
    output: Output | None,
) -> None:  # fmt: skip
    """Subscribe a URL; without --secret-stdin a secret is generated and shown once."""
    secret = sys.stdin.readline().strip() if secret_stdin else None
    types = [part.strip() for part in event_types.split(",") if part.strip()]
    created = run_webhooks(
        lambda hooks, account: hooks.create(account, url, types, repository_prefix, secret),
        audited="strongroom:CreateWebhook",
    )
    document = webhook_document(created.webhook)
    if created.secret is not None:
        document["secret"] = created.secret
    _echo(document, output)


@webhook.command("list")
@account_option
@output_option
def list_webhooks(account_id: str | None, output: Output | None) -> None:
    found = [webhook_document(w) for w in run_webhooks(lambda hooks, account: hooks.list(account))]
    if output_format(output) == "json":
        echo_json({"webhooks": found})
    else:
        echo_table(found, ("webhookId", "url", "events", "repositoryPrefix", "enabled", "disabledReason"))


@webhook.command("delete")
@account_option
@click.argument("webhook_id")
def delete(account_id: str | None, webhook_id: str) -> None:
    run_webhooks(lambda hooks, account: hooks.delete(account, webhook_id), audited="strongroom:DeleteWebhook")


@webhook.command("enable")
@account_option
@click.argument("webhook_id")
def enable(account_id: str | None, webhook_id: str) -> None:
    """Enable a subscription again (after it was disabled for failing)."""
    run_webhooks(lambda hooks, account: hooks.enable(account, webhook_id), audited="strongroom:UpdateWebhook")


@webhook.command("test")
@account_option
@click.argument("webhook_id")
@output_option
def test(account_id: str | None, webhook_id: str, output: Output | None) -> None:
    """Queue a webhook.test event for this subscription (a job runner delivers it)."""
    event_id = run_webhooks(lambda hooks, account: hooks.test(account, webhook_id))
    _echo({"eventId": event_id}, output)


@webhook.command("deliveries")
@account_option
@click.argument("webhook_id")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@output_option
def deliveries(account_id: str | None, webhook_id: str, limit: int, output: Output | None) -> None:
    """The latest delivery attempts, newest first: the receiver's status and latency, or the error."""
    found = run_webhooks(lambda hooks, account: hooks.deliveries(account, webhook_id, limit))
    documents = [delivery_document(d) for d in found]
    if output_format(output) == "json":
        echo_json({"deliveries": documents})
    else:
        echo_table(documents, ("at", "eventId", "attempt", "statusCode", "latencyMs", "error"))


def _echo(document: dict[str, Any], output: Output | None) -> None:
    emit(output, document)
