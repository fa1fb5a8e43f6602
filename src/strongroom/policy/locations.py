"""Where a finding is in the policy text, as IAM Access Analyzer's ValidatePolicy says it:
``{"path": [PathElement…], "span": {"start": Position, "end": Position}}``.

A PathElement is ``{"value": <key>}`` (the value of that key in an object) or
``{"index": <n>}`` (an array position); a Position is ``line`` (from 1), ``column`` (from
0) and ``offset`` (from 0, in characters). A finding's path is written against the policy
grammar, where a single statement or action may stand without its array; those
positions are dropped from the path when the document wrote no array there, so the path
always leads through the text as written.

The text is scanned once, keeping each value's extent; the standard library's decoder
reads the keys, strings and numbers, so the scanner agrees with how the document was parsed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


@dataclass(slots=True)
class _Node:
    start: int
    end: int
    members: dict[str, _Node] = field(default_factory=dict)
    items: list[_Node] | None = None


def locations(text: str, path: tuple[str | int, ...]) -> list[dict[str, object]]:
    """The location of ``path`` in ``text``; [] where the text cannot be followed."""
    try:
        root = _value(text, _skip(text, 0))[0]
    except (ValueError, IndexError, RecursionError):
        return []
    node, elements = root, list[dict[str, object]]()
    for step in path:
        if isinstance(step, int):
            if node.items is None:
                if step == 0:
                    continue  # a single entry written without its array
                return []
            if step >= len(node.items):
                return []
            node = node.items[step]
            elements.append({"index": step})
        else:
            if step not in node.members:
                return []
            node = node.members[step]
            elements.append({"value": step})
    span = {"start": _position(text, node.start), "end": _position(text, node.end)}
    return [{"path": elements, "span": span}]


def _position(text: str, offset: int) -> dict[str, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return {"line": text.count("\n", 0, offset) + 1, "column": offset - line_start, "offset": offset}


def _skip(text: str, at: int) -> int:
    found = _WHITESPACE.match(text, at)
    return at if found is None else found.end()


def _value(text: str, at: int) -> tuple[_Node, int]:
    """The value starting at ``at`` and the offset just after it."""
    first = text[at]
    if first == "{":
        return _object(text, at)
    if first == "[":
        return _array(text, at)
    end = _DECODER.raw_decode(text, at)[1]
    return _Node(at, end), end


def _object(text: str, start: int) -> tuple[_Node, int]:
    node = _Node(start, start)
    at = _skip(text, start + 1)
    while text[at] != "}":
        key, at = _DECODER.raw_decode(text, at)
        at = _skip(text, at)
        if text[at] != ":":
            raise ValueError("expected ':'")
        member, at = _value(text, _skip(text, at + 1))
        node.members[key] = member
        at = _skip(text, at)
        if text[at] == ",":
            at = _skip(text, at + 1)
    node.end = at + 1
    return node, at + 1


def _array(text: str, start: int) -> tuple[_Node, int]:
    node = _Node(start, start, items=[])
    assert node.items is not None
    at = _skip(text, start + 1)
    while text[at] != "]":
        item, at = _value(text, at)
        node.items.append(item)
        at = _skip(text, at)
        if text[at] == ",":
            at = _skip(text, at + 1)
    node.end = at + 1
    return node, at + 1
