"""``strongroom webhook``: subscriptions that deliver an account's events to a URL
(Standard Webhooks signatures, CloudEvents bodies), on the store the settings name or on
a server's ``/admin/v1`` with ``--endpoint``."""

from __future__ import annotations

import sys

import click

from strongroom.cli.admin_api import remote_options, run_admin_api
from strongroom.cli.jobs import echo_json, echo_table, output_format
from strongroom.cli.output import Output, emit, output_option

account_option = click.option(
    "--account-id", help="Account (local store only; default: the default account; a server acts on yours)."
)


@click.group("webhook")
def webhook() -> None:
    """Webhook subscriptions: an account's events delivered, at least once, to a URL."""


@webhook.command("create")
@account_option
@remote_options
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
    created = run_admin_api(
        lambda api: api.create_webhook(
            url=url, events=types, repository_prefix=repository_prefix, secret=secret
        ),
        account_id=account_id,
    )
    emit(output, created)


@webhook.command("list")
@account_option
@remote_options
@output_option
def list_webhooks(account_id: str | None, output: Output | None) -> None:
    found = run_admin_api(lambda api: api.list_webhooks(), account_id=account_id)
    if output_format(output) == "json":
        echo_json({"webhooks": found})
    else:
        echo_table(found, ("webhookId", "url", "events", "repositoryPrefix", "enabled", "disabledReason"))


@webhook.command("delete")
@account_option
@remote_options
@click.argument("webhook_id")
def delete(account_id: str | None, webhook_id: str) -> None:
    run_admin_api(lambda api: api.delete_webhook(webhook_id), account_id=account_id)


@webhook.command("enable")
@account_option
@remote_options
@click.argument("webhook_id")
def enable(account_id: str | None, webhook_id: str) -> None:
    """Enable a subscription again (after it was disabled for failing)."""
    run_admin_api(lambda api: api.enable_webhook(webhook_id), account_id=account_id)


@webhook.command("test")
@account_option
@remote_options
@click.argument("webhook_id")
@output_option
def test(account_id: str | None, webhook_id: str, output: Output | None) -> None:
    """Queue a webhook.test event for this subscription (a job runner delivers it)."""
    emit(output, run_admin_api(lambda api: api.test_webhook(webhook_id), account_id=account_id))


@webhook.command("deliveries")
@account_option
@remote_options
@click.argument("webhook_id")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@output_option
def deliveries(account_id: str | None, webhook_id: str, limit: int, output: Output | None) -> None:
    """The latest delivery attempts, newest first: the receiver's status and latency, or the error."""
    documents = run_admin_api(lambda api: api.list_deliveries(webhook_id, limit), account_id=account_id)
    if output_format(output) == "json":
        echo_json({"deliveries": documents})
    else:
        echo_table(documents, ("at", "eventId", "attempt", "statusCode", "latencyMs", "error"))
