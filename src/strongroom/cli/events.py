"""``strongroom events list``: recent events of the store the settings name, or of a
server's ``/admin/v1`` with ``--endpoint``, as the event catalogue
(strongroom.events.catalogue) names them."""

from __future__ import annotations

import re
from datetime import timedelta

import click

from strongroom.cli.admin_api import remote_options, run_admin_api
from strongroom.cli.jobs import echo_json, echo_table, output_format
from strongroom.cli.output import Output, output_option
from strongroom.events.catalogue import CATALOGUE

_DURATION = re.compile(r"^([0-9]+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
TABLE_COLUMNS = ("time", "type", "account", "subject", "id")


def parse_since(text: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise click.BadParameter("a number and a unit: 30s, 15m, 1h, 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@click.group("events")
def events() -> None:
    """What happened in the registry (pushes, deletions, scans…), kept event_retention_seconds."""


@events.command("list")
@click.option("--since", default="1h", show_default=True, help="How far back: 30s, 15m, 1h, 7d.")
@click.option("--type", "event_type", type=click.Choice(sorted(CATALOGUE)), help="Only events of this type.")
@click.option("--account-id", help="Only events of this account (local store only; a server shows yours).")
@click.option("--limit", type=click.IntRange(1, 10000), default=1000, show_default=True)
@remote_options
@output_option
def list_events(
    since: str, event_type: str | None, account_id: str | None, limit: int, output: Output | None
) -> None:
    """Events, oldest first."""
    parse_since(since)
    found = run_admin_api(
        lambda api: api.list_events(since=since, type=event_type, limit=limit), account_id=account_id
    )
    if output_format(output) == "json":
        echo_json({"events": found})
    else:
        echo_table(found, TABLE_COLUMNS)
