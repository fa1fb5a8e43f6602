"""``strongroom lifecycle run`` and ``strongroom gc``: the lifecycle job and garbage
collection on demand, on the store named by the settings, while servers run on it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import anyio
import click

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
        services = await build_services(settings)
        try:
            return await work(services)
        finally:
            services.close()

    try:
        return anyio.run(main)
    except StrongroomError as error:
        raise click.ClickException(error.message) from None


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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
@json_option
def run(repository: str | None, dry_run: bool, as_json: bool) -> None:
    """Apply lifecycle policies now, then collect garbage; print what was (or would be)
    expired and why."""

    async def work(services: Services) -> tuple[list[LifecycleRun], GcReport]:
        ref = RepositoryRef.parse(repository, services.default_account_id) if repository else None
        runs = await services.lifecycle.run(ref, dry_run=dry_run)
        return runs, await services.gc.collect(dry_run=dry_run)

    runs, report = run_with_services(work)
    if as_json:
        click.echo(
            json.dumps({"repositories": [r.as_json() for r in runs], "gc": report.as_json()}, indent=2)
        )
        return
    verb = "would expire" if dry_run else "expired"
    if not runs:
        click.echo("no repository has a lifecycle policy")
    for repository_run in runs:
        name = f"{repository_run.account_id}/{repository_run.repository}"
        if not repository_run.verdicts:
            click.echo(f"{name}: nothing to expire")
        for verdict in repository_run.verdicts:
            done = dry_run or verdict.digest in repository_run.expired
            tags = ",".join(verdict.tags) or "<untagged>"
            state = verb if done else "kept (changed since judged)"
            click.echo(f"{name}: {state} {verdict.digest} [{tags}]: {verdict.reason}")
    _echo_gc(report)


@click.command("gc")
@dry_run_option
@click.option("--grace-seconds", type=click.IntRange(min=0), help="Spare links and blobs younger than this.")
@json_option
def gc(dry_run: bool, grace_seconds: int | None, as_json: bool) -> None:
    """Collect garbage: unlink blobs no image needs, delete blobs no repository links."""
    grace = None if grace_seconds is None else timedelta(seconds=grace_seconds)
    report = run_with_services(lambda services: services.gc.collect(dry_run=dry_run, grace=grace))
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        _echo_gc(report)


def _echo_gc(report: GcReport) -> None:
    would = "would be " if report.dry_run else ""
    click.echo(
        f"garbage collection: {report.links_removed} blob links {would}removed, "
        f"{report.blobs_deleted} blobs {would}deleted, {report.bytes_freed} bytes {would}freed"
        + (f", {report.blobs_kept} kept (in use by a racing push)" if report.blobs_kept else "")
    )
