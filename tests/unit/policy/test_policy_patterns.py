"""Wildcards, ARN patterns and policy variables (policy/patterns.py)."""

from __future__ import annotations

import pytest

from strongroom.policy.context import Context
from strongroom.policy.patterns import Template, literal

REPO = "arn:aws:ecr:us-east-1:123456789012:repository/ml/model-a"


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("ecr:*", "ecr:BatchGetImage", True),
        ("ecr:Batch*", "ecr:BatchCheckLayerAvailability", True),
        ("ecr:Batch*", "ecr:PutImage", False),
        ("ecr:?utImage", "ecr:PutImage", True),
        ("ecr:?utImage", "ecr:PPutImage", False),
        ("*", "anything:at all", True),
        ("a.b", "axb", False),  # regex metacharacters are literal
    ],
)
def test_whole_string_wildcards(pattern: str, value: str, expected: bool) -> None:
    assert literal(pattern).like(value) is expected


def test_like_can_ignore_case_for_actions() -> None:
    assert literal("ECR:batchgetimage").like("ecr:BatchGetImage", ignore_case=True)
    assert not literal("ECR:batchgetimage").like("ecr:BatchGetImage")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", True),
        (REPO, True),
        ("arn:aws:ecr:*:*:repository/*", True),
        ("arn:aws:ecr:us-east-1:123456789012:repository/ml/*", True),
        ("arn:aws:ecr:us-east-1:123456789012:repository/ML/*", False),  # resources are case-sensitive
        ("arn:aws:ecr:us-east-?:123456789012:repository/ml/model-?", True),
        # A wildcard stays within its component: "*" cannot swallow "us-east-1:1234…".
        ("arn:aws:ecr:*:repository/ml/model-a", True),  # fewer than six components: whole string
        ("arn:aws:ecr:*:123456789012:*", True),
        ("arn:aws:*:us-east-1:123456789012:repository/ml/model-a", True),
        ("arn:aws:ecr:us-east-1:*:repository/other", False),
    ],
)
def test_arn_patterns(pattern: str, expected: bool) -> None:
    assert literal(pattern).arn_like(REPO) is expected


def test_component_wildcards_do_not_cross_colons() -> None:
    assert not literal("arn:aws:ecr:*:123456789012:repository/x").arn_like(
        "arn:aws:ecr:us-east-1:extra:123456789012:repository/x"
    )


CONTEXT = Context.of({"aws:username": "alice", "aws:PrincipalTag/team": "ml", "aws:TagKeys": ["a", "b"]})


@pytest.mark.parametrize(
    ("template", "resolved"),
    [
        # "IAM policy elements: Variables and tags"
        ("arn:aws:ecr:*:*:repository/${aws:username}/*", "arn:aws:ecr:*:*:repository/alice/*"),
        ("${AWS:UserName}", "alice"),  # key names are case-insensitive
        ("team-${aws:PrincipalTag/team}", "team-ml"),
        ("${aws:missing, 'nobody'}", "nobody"),
        ("${aws:username, 'nobody'}", "alice"),
        ("literal ${*} ${?} ${$}", "literal * ? $"),
        ("not a variable: ${ }", "not a variable: ${ }"),
        ("unterminated ${aws:username", "unterminated ${aws:username"),
    ],
)
def test_variables_are_substituted(template: str, resolved: str) -> None:
    result = Template.parse(template).resolve(CONTEXT)
    assert result is not None
    assert result.text == resolved


@pytest.mark.parametrize("template", ["${aws:missing}", "x/${aws:TagKeys}"])
def test_a_variable_without_a_single_value_leaves_the_string_unresolved(template: str) -> None:
    assert Template.parse(template).resolve(CONTEXT) is None


def test_escaped_wildcards_and_substituted_values_are_literal() -> None:
    star = Template.parse("repo-${*}").resolve(CONTEXT)
    assert star is not None
    assert star.like("repo-*")
    assert not star.like("repo-anything")
    tricky = Context.of({"aws:username": "a*"})
    resolved = Template.parse("user/${aws:username}").resolve(tricky)
    assert resolved is not None
    assert resolved.like("user/a*")
    assert not resolved.like("user/abc")


def test_version_2008_keeps_variables_as_text() -> None:
    template = Template.parse("${aws:username}", variables=False)
    assert not template.has_variables
    resolved = template.resolve(CONTEXT)
    assert resolved is not None
    assert resolved.text == "${aws:username}"
