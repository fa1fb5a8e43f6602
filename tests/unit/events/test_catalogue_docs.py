"""docs/events.md shows the event catalogue exactly as strongroom.events.catalogue holds it."""

from __future__ import annotations

import re
from pathlib import Path

from strongroom.events.catalogue import CATALOGUE, markdown_table

EVENTS_DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"
BLOCK = re.compile(r"<!-- catalogue:begin -->\n(.*?)<!-- catalogue:end -->", re.DOTALL)


def test_docs_events_md_is_the_catalogue_rendered() -> None:
    match = BLOCK.search(EVENTS_DOC.read_text())
    assert match is not None, "docs/events.md lost its catalogue markers"
    assert match.group(1) == markdown_table(), (
        "docs/events.md differs from the catalogue: paste `python -m strongroom.events.catalogue` "
        "between its markers"
    )


def test_every_event_has_a_row() -> None:
    table = markdown_table()
    assert all(f"| `{name}` |" in table for name in CATALOGUE)
