"""Policy documents on the command line: inline JSON, or ``file://path`` like the AWS CLI."""

from __future__ import annotations

from pathlib import Path

import click


def read_document(option: str, text: str) -> tuple[str, str]:
    """(name, text) of a document: ``inline`` for inline JSON, else the file's name."""
    if not text.startswith("file://"):
        return "inline", text
    path = Path(text.removeprefix("file://"))
    try:
        return path.name, path.read_text()
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error.strerror}", param_hint=option) from None
