"""A command group whose subcommands are imported when used.

``strongroom model push`` needs the client SDK, not the server: imported eagerly, every
command module brought SQLAlchemy, the services and the IAM store along, 0.74 s of imports
before any work (``python -X importtime``). Listing the commands (``--help``) still loads
them all, for their short help.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import click

Loader = str | Callable[[], click.Command]
"""``"module:attribute"``, or a function returning the command (when it also wires in
commands of other modules)."""


class LazyGroup(click.Group):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy: dict[str, Loader] = {}
        self._loaded: dict[str, click.Command] = {}

    def add_lazy(self, name: str, loader: Loader) -> None:
        self._lazy[name] = loader

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        loader = self._lazy.get(cmd_name)
        if loader is None:
            return super().get_command(ctx, cmd_name)
        if cmd_name not in self._loaded:
            if isinstance(loader, str):
                module, attribute = loader.split(":")
                command = getattr(importlib.import_module(module), attribute)
            else:
                command = loader()
            self._loaded[cmd_name] = command
        return self._loaded[cmd_name]
