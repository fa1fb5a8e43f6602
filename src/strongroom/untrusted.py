"""Reading text a client sent: the one JSON reader every front door uses, and the one
reader of decimal integers in headers, query strings and forms.

Python's own readers are unsafe on hostile input in ways that surface as 500s:

* ``json.loads`` recurses once per nesting level (``RecursionError`` at about a thousand),
  turns digits into ``int`` without bound (``ValueError`` past 4,300 digits, Python's
  int-str conversion limit), accepts ``NaN``/``Infinity`` (not JSON), guesses UTF-16/32 and
  skips a UTF-8 byte order mark in bytes (RFC 8259 §8.1: JSON exchanged between systems
  is UTF-8 without one), keeps the last of duplicate keys (two readers of one document
  may then see different documents), and yields strings holding lone surrogates from
  ``\\ud800`` escapes, which no UTF-8 encoder (database, response) will write;
* ``str.isdigit`` accepts ``²`` (which ``int`` refuses) and ``int`` accepts ``٣`` (which no
  AWS service does).

:func:`read_json` refuses all of these with :class:`InputRefused` (a ``ValueError``),
which each caller words in its own protocol. It does no I/O and imports nothing of
Strongroom, so the pure packages (``oci``, ``policy``, ``lifecycle``) use it too.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
"""Nesting levels of arrays and objects. Manifests, policies and AWS request bodies use
fewer than ten; Python's recursion limit is near a thousand."""

MAX_NUMBER_LENGTH = 100
"""Characters in one JSON number. A 64-bit integer has at most 20, a double needs at most
24; what a number means (a size, a count) is bounded by whoever reads it."""

_LONE_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_ASCII_DECIMAL = re.compile(r"[0-9]+")


class InputRefused(ValueError):
    """Text this module will not read; the message says why, for the client."""


def read_json(data: bytes | str) -> Any:
    """The JSON value in ``data`` (UTF-8 bytes, or text), within the limits above.

    Raises :class:`InputRefused` for anything but one strict RFC 8259 value: malformed
    syntax, a byte order mark, other encodings, ``NaN``/``Infinity``, duplicate keys,
    lone surrogates, numbers over :data:`MAX_NUMBER_LENGTH` characters, or nesting deeper
    than :data:`MAX_DEPTH`.
    """
    text = _utf8(data)
    if text.startswith("\ufeff"):
        raise InputRefused("a byte order mark (BOM) before the JSON text")
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise InputRefused(f"JSON nested more than {MAX_DEPTH} levels deep") from None
    except InputRefused:
        raise
    except ValueError as error:
        raise InputRefused(f"not valid JSON: {error}") from None
    surrogates = _LONE_SURROGATE_ESCAPE.search(text) is not None
    if surrogates or text.count("[") + text.count("{") > MAX_DEPTH:  # else too few to nest deeper
        _check_structure(value, surrogates=surrogates)
    return value


def decimal_integer(text: str, max_digits: int) -> int | None:
    """``text`` as an integer if it is 1 to ``max_digits`` ASCII digits, else None (no
    sign, space, underscore or other script's digits, as AWS and HTTP read numbers)."""
    if not 0 < len(text) <= max_digits or _ASCII_DECIMAL.fullmatch(text) is None:
        return None
    return int(text)


def _utf8(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")  # strict, and keeps a BOM as U+FEFF for json to refuse
    except UnicodeDecodeError as error:
        raise InputRefused(f"not UTF-8: {error.reason} at byte {error.start}") from None


def _integer(literal: str) -> int:
    _check_number_length(literal)
    return int(literal)


def _float(literal: str) -> float:
    _check_number_length(literal)
    return float(literal)


def _check_number_length(literal: str) -> None:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise InputRefused(f"a number longer than {MAX_NUMBER_LENGTH} characters")


def _constant(name: str) -> Any:
    raise InputRefused(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InputRefused(f"duplicate key {key[:100]!r}")
            seen.add(key)
    return result


_DECODER = json.JSONDecoder(
    parse_int=_integer, parse_float=_float, parse_constant=_constant, object_pairs_hook=_unique_keys
)
"""Made once (``json.loads`` with arguments builds a decoder per call); like json's own
default decoder, shared by every thread. The number hooks cost a call per number (a
manifest parses in about 1.5x the time); a regular expression looking for long digit
runs first cost ten times more on a 27 MiB base64 layer part."""


def _check_structure(value: Any, *, surrogates: bool) -> None:
    """Without recursion: nesting depth, and (when the text escapes one) lone surrogates.
    Only containers are stacked, so a flat array of millions of numbers costs no more."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)) and depth > MAX_DEPTH:
            raise InputRefused(f"JSON nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            if surrogates:
                _check_texts(item.keys())
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            if surrogates and isinstance(item, str):
                _check_texts((item,))
            continue
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            elif surrogates and isinstance(child, str):
                _check_texts((child,))


def _check_texts(texts: Any) -> None:
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InputRefused("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
