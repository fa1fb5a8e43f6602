"""``strongroom`` commands."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from strongroom.cli.lazy import LazyGroup
from strongroom.cli.output import Output, emit, output_option
from strongroom.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from strongroom.auth.bootstrap import Bootstrap

INITIAL_PASSWORD_FILE = "initial-admin-password"  # noqa: S105 (a file name)
INITIAL_SECRET_FILE = "initial-admin-secret-access-key"  # noqa: S105 (a file name)

_common = [
    click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML settings file."),
    click.option("--data-dir", type=click.Path(path_type=Path), help="Data directory."),
    click.option("--database-url", help="SQLAlchemy URL (default: SQLite in the data directory)."),
]


def common_options(function: Any) -> Any:
    for option in reversed(_common):
        function = option(function)
    return function


def _settings(config_file: Path | None, **flags: Any) -> Settings:
    try:
        return load_settings(config_file, **flags)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None


@click.group(cls=LazyGroup)
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Data directory.")
def main(config_file: Path | None, data_dir: Path | None) -> None:
    """Strongroom: a secure registry for ML models and container images.

    --config and --data-dir given here apply to the administrative commands
    (account, iam, repo); serve, migrate and admin also take them themselves.
    Commands that print data take --output table|json (a table on a terminal, JSON
    otherwise); commands that write a file take --file."""


def _iam() -> click.Command:
    from strongroom.cli import iam, policy

    iam.iam.add_command(policy.simulate)
    iam.policy.add_command(policy.policy_validate)
    return iam.iam


def _repo() -> click.Command:
    from strongroom.cli import iam, pull_policies, repository

    for command in (
        repository.describe,
        pull_policies.set_pull_policy,
        pull_policies.delete_pull_policy,
        pull_policies.describe_pull_policy,
    ):
        iam.repo.add_command(command)
    return iam.repo


def _scan() -> click.Command:
    from strongroom.cli import pull_policies, scan

    for command in (pull_policies.accept, pull_policies.revoke, pull_policies.accepted):
        scan.scan.add_command(command)
    return scan.scan


main.add_lazy("account", "strongroom.cli.iam:account")
main.add_lazy("iam", _iam)
main.add_lazy("repo", _repo)
main.add_lazy("audit", "strongroom.cli.audit:audit")
main.add_lazy("jobs", "strongroom.cli.jobs:jobs")
main.add_lazy("events", "strongroom.cli.events:events")
main.add_lazy("webhook", "strongroom.cli.webhooks:webhook")
main.add_lazy("replication", "strongroom.cli.replication:replication")
main.add_lazy("lifecycle", "strongroom.cli.lifecycle:lifecycle")
main.add_lazy("gc", "strongroom.cli.lifecycle:gc")
main.add_lazy("scan", _scan)
main.add_lazy("model", "strongroom.cli.models:model")
main.add_lazy("lineage", "strongroom.cli.lineage:lineage")
main.add_lazy("vulndb", "strongroom.cli.scan:vulndb_group")


@main.command()
@common_options
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 5000).")
@click.option("--public-url", help="URL clients use to reach this registry.")
@click.option("--tls-cert", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--tls-key", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--workers", type=int, help="Worker processes (default: one per CPU core, at most 8).")
@click.option("--storage", type=click.Choice(["filesystem", "memory"]))
@click.option("--no-jobs", is_flag=True, help="Run no jobs here; leave them to `strongroom jobs run`.")
def serve(config_file: Path | None, no_jobs: bool, **flags: Any) -> None:
    """Run the registry (and, unless --no-jobs, its job runners)."""
    from strongroom.cli.preparation import LOG_FORMAT, prepare_apart
    from strongroom.cli.server import run_server

    settings = _settings(config_file, jobs=False if no_jobs else None, **flags)
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    boot = prepare_apart(settings)
    _print_welcome(settings, boot)
    run_server(settings)


@main.command()
@common_options
@output_option
def migrate(config_file: Path | None, output: Output | None, **flags: Any) -> None:
    """Create or upgrade the metadata schema, and the default account and administrator."""
    settings = _settings(config_file, **flags)
    import anyio

    from strongroom.services import prepare

    boot = anyio.run(prepare, settings)
    emit(
        output,
        {"account_id": boot.account_id, "admin_user": boot.admin_user, "access_key_id": boot.access_key_id},
    )
    if boot.generated_password:
        _hand_over(settings, INITIAL_PASSWORD_FILE, "administrator password", boot.generated_password)
    if boot.generated_secret:
        _hand_over(settings, INITIAL_SECRET_FILE, "administrator secret access key", boot.generated_secret)


@main.group()
def admin() -> None:
    """Administrator credentials."""


@admin.command("reset-password")
@common_options
@click.option("--user", "username", help="Administrator name (default: the configured admin user).")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def reset_password(
    config_file: Path | None, username: str | None, password_stdin: bool, **flags: Any
) -> None:
    """Replace an administrator's password (a new one is generated unless given)."""
    import anyio

    from strongroom.auth.passwords import Passwords, generate_password
    from strongroom.metadata.iam import SqlIamStore
    from strongroom.metadata.sql import SqlMetadataStore
    from strongroom.services import open_database

    settings = _settings(config_file, **flags)
    username = username or settings.admin_user
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else generate_password()
    if not password:
        raise click.UsageError("empty password")

    async def work() -> bool:
        database = open_database(settings)
        try:
            account = await SqlMetadataStore(database).default_account_id()
            if account is None:
                return False
            return await SqlIamStore(database).set_password(account, username, Passwords().hash(password))
        finally:
            database.close()

    if not anyio.run(work):
        raise click.ClickException(f"no user {username!r} in the default account")
    click.echo(f"Password of {username!r} replaced (running servers refuse the old one within a second).")
    if not password_stdin:
        _hand_over(settings, INITIAL_PASSWORD_FILE, "new password", password)


def _print_welcome(settings: Settings, boot: Bootstrap) -> None:
    registry = settings.resolved_public_url.split("://", 1)[1]
    click.echo(f"Strongroom serving {settings.resolved_public_url} (account {boot.account_id})")
    click.echo(f"  data directory: {settings.data_dir}")
    if boot.generated_password:
        _hand_over(settings, INITIAL_PASSWORD_FILE, "administrator password", boot.generated_password)
    if boot.access_key_id:
        click.echo(f"  administrator access key id: {boot.access_key_id}")
    if boot.generated_secret:
        _hand_over(settings, INITIAL_SECRET_FILE, "its secret access key", boot.generated_secret)
    click.echo(f"  log in:  podman login {registry} --username {boot.admin_user}")
    click.echo(f"           skopeo login {registry} --username {boot.admin_user}")
    if settings.tls_cert is None:
        click.echo("  (plain HTTP: add --tls-verify=false to podman/skopeo)")


def _hand_over(settings: Settings, file_name: str, what: str, secret: str) -> None:
    """Show a generated secret once: on a terminal, or in a 0600 file otherwise (never
    on a stream that may end up in a log)."""
    if sys.stdout.isatty():
        click.echo(f"  {what} (shown once): {secret}")
        return
    path = settings.data_dir / file_name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    # A notice, not data: standard output stays what --output promised.
    click.echo(f"  {what} written to {path} (readable only by you)", err=True)
