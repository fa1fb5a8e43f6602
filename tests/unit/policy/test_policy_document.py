"""Parsing and validating IAM JSON policy documents (policy/document.py)."""

from __future__ import annotations

import json

import pytest

from strongroom.errors import InvalidRequest
from strongroom.policy.document import Effect, Policy, PolicyKind, parse_policy
from strongroom.policy.errors import MalformedPolicyDocument

REPO = "arn:aws:ecr:us-east-1:123456789012:repository/ml/model-a"


def test_single_statement_object_and_defaults() -> None:
    policy = parse_policy(
        {"Statement": {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": REPO}},
        PolicyKind.IDENTITY,
    )
    assert policy.version == "2008-10-17"  # IAM's default when Version is absent
    assert len(policy.statements) == 1
    statement = policy.statements[0]
    assert statement.effect is Effect.ALLOW
    assert statement.actions.patterns == ("ecr:BatchGetImage",)
    assert not statement.actions.negated
    assert statement.principal is None


def test_principal_forms_normalise() -> None:
    # ECR User Guide, "Private repository policy examples": account ids, user ARNs and
    # service principals side by side.
    policy = Policy.from_json(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Id": "repo-policy",
                "Statement": [
                    {
                        "Sid": "AllowPull",
                        "Effect": "Allow",
                        "Principal": {
                            "AWS": ["111122223333", "arn:aws:iam::444455556666:user/ci"],
                            "Service": "codebuild.amazonaws.com",
                        },
                        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    }
                ],
            }
        ),
        PolicyKind.RESOURCE,
    )
    principal = policy.statements[0].principal
    assert principal is not None
    assert principal.arns == {"arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:user/ci"}
    assert principal.opaque == (("Service", "codebuild.amazonaws.com"),)
    assert not principal.wildcard
    assert policy.statements[0].resources is None  # resource policies may omit Resource
    assert policy.id == "repo-policy"


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*", "111122223333"]}])
def test_wildcard_principals(principal: object) -> None:
    policy = parse_policy(
        {"Statement": {"Effect": "Deny", "Principal": principal, "Action": "ecr:*"}}, PolicyKind.RESOURCE
    )
    assert policy.statements[0].principal is not None
    assert policy.statements[0].principal.wildcard


def test_condition_values_may_be_json_booleans_and_numbers() -> None:
    policy = parse_policy(
        {
            "Statement": {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": False}, "NumericLessThan": {"ecr:n": 5}},
            }
        },
        PolicyKind.IDENTITY,
    )
    sources = [[v.source for v in clause.values] for clause in policy.statements[0].conditions]
    assert sources == [["false"], ["5"]]


def test_malformed_is_an_invalid_request() -> None:
    assert issubclass(MalformedPolicyDocument, InvalidRequest)


def _statement(**fields: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": REPO, **fields}


# (kind, document, exact message)
MALFORMED: list[tuple[PolicyKind, object, str]] = [
    (PolicyKind.IDENTITY, [], "Policy document must be a JSON object"),
    (PolicyKind.IDENTITY, {"Version": "2012-10-17"}, "Policy document must contain a Statement"),
    (PolicyKind.IDENTITY, {"Statement": []}, "Statement must contain at least one statement"),
    (
        PolicyKind.IDENTITY,
        {"Version": "2020-01-01", "Statement": _statement()},
        'Version must be "2012-10-17" or "2008-10-17", not \'2020-01-01\'',
    ),
    (PolicyKind.IDENTITY, {"Statement": _statement(), "Foo": 1}, "Policy document has an unknown key 'Foo'"),
    (PolicyKind.IDENTITY, {"Statement": ["x"]}, "Statement 0: must be a JSON object"),
    (
        PolicyKind.IDENTITY,
        {"Statement": [_statement(Sid="A"), _statement(Sid="B", Actions="ecr:*")]},
        "Statement 1 (Sid 'B'): unknown key 'Actions'",
    ),
    (
        PolicyKind.RESOURCE,
        {
            "Statement": [
                _statement(Principal="*"),
                _statement(Principal="*"),
                _statement(Sid="AllowPull", Principal="*", NotAction="ecr:PutImage"),
            ]
        },
        "Statement 2 (Sid 'AllowPull'): Action and NotAction are mutually exclusive",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": {"Effect": "Allow", "Resource": "*"}},
        "Statement 0: one of Action or NotAction is required",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(NotResource=REPO)},
        "Statement 0: Resource and NotResource are mutually exclusive",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": {"Effect": "Allow", "Action": "ecr:*"}},
        "Statement 0: one of Resource or NotResource is required in an identity policy",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Principal="*")},
        "Statement 0: Principal is not allowed in an identity policy",
    ),
    (
        PolicyKind.RESOURCE,
        {"Statement": _statement()},
        "Statement 0: one of Principal or NotPrincipal is required in a resource policy",
    ),
    (
        PolicyKind.RESOURCE,
        {"Statement": _statement(Principal="*", NotPrincipal="*")},
        "Statement 0: Principal and NotPrincipal are mutually exclusive",
    ),
    (
        PolicyKind.RESOURCE,
        {"Statement": _statement(NotPrincipal={"AWS": "111122223333"})},
        'Statement 0: NotPrincipal must be used with "Effect": "Deny"',
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Effect="allow")},
        'Statement 0: Effect must be "Allow" or "Deny"',
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Sid=7)},
        "Statement 0: Sid must be a string",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": [_statement(Sid="Same"), _statement(Sid="Same")]},
        "Statement 1 (Sid 'Same'): Sid 'Same' is not unique in the policy",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Action="BatchGetImage")},
        "Statement 0: Action 'BatchGetImage' must be \"*\" or start with a service prefix, "
        "like 'ecr:BatchGetImage'",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Action=[])},
        "Statement 0: Action must be a string or a non-empty list of strings",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Resource="repository/x")},
        "Statement 0: Resource 'repository/x' must be in ARN format or \"*\"",
    ),
    (
        PolicyKind.RESOURCE,
        {"Statement": _statement(Principal="someone")},
        'Statement 0: Principal must be "*" or an object such as {"AWS": "123456789012"}',
    ),
    (
        PolicyKind.RESOURCE,
        {"Statement": _statement(Principal={"AWS": "bob"})},
        "Statement 0: invalid principal in Principal: \"AWS\": 'bob'",
    ),
    (
        PolicyKind.RESOURCE,
        {"Statement": _statement(Principal={"AWS": "arn:aws:iam::111122223333:user/*"})},
        "Statement 0: invalid principal in Principal: \"AWS\": 'arn:aws:iam::111122223333:user/*'",
    ),
    (
        PolicyKind.RESOURCE,
        {"Statement": _statement(Principal={"Group": "x"})},
        "Statement 0: Principal has an unknown principal type 'Group'",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"StringEqual": {"aws:username": "x"}})},
        "Statement 0: unknown condition operator 'StringEqual'",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"ForSomeValues:StringEquals": {"aws:username": "x"}})},
        "Statement 0: unknown condition operator 'ForSomeValues:StringEquals'",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"NullIfExists": {"aws:username": "true"}})},
        "Statement 0: unknown condition operator 'NullIfExists'",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition=[])},
        "Statement 0: Condition must be a non-empty object of condition operators",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"StringEquals": "x"})},
        "Statement 0: Condition 'StringEquals' must map condition keys to values",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"StringEquals": {"aws:username": []}})},
        "Statement 0: Condition 'StringEquals' key 'aws:username' has no values",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"StringEquals": {"aws:username": {"a": 1}}})},
        "Statement 0: Condition 'StringEquals' key 'aws:username': "
        "values must be strings, numbers or booleans",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"NumericLessThan": {"ecr:n": "ten"}})},
        "Statement 0: Condition 'NumericLessThan' key 'ecr:n': 'ten' is not a number",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"DateGreaterThan": {"aws:CurrentTime": "tomorrow"}})},
        "Statement 0: Condition 'DateGreaterThan' key 'aws:CurrentTime': "
        "'tomorrow' is not an ISO 8601 date or epoch seconds",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}})},
        "Statement 0: Condition 'IpAddress' key 'aws:SourceIp': "
        "'10.0.0.0/33' is not an IP address or CIDR block",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"Bool": {"aws:SecureTransport": "yes"}})},
        "Statement 0: Condition 'Bool' key 'aws:SecureTransport': 'yes' is not true or false",
    ),
    (
        PolicyKind.IDENTITY,
        {"Statement": _statement(Condition={"Null": {"aws:username": "maybe"}})},
        "Statement 0: Condition 'Null' key 'aws:username': 'maybe' is not true or false",
    ),
]


@pytest.mark.parametrize(("kind", "document", "message"), MALFORMED)
def test_malformed_documents_are_refused_with_a_precise_message(
    kind: PolicyKind, document: object, message: str
) -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        parse_policy(document, kind)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "Syntax error in policy: not valid JSON"),
        (
            '{"Statement": {"Effect": "Allow", "Effect": "Deny", "Action": "*", "Resource": "*"}}',
            "Syntax error in policy: duplicate key 'Effect'",
        ),
    ],
)
def test_json_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as caught:
        Policy.from_json(text, PolicyKind.IDENTITY)
    assert caught.value.message.startswith(message)
