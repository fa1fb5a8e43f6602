"""Finding locations (policy/locations.py) and policy-type detection (policy/types.py).

Shape from IAM Access Analyzer's API reference: Location {path: [PathElement], span:
{start, end}}, PathElement {index | key | substring | value}, Position {line from 1,
column from 0, offset from 0}.
"""

from __future__ import annotations

import json

import pytest

from strongroom.policy.locations import locations
from strongroom.policy.types import PolicyType, detect_type


def test_a_path_through_arrays_and_objects() -> None:
    text = '{"Statement": [{"Effect": "Deny"}, {"Action": ["a:b", "c:d"]}]}'
    (found,) = locations(text, ("Statement", 1, "Action", 1))
    assert found["path"] == [{"value": "Statement"}, {"index": 1}, {"value": "Action"}, {"index": 1}]
    start = text.index('"c:d"')
    assert found["span"] == {
        "start": {"line": 1, "column": start, "offset": start},
        "end": {"line": 1, "column": start + 5, "offset": start + 5},
    }


def test_single_entries_written_without_their_array() -> None:
    text = '{"Statement": {"Action": "a:b"}}'
    (found,) = locations(text, ("Statement", 0, "Action", 0))
    assert found["path"] == [{"value": "Statement"}, {"value": "Action"}]
    assert text[found["span"]["start"]["offset"] : found["span"]["end"]["offset"]] == '"a:b"'


def test_lines_columns_escapes_and_non_ascii() -> None:
    text = '{\n  "Sid\\u0020x": "é",\n\t"Statement" :\r\n [ {"Effect":"Allow"} ]\n}'
    assert json.loads(text)  # valid as written
    (found,) = locations(text, ("Statement", 0, "Effect"))
    start = text.index('"Allow"')
    assert found["span"]["start"] == {
        "line": 4,
        "column": start - text.rindex("\n", 0, start) - 1,
        "offset": start,
    }
    (sid,) = locations(text, ("Sid x",))
    assert sid["span"]["start"]["line"] == 2


@pytest.mark.parametrize("path", [("Missing",), ("Statement", 3), ("Statement", 0, "Effect", 1)])
def test_paths_the_text_does_not_have(path: tuple[str | int, ...]) -> None:
    assert locations('{"Statement": [{"Effect": "Allow"}]}', path) == []


def test_text_that_is_not_json_has_no_locations() -> None:
    assert locations('{"Statement": [', ("Statement",)) == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("not json", PolicyType.IDENTITY),
        ("[]", PolicyType.IDENTITY),
        ('{"Statement": {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}}', PolicyType.IDENTITY),
        ('{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}}', PolicyType.RESOURCE),
        (
            '{"Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": "1"}, "NotAction": "sts:*"}}',
            PolicyType.TRUST,
        ),
        ('{"Statement": [{"Principal": "*", "Action": "ecr:*", "Resource": "*"}]}', PolicyType.REGISTRY),
    ],
)
def test_detect_type(document: str, expected: PolicyType) -> None:
    assert detect_type(document) is expected
