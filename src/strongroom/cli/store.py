"""Running an administrative command against the store the settings name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import click

from strongroom.errors import StrongroomError
from strongroom.metadata.database import Database
from strongroom.services import open_database
from strongroom.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def root_settings() -> Settings:
    """Settings from the environment and the ``--config``/``--data-dir`` given to ``strongroom``."""
    params = click.get_current_context().find_root().params
    try:
        return load_settings(params.get("config_file"), data_dir=params.get("data_dir"))
    except SettingsError as error:
        raise click.UsageError(str(error)) from None


def run_on_store(work: Callable[[Settings, Database], Awaitable[T]]) -> T:
    """Run ``work`` on the migrated database; domain errors become clean CLI errors."""
    settings = root_settings()

    async def main() -> T:
        database = open_database(settings)
        try:
            return await work(settings, database)
        finally:
            database.close()

    try:
        return anyio.run(main)
    except StrongroomError as error:
        raise click.ClickException(error.message) from None
