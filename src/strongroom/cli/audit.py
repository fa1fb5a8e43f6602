"""``strongroom audit export|verify``: read the audit log of the store named by the
settings. ``verify`` exits 1 when the chain is broken."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio
import click

from strongroom.audit.log import AuditLog, Decision
from strongroom.cli.store import run_on_store
from strongroom.metadata.audit import SqlAuditStore

T = TypeVar("T")


def _run(work: Callable[[AuditLog], Awaitable[T]]) -> T:
    return run_on_store(lambda _settings, database: work(AuditLog(SqlAuditStore(database))))


def _emit(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


@click.group("audit")
def audit() -> None:
    """The append-only, tamper-evident audit log."""


@audit.command("export")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File to write (created 0600; default: standard output).",
)
@click.option("--principal", help="Only events by this principal ARN (or 'anonymous').")
@click.option("--action", help="Only this action, e.g. ecr:PutImage.")
@click.option("--decision", type=click.Choice(["allow", "deny"]))
@click.option("--since-seq", type=int, help="Only events after this sequence number.")
def export(
    output: Path | None,
    principal: str | None,
    action: str | None,
    decision: Decision | None,
    since_seq: int | None,
) -> None:
    """Events as JSON lines: {"seq", "prev_hash", "hash", "event"}."""
    handle: IO[str]
    if output is None:
        handle = sys.stdout
    else:
        # Audit records name principals and addresses: not for every local user.
        handle = os.fdopen(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w")
    try:
        sink = anyio.wrap_file(handle)
        count = _run(lambda log: log.export_jsonl(sink, since_seq, principal, action, decision))
        handle.flush()
    finally:
        if output is not None:
            handle.close()
    if output is not None:
        _emit({"exported": count, "output": str(output)})


@audit.command("verify")
@click.option("--expect-head", help="A head hash recorded earlier: also detect events cut from the end.")
def verify(expect_head: str | None) -> None:
    """Check the hash chain: exit 0 if intact, 1 with the first broken seq otherwise."""
    result = _run(lambda log: log.verify(expect_head))
    _emit(result.as_json())
    if not result.ok:
        raise click.exceptions.Exit(1)
