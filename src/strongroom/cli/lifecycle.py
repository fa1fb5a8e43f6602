"""``strongroom lifecycle run`` and ``strongroom gc``: the lifecycle job and garbage
collection on demand, on the store named by the settings, while servers run on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import anyio
import click

from strongroom.cli.output import Output, Table, emit, output_option
from strongroom.cli.store import root_settings
from strongroom.errors import StrongroomError
from strongroom.oci.names import RepositoryRef
from strongroom.registry.gc import GcReport
from strongroom.registry.lifecycle import LifecycleRun
from strongroom.services import Services, build_services

T = TypeVar("T")


def run_with_services(work: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``work`` with every service of the configured store; domain errors become
    clean CLI errors."""
    settings = root_settings()

    async def main() -> T:
        services = await build_services(settings, migrating=True)
        try:
            return await work(services)
        finally:
            services.close()

    try:
        return anyio.run(main)
    except StrongroomError as error:
        raise click.ClickException(error.message) from None


dry_run_option = click.option("--dry-run", is_flag=True, help="Report what would go; delete nothing.")


@click.group("lifecycle")
def lifecycle() -> None:
    """Lifecycle policies (ECR PutLifecyclePolicy) applied by the server every
    lifecycle_interval_seconds."""


@lifecycle.command("run")
@click.option(
    "--repository", help="Only this repository ([<account id>/]name); default: every one with a policy."
)
@dry_run_option
@output_option
def run(repository: str | None, dry_run: bool, output: Output | None) -> None:
    """Apply lifecycle policies now, then collect garbage; print what was (or would be)
    expired and why."""

    async def work(services: Services) -> tuple[list[LifecycleRun], GcReport]:
        ref = RepositoryRef.parse(repository, services.default_account_id) if repository else None
        runs = await services.lifecycle.run(ref, dry_run=dry_run)
        return runs, await services.gc.collect(dry_run=dry_run)

    runs, report = run_with_services(work)
    value = {"repositories": [r.as_json() for r in runs], "gc": report.as_json()}
    emit(output, value, verdicts_table(runs), gc_table(report))


@click.command("gc")
@dry_run_option
@click.option("--grace-seconds", type=click.IntRange(min=0), help="Spare links and blobs younger than this.")
@output_option
def gc(dry_run: bool, grace_seconds: int | None, output: Output | None) -> None:
    """Collect garbage: unlink blobs no image needs, delete blobs no repository links."""
    grace = None if grace_seconds is None else timedelta(seconds=grace_seconds)
    report = run_with_services(lambda services: services.gc.collect(dry_run=dry_run, grace=grace))
    emit(output, report.as_json(), gc_table(report))


def verdicts_table(runs: list[LifecycleRun]) -> Table:
    """One row per judged image: what happened to it and the rule's reason."""
    rows: list[list[object]] = []
    for repository_run in runs:
        name = f"{repository_run.account_id}/{repository_run.repository}"
        if not repository_run.verdicts:
            rows.append([name, "nothing to expire", None, None, None])
        for verdict in repository_run.verdicts:
            done = repository_run.dry_run or verdict.digest in repository_run.expired
            state = ("would expire" if repository_run.dry_run else "expired") if done else "kept (changed)"
            rows.append([name, state, verdict.digest, list(verdict.tags) or "<untagged>", verdict.reason])
    title = None if runs else "no repository has a lifecycle policy"
    return Table(("repository", "state", "digest", "tags", "reason"), rows, title)


def gc_table(report: GcReport) -> Table:
    would = "would be " if report.dry_run else ""
    return Table(
        ("garbage collection", "count"),
        [
            [f"blob links {would}removed", report.links_removed],
            [f"blobs {would}deleted", report.blobs_deleted],
            [f"bytes {would}freed", report.bytes_freed],
            ["blobs kept (in use by a racing push)", report.blobs_kept],
        ],
    )
