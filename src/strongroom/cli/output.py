"""How every ``strongroom`` command prints data: ``--output table|json``.

One convention (DESIGN.md §10): a command that prints data takes ``--output``; without it
the output is a table when standard output is a terminal and JSON otherwise, so a person
reads columns and a script parses JSON without asking for it. Commands build one
JSON-able value (shaped like the AWS CLI's where AWS has the command) and may add the
tables a person wants to see; without tables, the value itself is laid out as one
(:meth:`Table.of`). Nothing else in ``cli/`` formats output.

Table cells are escaped: audit records and repository names carry text from remote
callers, and a terminal must never receive their control characters.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_GAP = "  "
_NONE = "-"


class Output(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


def output_option(function: F) -> F:
    """The ``--output`` option; the command receives ``output: Output | None``."""
    return click.option(
        "--output",
        type=click.Choice([choice.value for choice in Output]),
        callback=_to_output,
        help="table or json (default: table on a terminal, json otherwise).",
    )(function)


def _to_output(_context: click.Context, _parameter: click.Parameter, value: str | None) -> Output | None:
    return None if value is None else Output(value)


def resolve(output: Output | None) -> Output:
    """The format asked for, else table on a terminal and JSON otherwise."""
    if output is not None:
        return output
    return Output.TABLE if sys.stdout.isatty() else Output.JSON


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under column headers; ``title`` is printed above when given."""

    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    title: str | None = None

    @classmethod
    def of(cls, value: object) -> Table:
        """A JSON-able value laid out as a table: a list of objects (alone, or the only
        member of an object, as in ``{"Roles": […]}``) gives one row per object;
        anything else gives one ``FIELD VALUE`` row per leaf, nested names dotted."""
        inner = value
        while isinstance(inner, Mapping) and len(inner) == 1:
            inner = next(iter(inner.values()))
        if isinstance(inner, list) and inner and all(isinstance(item, Mapping) for item in inner):
            columns = list(dict.fromkeys(key for item in inner for key in item))
            return cls(columns, [[item.get(key) for key in columns] for item in inner])
        return cls(["FIELD", "VALUE"], list(_leaves("", value)))

    def lines(self) -> list[str]:
        """The table as aligned text lines, header first."""
        header = [str(column).upper() for column in self.columns]
        body = [[_cell(value) for value in row] for row in self.rows]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        return [
            _GAP.join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
            for line in [header, *body]
        ]


def emit(output: Output | None, value: object, *tables: Table) -> None:
    """Print ``value`` as JSON, or as ``tables`` (default: ``Table.of(value)``)."""
    if resolve(output) is Output.JSON:
        click.echo(json.dumps(value, indent=2, default=str))
        return
    for number, table in enumerate(tables or (Table.of(value),)):
        if number:
            click.echo("")
        if table.title:
            click.echo(_escape(table.title))
        click.echo("\n".join(table.lines()))


def _leaves(prefix: str, value: object) -> Iterable[tuple[str, object]]:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            yield from _leaves(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list) and value and not all(_is_scalar(item) for item in value):
        for index, inner in enumerate(value):
            yield from _leaves(f"{prefix}[{index}]", inner)
    else:
        yield prefix or "value", value


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _cell(value: object) -> str:
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(_is_scalar(item) for item in value):
        return _escape(",".join(_cell(item) for item in value)) if value else _NONE
    if isinstance(value, Mapping | list):
        return _escape(json.dumps(value, default=str, separators=(",", ":")))
    return _escape(str(value))


def _escape(text: str) -> str:
    """Control characters as escapes, so remote text cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
