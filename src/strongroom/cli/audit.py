"""``strongroom audit export|verify``: read the audit log of the store named by the
settings. ``verify`` exits 1 when the chain is broken.

``export`` writes JSON lines, the form an export is verified in away from the database;
``--output table`` shows the same events as columns for a person at a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, TypeVar

import anyio
import click

from strongroom.audit.log import PAGE, AuditEntry, AuditLog, Decision
from strongroom.cli.output import Output, Table, emit, output_option, resolve
from strongroom.cli.store import run_on_store
from strongroom.metadata.audit import SqlAuditStore

T = TypeVar("T")

_COLUMNS = ("seq", "time", "decision", "action", "principal", "resource", "source_ip")


def _run(work: Callable[[AuditLog], Awaitable[T]]) -> T:
    return run_on_store(lambda _settings, database: work(AuditLog(SqlAuditStore(database))))


@click.group("audit")
def audit() -> None:
    """The append-only, tamper-evident audit log."""


@audit.command("export")
@click.option(
    "--file",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the JSON lines to this file (created 0600) instead of standard output.",
)
@click.option("--principal", help="Only events by this principal ARN (or 'anonymous').")
@click.option("--action", help="Only this action, e.g. ecr:PutImage.")
@click.option("--decision", type=click.Choice(["allow", "deny"]))
@click.option("--since-seq", type=int, help="Only events after this sequence number.")
@output_option
def export(
    path: Path | None,
    principal: str | None,
    action: str | None,
    decision: Decision | None,
    since_seq: int | None,
    output: Output | None,
) -> None:
    """Events as JSON lines {"seq", "prev_hash", "hash", "event"}, or as a table.

    With --file, the file gets the JSON lines and --output applies to the summary."""
    if path is None and resolve(output) is Output.TABLE:
        _run(lambda log: _print_table(log, since_seq, principal, action, decision))
        return
    handle: IO[str]
    if path is None:
        handle = sys.stdout
    else:
        # Audit records name principals and addresses: not for every local user.
        handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w")
    try:
        sink = anyio.wrap_file(handle)
        count = _run(lambda log: log.export_jsonl(sink, since_seq, principal, action, decision))
        handle.flush()
    finally:
        if path is not None:
            handle.close()
    if path is not None:
        emit(output, {"exported": count, "file": str(path)})


async def _print_table(
    log: AuditLog, since_seq: int | None, principal: str | None, action: str | None, decision: Decision | None
) -> None:
    """One table per page of events, so a long log streams instead of filling memory."""
    after = since_seq
    while entries := await log.query(after, principal, action, decision, limit=PAGE):
        emit(Output.TABLE, None, Table(_COLUMNS, [_row(entry) for entry in entries]))
        after = entries[-1].seq


def _row(entry: AuditEntry) -> list[object]:
    event = entry.event
    return [
        entry.seq,
        event.time.isoformat(timespec="seconds"),
        event.decision,
        event.action,
        event.principal,
        event.resource,
        event.source_ip,
    ]


@audit.command("verify")
@click.option("--expect-head", help="A head hash recorded earlier: also detect events cut from the end.")
@output_option
def verify(expect_head: str | None, output: Output | None) -> None:
    """Check the hash chain: exit 0 if intact, 1 with the first broken seq otherwise."""
    result = _run(lambda log: log.verify(expect_head))
    emit(output, result.as_json())
    if not result.ok:
        raise click.exceptions.Exit(1)
