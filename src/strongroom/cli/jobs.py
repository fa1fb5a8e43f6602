"""``strongroom jobs``: run job runners as a process of their own, and see and steer
the queue: of the store the settings name, or of a server's ``/admin/v1`` with
``--endpoint`` (:mod:`strongroom.cli.admin_api`)."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import anyio
import click

from strongroom.cli.admin_api import remote_options, run_admin_api
from strongroom.cli.job_process import run_until_signalled
from strongroom.cli.output import Output, Table, emit, output_option, resolve
from strongroom.cli.store import root_settings
from strongroom.metadata.jobs import STATES

T = TypeVar("T")
TABLE_COLUMNS = ("jobId", "kind", "state", "attempts", "runAt", "lastError")
ERROR_WIDTH = 60


@click.group("jobs")
def jobs() -> None:
    """The durable job queue: scans, deliveries, lifecycle, expiry and other background work."""


@jobs.command("run")
@click.option("--concurrency", type=click.IntRange(min=1), help="Jobs at once (default: job_concurrency).")
def run(concurrency: int | None) -> None:
    """Run job runners in this process until SIGTERM or SIGINT (beside servers started
    with --no-jobs); on a signal, running jobs finish or go back to the queue."""
    settings = root_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    anyio.run(run_until_signalled, settings, concurrency or settings.job_concurrency)


@jobs.command("list")
@click.option("--state", type=click.Choice(STATES), help="Only jobs in this state.")
@click.option("--kind", help="Only jobs of this kind.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--before", type=int, help="Only jobs with a smaller id (the next page).")
@remote_options
@output_option
def list_jobs(
    state: str | None, kind: str | None, limit: int, before: int | None, output: Output | None
) -> None:
    """Jobs, newest first."""
    found = run_admin_api(lambda api: api.list_jobs(state=state, kind=kind, before=before, limit=limit))
    if output_format(output) == "json":
        echo_json({"jobs": found})
    else:
        echo_table(found)


@jobs.command("show")
@click.argument("job_id", type=int)
@remote_options
@output_option
def show(job_id: int, output: Output | None) -> None:
    """One job: its attempts, lease and last error."""
    emit(output, run_admin_api(lambda api: api.describe_job(job_id)))


@jobs.command("retry")
@click.argument("job_id", type=int)
@remote_options
@output_option
def retry(job_id: int, output: Output | None) -> None:
    """Queue a dead, failed or cancelled job again, with fresh attempts."""
    emit(output, run_admin_api(lambda api: api.retry_job(job_id)))


@jobs.command("cancel")
@click.argument("job_id", type=int)
@remote_options
@output_option
def cancel(job_id: int, output: Output | None) -> None:
    """Cancel a job that has not finished (a running one stops at its next lease renewal)."""
    emit(output, run_admin_api(lambda api: api.cancel_job(job_id)))


def output_format(output: Output | None) -> str:
    return resolve(output).value


def echo_json(value: Any) -> None:
    emit(Output.JSON, value)


def echo_table(rows: list[dict[str, Any]], columns: tuple[str, ...] = TABLE_COLUMNS) -> None:
    emit(Output.TABLE, rows, Table(columns, [[_cell(row.get(column)) for column in columns] for row in rows]))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = " ".join(str(value).split())
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 1] + "…"
