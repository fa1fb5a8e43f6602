"""Condition operators, one family at a time (policy/conditions.py).

Semantics from the IAM User Guide, "IAM JSON policy elements: Condition operators"
and "Conditions with multiple context keys or values".
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from strongroom.policy.conditions import conditions_hold, parse_condition
from strongroom.policy.context import Context, ContextValue
from strongroom.policy.errors import MalformedPolicyDocument


def holds(
    condition: Mapping[str, object], context: Mapping[str, ContextValue], *, variables: bool = True
) -> bool:
    return conditions_hold(parse_condition(condition, variables=variables), Context.of(context))


# (condition, context, expected)
STRING_CASES: list[tuple[dict[str, object], dict[str, ContextValue], bool]] = [
    ({"StringEquals": {"aws:username": "alice"}}, {"aws:username": "alice"}, True),
    ({"StringEquals": {"aws:username": "alice"}}, {"aws:username": "Alice"}, False),
    ({"StringEquals": {"aws:username": ["bob", "alice"]}}, {"aws:username": "alice"}, True),  # values OR'ed
    ({"StringEquals": {"AWS:USERNAME": "alice"}}, {"aws:username": "alice"}, True),  # key names ignore case
    ({"StringEquals": {"aws:username": "alice"}}, {}, False),  # missing key: positive operator is false
    ({"StringNotEquals": {"aws:username": "alice"}}, {"aws:username": "bob"}, True),
    ({"StringNotEquals": {"aws:username": ["bob", "alice"]}}, {"aws:username": "alice"}, False),  # NOR
    ({"StringNotEquals": {"aws:username": "alice"}}, {}, True),  # missing key: negated operator is true
    ({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}, {"aws:username": "alice"}, True),
    ({"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}}, {"aws:username": "alice"}, False),
    ({"StringLike": {"ecr:ResourceTag/env": "prod-*"}}, {"ecr:ResourceTag/env": "prod-eu"}, True),
    ({"StringLike": {"ecr:ResourceTag/env": "prod-?"}}, {"ecr:ResourceTag/env": "prod-eu"}, False),
    ({"StringLike": {"ecr:ResourceTag/env": "PROD-*"}}, {"ecr:ResourceTag/env": "prod-eu"}, False),
    ({"StringNotLike": {"ecr:ResourceTag/env": "prod-*"}}, {"ecr:ResourceTag/env": "dev"}, True),
    ({"StringNotLike": {"ecr:ResourceTag/env": "prod-*"}}, {}, True),
    ({"StringEqualsIfExists": {"aws:username": "alice"}}, {}, True),
    ({"StringEqualsIfExists": {"aws:username": "alice"}}, {"aws:username": "bob"}, False),
    ({"StringNotEqualsIfExists": {"aws:username": "alice"}}, {"aws:username": "alice"}, False),
]

ARN_CASES: list[tuple[dict[str, object], dict[str, ContextValue], bool]] = [
    (
        {"ArnEquals": {"aws:SourceArn": "arn:aws:ecr:us-east-1:111122223333:repository/a"}},
        {"aws:SourceArn": "arn:aws:ecr:us-east-1:111122223333:repository/a"},
        True,
    ),
    # ArnEquals takes wildcards too ("ARN condition operators").
    (
        {"ArnEquals": {"aws:SourceArn": "arn:aws:ecr:*:111122223333:repository/*"}},
        {"aws:SourceArn": "arn:aws:ecr:eu-west-1:111122223333:repository/a/b"},
        True,
    ),
    (
        {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ci-*"}},
        {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ci-build"},
        True,
    ),
    (
        {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ci-*"}},
        {"aws:PrincipalArn": "arn:aws:iam::444455556666:role/ci-build"},
        False,
    ),
    (
        {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/admin"}},
        {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ci"},
        True,
    ),
    (
        {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:*"}},
        {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/x"},
        False,
    ),
    ({"ArnNotLike": {"aws:SourceArn": "arn:aws:iam::111122223333:*"}}, {}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:iam::111122223333:*"}}, {"aws:SourceArn": "not-an-arn"}, False),
]

NUMERIC_CASES: list[tuple[dict[str, object], dict[str, ContextValue], bool]] = [
    ({"NumericEquals": {"ecr:n": "10"}}, {"ecr:n": "10.0"}, True),
    ({"NumericNotEquals": {"ecr:n": "10"}}, {"ecr:n": "11"}, True),
    ({"NumericLessThan": {"ecr:n": 10}}, {"ecr:n": "9"}, True),
    ({"NumericLessThan": {"ecr:n": 10}}, {"ecr:n": "10"}, False),
    ({"NumericLessThanEquals": {"ecr:n": 10}}, {"ecr:n": "10"}, True),
    ({"NumericGreaterThan": {"ecr:n": "1.5"}}, {"ecr:n": "2"}, True),
    ({"NumericGreaterThanEquals": {"ecr:n": "-1"}}, {"ecr:n": "-1"}, True),
    ({"NumericGreaterThan": {"ecr:n": "1"}}, {"ecr:n": "many"}, False),  # unparsable request value
    ({"NumericGreaterThan": {"ecr:n": "1"}}, {}, False),
    ({"NumericLessThanIfExists": {"ecr:n": "1"}}, {}, True),
]

DATE_CASES: list[tuple[dict[str, object], dict[str, ContextValue], bool]] = [
    # "Date condition operators": the guide's aws:CurrentTime / aws:EpochTime examples.
    (
        {"DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"}},
        {"aws:CurrentTime": "2020-06-30T00:00:00Z"},
        True,
    ),
    (
        {"DateLessThan": {"aws:CurrentTime": "2020-06-30T00:00:00Z"}},
        {"aws:CurrentTime": "2020-06-30T00:00:00Z"},
        False,
    ),
    (
        {"DateLessThanEquals": {"aws:CurrentTime": "2020-06-30"}},
        {"aws:CurrentTime": "2020-06-30T00:00:00Z"},
        True,
    ),
    ({"DateEquals": {"aws:CurrentTime": "1593475200"}}, {"aws:CurrentTime": "2020-06-30T00:00:00Z"}, True),
    ({"DateNotEquals": {"aws:CurrentTime": "1593475200"}}, {"aws:CurrentTime": "2020-06-30T00:00:01Z"}, True),
    (
        {"DateGreaterThanEquals": {"aws:CurrentTime": "2020-06-30T02:00:00+02:00"}},
        {"aws:CurrentTime": "2020-06-30T00:00:00Z"},
        True,
    ),
    ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:CurrentTime": "soon"}, False),
]

BOOL_IP_NULL_CASES: list[tuple[dict[str, object], dict[str, ContextValue], bool]] = [
    ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "false"}, True),
    ({"Bool": {"aws:SecureTransport": False}}, {"aws:SecureTransport": "FALSE"}, True),
    ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
    ({"Bool": {"aws:SecureTransport": "false"}}, {}, False),
    ({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, {}, True),
    # "IP address condition operators": the guide's 203.0.113.0/24 and 2001:DB8:1234:5678::/64.
    ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"}, True),
    (
        {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}},
        {"aws:SourceIp": "2001:db8:1234:5678::1"},
        True,
    ),
    ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "2001:db8::1"}, False),
    ({"IpAddress": {"aws:SourceIp": "203.0.113.5"}}, {"aws:SourceIp": "203.0.113.5"}, True),
    ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "garbage"}, False),
    ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "198.51.100.1"}, True),
    ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.1"}, False),
    ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {}, True),
    ({"Null": {"aws:TokenIssueTime": "true"}}, {}, True),
    ({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": "x"}, False),
    ({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": "x"}, True),
    ({"Null": {"aws:TagKeys": "true"}}, {"aws:TagKeys": []}, True),  # an empty list is absent
]

SET_CASES: list[tuple[dict[str, object], dict[str, ContextValue], bool]] = [
    # "Set operators for multivalued context keys": the guide's aws:TagKeys examples.
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}, {"aws:TagKeys": ["env"]}, True),
    (
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}},
        {"aws:TagKeys": ["env", "cost"]},
        False,
    ),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}, {}, True),  # missing: vacuously true
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}, {"aws:TagKeys": []}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}}, {"aws:TagKeys": ["cost", "env"]}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, {"aws:TagKeys": ["cost"]}, False),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}, {}, False),  # missing: false
    ({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["env"]}}, {"aws:TagKeys": ["env", "cost"]}, True),
    ({"ForAllValues:StringNotLike": {"aws:TagKeys": ["sys:*"]}}, {"aws:TagKeys": ["env", "sys:x"]}, False),
    ({"ForAllValues:StringLike": {"aws:TagKeys": ["e*", "t*"]}}, {"aws:TagKeys": ["env", "team"]}, True),
    ({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["env"]}}, {}, True),
    # Without a qualifier a multivalued key passes when any value matches.
    ({"StringEquals": {"aws:TagKeys": "env"}}, {"aws:TagKeys": ["cost", "env"]}, True),
    ({"StringNotEquals": {"aws:TagKeys": "env"}}, {"aws:TagKeys": ["cost", "env"]}, False),
]

VARIABLE_CASES: list[tuple[dict[str, object], dict[str, ContextValue], bool]] = [
    (
        {"StringEquals": {"ecr:ResourceTag/owner": "${aws:username}"}},
        {"ecr:ResourceTag/owner": "alice", "aws:username": "alice"},
        True,
    ),
    (
        {"StringEquals": {"ecr:ResourceTag/owner": "${aws:username}"}},
        {"ecr:ResourceTag/owner": "alice", "aws:username": "bob"},
        False,
    ),
    # A variable with no value matches nothing; the default form supplies one.
    (
        {"StringEquals": {"ecr:ResourceTag/owner": "${aws:username}"}},
        {"ecr:ResourceTag/owner": "alice"},
        False,
    ),
    (
        {"StringNotEquals": {"ecr:ResourceTag/owner": "${aws:username}"}},
        {"ecr:ResourceTag/owner": "alice"},
        True,
    ),
    (
        {"StringEquals": {"ecr:ResourceTag/owner": "${aws:username, 'alice'}"}},
        {"ecr:ResourceTag/owner": "alice"},
        True,
    ),
    (
        {"StringLike": {"ecr:ResourceTag/path": "${aws:username}/*"}},
        {"ecr:ResourceTag/path": "alice/x", "aws:username": "alice"},
        True,
    ),
    ({"StringEquals": {"ecr:ResourceTag/glob": "${*}"}}, {"ecr:ResourceTag/glob": "*"}, True),
    (
        {"ArnLike": {"aws:SourceArn": "arn:aws:ecr:*:${aws:PrincipalAccount}:repository/*"}},
        {
            "aws:SourceArn": "arn:aws:ecr:us-east-1:111122223333:repository/a",
            "aws:PrincipalAccount": "111122223333",
        },
        True,
    ),
]

MULTIPLE_CASES: list[tuple[dict[str, object], dict[str, ContextValue], bool]] = [
    # Several keys under one operator, and several operators, are AND'ed.
    (
        {"StringEquals": {"aws:username": "alice", "aws:PrincipalAccount": "111122223333"}},
        {"aws:username": "alice", "aws:PrincipalAccount": "111122223333"},
        True,
    ),
    (
        {"StringEquals": {"aws:username": "alice", "aws:PrincipalAccount": "111122223333"}},
        {"aws:username": "alice", "aws:PrincipalAccount": "444455556666"},
        False,
    ),
    (
        {"StringEquals": {"aws:username": "alice"}, "Bool": {"aws:SecureTransport": "true"}},
        {"aws:username": "alice", "aws:SecureTransport": "false"},
        False,
    ),
    (
        {"StringEquals": {"aws:username": "alice"}, "Bool": {"aws:SecureTransport": "true"}},
        {"aws:username": "alice", "aws:SecureTransport": "true"},
        True,
    ),
]


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    STRING_CASES
    + ARN_CASES
    + NUMERIC_CASES
    + DATE_CASES
    + BOOL_IP_NULL_CASES
    + SET_CASES
    + VARIABLE_CASES
    + MULTIPLE_CASES,
)
def test_condition_operators(
    condition: dict[str, object], context: dict[str, ContextValue], expected: bool
) -> None:
    assert holds(condition, context) is expected


def test_version_2008_documents_compare_variables_as_text() -> None:
    condition = {"StringEquals": {"ecr:ResourceTag/owner": "${aws:username}"}}
    context: dict[str, ContextValue] = {"ecr:ResourceTag/owner": "${aws:username}", "aws:username": "alice"}
    assert holds(condition, context, variables=False)
    assert not holds(condition, context)


def test_numeric_and_ip_values_take_no_variables() -> None:
    # Numeric values are checked when parsed, so a variable there is a malformed number.
    with pytest.raises(MalformedPolicyDocument):
        parse_condition({"NumericEquals": {"ecr:n": "${ecr:m}"}}, variables=True)
