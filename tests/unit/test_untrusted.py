"""The one reader of client JSON and decimal numbers: what it refuses, and that it reads
every valid document exactly as ``json.loads`` does."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.untrusted import MAX_DEPTH, MAX_NUMBER_LENGTH, InputRefused, decimal_integer, read_json


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("[" * 50_000 + "]" * 50_000, "nested more than"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested more than"),
        ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), "nested more than"),
        ("9" * 5000, "number longer"),
        ("-" + "1" * MAX_NUMBER_LENGTH, "number longer"),
        ("0." + "1" * MAX_NUMBER_LENGTH, "number longer"),
        ("NaN", "NaN is not a JSON value"),
        ("[-Infinity]", "-Infinity is not a JSON value"),
        ("\ufeff{}", "BOM"),
        (b"\xef\xbb\xbf{}", "BOM"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"b": {"x": 1, "x": 1}}', "duplicate key 'x'"),
        ('["\\ud800"]', "lone UTF-16 surrogate"),
        ('{"\\udfff": 1}', "lone UTF-16 surrogate"),
        ('["\\ude00\\ud83d"]', "lone UTF-16 surrogate"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8"),
        ('{"a": 1}'.encode("utf-16-le"), "not valid JSON"),
        (b'"\xed\xa0\x80"', "not UTF-8"),
        ("", "not valid JSON"),
        ("{} []", "not valid JSON"),
        ('"tab\there"', "not valid JSON"),
    ],
)
def test_refuses(data: str | bytes, reason: str) -> None:
    with pytest.raises(InputRefused, match=re.escape(reason)):
        read_json(data)


def test_the_limits_themselves_are_accepted() -> None:
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert read_json(deepest) == json.loads(deepest)
    wide = "[" + ",".join(["[]"] * 1000) + "]"  # many brackets, two levels
    assert read_json(wide) == json.loads(wide)
    assert read_json("9" * MAX_NUMBER_LENGTH) == int("9" * MAX_NUMBER_LENGTH)
    assert read_json('["\\ud83d\\ude00"]') == ["\N{GRINNING FACE}"]
    assert read_json(b'{"caf\xc3\xa9": [1.5e300, -0, true, null]}') == {"café": [1.5e300, 0, True, None]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@given(value=json_values, ascii_only=st.booleans())
def test_reads_what_json_writes(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert read_json(text) == json.loads(text)
    assert read_json(text.encode("utf-8")) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("0900", 900), ("1000", 1000), ("9" * 19, int("9" * 19))],
)
def test_decimal_integers(text: str, expected: int) -> None:
    assert decimal_integer(text, max_digits=19) == expected


@pytest.mark.parametrize(
    "text",
    ["", "9" * 20, "9" * 5000, "\u00b2", "1\u00b2", "\u0663", "\uff11", "-1", "+1", " 1", "1 ", "1_0", "1e3"],
)
def test_anything_else_is_not_a_decimal_integer(text: str) -> None:
    assert decimal_integer(text, max_digits=19) is None
