"""The IAM/STS query protocol: XML that botocore's own parser reads, the error table,
form parsing, and the operation table's declarations."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.parsers import QueryParser

from strongroom.api.iam.operations import OPERATIONS
from strongroom.api.iam.protocol import (
    MAX_FIELDS,
    NAMESPACES,
    MissingAction,
    Params,
    error_code,
    parse_form,
    render_error,
    render_result,
)
from strongroom.auth.management import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from strongroom.auth.sigv4 import IncompleteSignature, RequestExpired, SignatureDoesNotMatch
from strongroom.errors import AccessDenied, InvalidRequest, StrongroomError
from strongroom.policy.errors import MalformedPolicyDocument

FORM = "application/x-www-form-urlencoded; charset=utf-8"
CREATED = datetime(2026, 11, 21, 12, 30, 5, tzinfo=UTC)


def parse(service: str, operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    response = {"body": body, "headers": {}, "status_code": status}
    parsed: dict[str, Any] = QueryParser().parse(response, model.output_shape)
    return parsed


def test_a_listing_renders_members_booleans_and_times_as_botocore_reads_them() -> None:
    user = {"Path": "/", "UserName": "alice", "UserId": "AIDAEXAMPLE", "Arn": "arn:x", "CreateDate": CREATED}
    listing = {"Users": [user, user], "IsTruncated": True, "Marker": "m"}
    body = render_result("iam", "ListUsers", listing, "r-1")
    parsed = parse("iam", "ListUsers", body)
    assert [u["UserName"] for u in parsed["Users"]] == ["alice", "alice"]
    assert parsed["Users"][0]["CreateDate"] == CREATED
    assert parsed["IsTruncated"] is True
    assert parsed["Marker"] == "m"
    assert parsed["ResponseMetadata"]["RequestId"] == "r-1"


def test_the_response_is_in_the_service_namespace_and_omits_absent_fields() -> None:
    body = render_result("sts", "GetCallerIdentity", {"Arn": "arn:x", "UserId": None}, "r-2")
    root = ET.fromstring(body)
    assert root.tag == f"{{{NAMESPACES['sts']}}}GetCallerIdentityResponse"
    result = root.find(f"{{{NAMESPACES['sts']}}}GetCallerIdentityResult")
    assert result is not None
    assert [child.tag.split("}")[1] for child in result] == ["Arn"]


def test_an_action_without_output_has_only_response_metadata() -> None:
    root = ET.fromstring(render_result("iam", "DeleteUser", None, "r-3"))
    assert [child.tag.split("}")[1] for child in root] == ["ResponseMetadata"]


def test_naive_times_are_utc() -> None:
    body = render_result("iam", "GetUser", {"User": {"CreateDate": CREATED.replace(tzinfo=None)}}, "r")
    assert b"<CreateDate>2026-11-21T12:30:05Z</CreateDate>" in body


def test_errors_render_as_botocore_reads_them_with_text_escaped() -> None:
    body = render_error("iam", "NoSuchEntity", 404, "no <user> & no key", "r-4")
    parsed = parse("iam", "GetUser", body, 404)
    assert parsed["Error"] == {"Type": "Sender", "Code": "NoSuchEntity", "Message": "no <user> & no key"}
    assert parsed["ResponseMetadata"]["RequestId"] == "r-4"
    assert b"<Type>Receiver</Type>" in render_error("sts", "ServiceFailure", 500, "boom", "r")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (MalformedPolicyDocument("Statement 0: …"), ("MalformedPolicyDocument", 400)),
        (InvalidRequest("bad name"), ("ValidationError", 400)),
        (EntityAlreadyExists("exists"), ("EntityAlreadyExists", 409)),
        (DeleteConflict("keys"), ("DeleteConflict", 409)),
        (LimitExceeded("two keys"), ("LimitExceeded", 409)),
        (NoSuchEntity("none"), ("NoSuchEntity", 404)),
        (AccessDenied("no"), ("AccessDenied", 403)),
        (SignatureDoesNotMatch("differs"), ("SignatureDoesNotMatch", 403)),
        (RequestExpired("late"), ("RequestExpired", 400)),
        (IncompleteSignature("half"), ("IncompleteSignature", 400)),
        (MissingAction("none"), ("MissingAction", 400)),
        (StrongroomError("unexpected"), ("ServiceFailure", 500)),
    ],
)
def test_domain_errors_map_to_iam_codes(error: StrongroomError, expected: tuple[str, int]) -> None:
    assert error_code(error) == expected


def test_the_form_is_decoded_and_repeated_or_excess_fields_are_refused() -> None:
    params = parse_form(FORM, b"Action=PutUserPolicy&PolicyDocument=%7B%22a%22%3A+1%7D&Empty=")
    assert params.required("PolicyDocument") == '{"a": 1}'
    assert params.optional("Empty") == ""
    with pytest.raises(InvalidRequest, match="more than once"):
        parse_form(FORM, b"Action=A&Action=B")
    with pytest.raises(InvalidRequest, match="parameters"):
        parse_form(FORM, "&".join(f"p{i}=1" for i in range(MAX_FIELDS + 1)).encode())
    with pytest.raises(MissingAction):
        parse_form("application/json", b"{}")


def test_params_report_missing_members_and_bad_integers_like_iam() -> None:
    params = Params({"MaxItems": "0"})
    with pytest.raises(InvalidRequest, match="Value null at 'userName' failed to satisfy constraint"):
        params.required("UserName")
    with pytest.raises(InvalidRequest, match="MaxItems"):
        params.integer("MaxItems", 1, 1000, 100)


def test_every_iam_operation_is_authorized_as_its_own_action() -> None:
    for (service, name), operation in OPERATIONS.items():
        assert (operation.service, operation.name) == (service, name)
        if service == "iam":
            assert operation.action == f"iam:{name}"
        else:  # any caller may ask who it is; AssumeRole is decided by the role's trust policy
            assert service == "sts" and name in ("GetCallerIdentity", "AssumeRole")
            assert operation.action is None
