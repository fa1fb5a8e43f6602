"""docs/commands.md names every ``strongroom`` command, and only commands that exist
(issue 10 §3.3: the documentation stands on its own)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click

from strongroom.cli.main import main

COMMANDS_DOC = Path(__file__).resolve().parents[3] / "docs" / "commands.md"
ROW = re.compile(r"^\| `strongroom (?P<command>[a-z][a-z -]*?)` \|", re.MULTILINE)


def leaf_commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[str]:
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):  # main loads its groups lazily
            sub = command.get_command(context, name)
            assert sub is not None, name
            yield from leaf_commands(sub, (*path, name))
    else:
        yield " ".join(path)


def test_every_command_has_a_row_in_docs_commands_md() -> None:
    documented = set(ROW.findall(COMMANDS_DOC.read_text()))
    existing = set(leaf_commands(main))
    missing = sorted(existing - documented)
    assert not missing, f"add a row to docs/commands.md for: {', '.join(f'strongroom {c}' for c in missing)}"
    stale = sorted(documented - existing)
    assert not stale, f"docs/commands.md names commands that do not exist: {stale}"
