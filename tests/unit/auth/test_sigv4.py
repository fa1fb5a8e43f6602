"""SigV4 verification, with botocore as the signer: what boto3 and the AWS CLI send must verify."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.datastructures import Headers

from strongroom.auth.sigv4 import (
    IncompleteSignature,
    InvalidSignatureException,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
    SignatureError,
    SignedRequestInfo,
    canonical_path,
    parse_authorization,
    verify,
)
from strongroom.errors import AuthenticationRequired

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNED_AT = datetime(2026, 11, 21, 14, 28, 41, tzinfo=UTC)
BASE = "http://127.0.0.1:40241"
ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921.CreateRepository"
UNSIGNED_EXTRAS = [
    ("user-agent", "Boto3/1.44.5 md/Botocore#1.44.5"),
    ("accept-encoding", "identity"),
    ("amz-sdk-invocation-id", "7f1c1f1e-0000-4000-8000-000000000000"),
]


@dataclass
class Wire:
    """A request as the server receives it."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def info(self) -> SignedRequestInfo:
        return parse_authorization(self.headers, self.query)

    def verify(
        self, secret: str = SECRET, now: datetime = SIGNED_AT, info: SignedRequestInfo | None = None
    ) -> None:
        verify(
            self.method,
            self.path,
            self.query,
            self.headers,
            hashlib.sha256(self.body).hexdigest(),
            secret,
            info or self.info(),
            now,
        )

    def with_header(self, name: str, value: str) -> Wire:
        headers = [(n, v) for n, v in self.headers if n != name] + [(name, value)]
        return replace(self, headers=headers)

    def header(self, name: str) -> str:
        return next(v for n, v in self.headers if n == name)


@pytest.fixture(autouse=True)
def frozen_botocore_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: SIGNED_AT.replace(tzinfo=None))


def on_the_wire(request: AWSRequest) -> Wire:
    prepared = request.prepare()
    url = urlsplit(prepared.url)
    headers = [(name.lower(), value) for name, value in prepared.headers.items()]
    headers += [("host", url.netloc), *UNSIGNED_EXTRAS]
    body = prepared.body or b""
    return Wire(
        prepared.method, url.path or "/", url.query, headers, body.encode() if isinstance(body, str) else body
    )


def signed(
    method: str,
    url: str,
    *,
    service: str = "ecr",
    region: str = "eu-west-1",
    body: bytes | dict[str, str] = b"",
    headers: dict[str, str] | None = None,
    params: list[tuple[str, str]] | None = None,
    token: str | None = None,
) -> Wire:
    request = AWSRequest(method, BASE + url, data=body, headers=headers or {}, params=params or {})
    SigV4Auth(Credentials(AKID, SECRET, token), service, region).add_auth(request)
    return on_the_wire(request)


def ecr_call(token: str | None = None) -> Wire:
    body = json.dumps({"repositoryName": "x1", "tags": [{"Key": "a", "Value": "b"}]}).encode()
    headers = {"X-Amz-Target": ECR_TARGET, "Content-Type": "application/x-amz-json-1.1"}
    return signed("POST", "/", body=body, headers=headers, token=token)


def presigned(url: str, *, expires: int = 300, token: str | None = None) -> Wire:
    request = AWSRequest("GET", BASE + url)
    SigV4QueryAuth(Credentials(AKID, SECRET, token), "ecr", "eu-west-1", expires=expires).add_auth(request)
    return on_the_wire(request)


# -- what real clients send verifies --------------------------------------------------------


def test_ecr_json_call_verifies_and_parses() -> None:
    wire = ecr_call()
    info = wire.info()
    assert info == SignedRequestInfo(
        access_key_id=AKID,
        timestamp="20261121T142841Z",
        region="eu-west-1",
        service="ecr",
        signed_headers=("content-type", "host", "x-amz-date", "x-amz-target"),
        signature=info.signature,
    )
    assert info.credential_scope == "20261121/eu-west-1/ecr/aws4_request"
    assert info.signed_at == SIGNED_AT
    wire.verify()


def test_session_token_is_signed_and_returned() -> None:
    wire = ecr_call(token="TOKEN123")
    info = wire.info()
    assert info.security_token == "TOKEN123"
    assert "x-amz-security-token" in info.signed_headers
    wire.verify()
    with pytest.raises(SignatureDoesNotMatch):
        wire.with_header("x-amz-security-token", "OTHER").verify()


@pytest.mark.parametrize(("service", "region"), [("iam", "us-east-1"), ("sts", "eu-central-1")])
def test_query_protocol_form_body_verifies(service: str, region: str) -> None:
    form = {"Action": "ListUsers", "Version": "2010-05-08", "PathPrefix": "/division abc/"}
    content_type = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}  # as boto3 sets it
    wire = signed("POST", "/", service=service, region=region, body=form, headers=content_type)
    assert wire.header("content-type").startswith("application/x-www-form-urlencoded")
    info = wire.info()
    assert (info.service, info.region) == (service, region)
    wire.verify()


@pytest.mark.parametrize(
    "query",
    [
        "Action=ListUsers&Version=2010-05-08",
        "b=2&a=1&a=0&a=10",
        "key=va%20l%2Fue%3A%40%21%2A%27%28%29&tilde=~_.-&empty=&flag",
        "plus=a%2Bb&unicode=%C3%A9%E2%9C%93&amp=%26%3D",
    ],
)
def test_get_with_query_verifies(query: str) -> None:
    signed("GET", "/?" + query, service="iam", region="us-east-1").verify()


def test_query_from_params_with_repeated_keys_and_spaces_verifies() -> None:
    # AWSRequest(params=) sends "+" for a space but signs "%20": as AWS reads it.
    params = [("a", "1"), ("a", "0"), ("k", "x/y z"), ("r", "!*'();:@&=+$,?#[]")]
    wire = signed("GET", "/", service="iam", region="us-east-1", params=params)
    assert "+" in wire.query
    wire.verify()


@pytest.mark.parametrize(
    "path",
    ["/", "/v2/library/app", "/my%20repo/a%3Ab/%E2%9C%93~x", "/trailing/", "/a/./b/../c", "//double//slash"],
)
def test_paths_needing_encoding_verify(path: str) -> None:
    signed("GET", path).verify()


def test_date_header_instead_of_x_amz_date_verifies() -> None:
    wire = signed("GET", "/", headers={"Date": "Sat, 21 Nov 2026 14:28:41 GMT"})
    assert "x-amz-date" not in dict(wire.headers)
    assert wire.info().timestamp == "20261121T142841Z"
    wire.verify()


def test_repeated_and_spaced_headers_verify_from_starlette_headers() -> None:
    wire = signed("GET", "/", headers={"X-Amz-Meta": "  a   b  "})
    starlette = Headers(raw=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in wire.headers])
    info = parse_authorization(starlette, wire.query)
    verify("GET", wire.path, wire.query, starlette, hashlib.sha256(b"").hexdigest(), SECRET, info, SIGNED_AT)


def test_aws_documented_example_verifies() -> None:
    # "Signature Version 4 signing process" example: IAM ListUsers (2015-08-30).
    headers = {
        "host": "iam.amazonaws.com",
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "x-amz-date": "20150830T123600Z",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    }
    query = "Action=ListUsers&Version=2010-05-08"
    info = parse_authorization(headers, query)
    now = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    verify("GET", "/", query, headers, hashlib.sha256(b"").hexdigest(), secret, info, now)


def test_presigned_url_verifies() -> None:
    wire = presigned("/v2/app/blobs/x?scope=a%20b", token="TOKEN123")
    info = wire.info()
    assert info.presigned
    assert info.expires == 300
    assert info.security_token == "TOKEN123"
    wire.verify()
    wire.verify(now=SIGNED_AT + timedelta(seconds=300))


# -- mutations are refused with the right error ----------------------------------------------


def test_other_method_path_body_or_secret_does_not_match() -> None:
    wire = ecr_call()
    info = wire.info()
    for mutated in (
        replace(wire, method="PUT"),
        replace(wire, path="/other"),
        replace(wire, body=wire.body + b" "),
        replace(wire, query="extra=1"),
        wire.with_header("x-amz-target", "AmazonEC2ContainerRegistry_V20150921.DeleteRepository"),
        wire.with_header("host", "evil.example:40241"),
        replace(wire, headers=[(n, v) for n, v in wire.headers if n != "content-type"]),
    ):
        with pytest.raises(SignatureDoesNotMatch):
            mutated.verify(info=info)
    with pytest.raises(SignatureDoesNotMatch, match="does not match the signature you provided"):
        wire.verify(secret=SECRET + "x")


def test_other_signing_time_does_not_match() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        ecr_call().with_header("x-amz-date", "20261121T142842Z").verify()


def test_unsigned_headers_may_change() -> None:
    ecr_call().with_header("user-agent", "aws-cli/1.40").with_header("x-forwarded-for", "10.0.0.1").verify()


@pytest.mark.parametrize("scope_change", [("/eu-west-1/", "/us-east-1/"), ("/ecr/", "/ecr-public/")])
def test_changed_scope_does_not_match(scope_change: tuple[str, str]) -> None:
    wire = ecr_call()
    tampered = wire.with_header("authorization", wire.header("authorization").replace(*scope_change))
    info = tampered.info()
    with pytest.raises(SignatureDoesNotMatch):
        tampered.verify(info=info)


def test_other_access_key_id_is_checked_with_that_keys_secret() -> None:
    # The key id is not in the string to sign (per the spec): it selects the secret.
    wire = ecr_call()
    tampered = wire.with_header("authorization", wire.header("authorization").replace(AKID, "AKIAOTHER"))
    assert tampered.info().access_key_id == "AKIAOTHER"
    with pytest.raises(SignatureDoesNotMatch):
        tampered.verify(secret="the other key's secret")


def test_declared_payload_hash_must_match_the_body() -> None:
    body = b'{"repositoryName": "x1"}'

    def declaring(payload_hash: str) -> Wire:
        headers = {"X-Amz-Target": ECR_TARGET, "X-Amz-Content-Sha256": payload_hash}
        return signed("POST", "/", body=body, headers=headers)

    declaring(hashlib.sha256(body).hexdigest()).verify()
    for declared in ("UNSIGNED-PAYLOAD", hashlib.sha256(b"other").hexdigest()):
        with pytest.raises(SignatureDoesNotMatch, match="x-amz-content-sha256"):
            declaring(declared).verify()


@pytest.mark.parametrize("offset", [timedelta(minutes=5, seconds=1), -timedelta(minutes=5, seconds=1)])
def test_date_beyond_clock_skew_is_expired(offset: timedelta) -> None:
    wire = ecr_call()
    wire.verify(now=SIGNED_AT + offset / 2)
    with pytest.raises(RequestExpired, match=r"Signature (expired|not yet current)"):
        wire.verify(now=SIGNED_AT + offset)


def test_presigned_url_expires() -> None:
    wire = presigned("/v2/", expires=60)
    with pytest.raises(RequestExpired, match="Request has expired"):
        wire.verify(now=SIGNED_AT + timedelta(seconds=61))
    with pytest.raises(RequestExpired, match="not yet current"):
        wire.verify(now=SIGNED_AT - timedelta(minutes=6))


def test_presigned_url_tampering_does_not_match() -> None:
    wire = presigned("/v2/app?x=1")
    for mutated in (
        replace(wire, query=wire.query.replace("x=1", "x=2")),
        replace(wire, query=wire.query.replace("X-Amz-Expires=300", "X-Amz-Expires=600")),
        replace(wire, path="/v2/other"),
    ):
        with pytest.raises(SignatureDoesNotMatch):
            mutated.verify()


# -- malformed requests --------------------------------------------------------------------


def test_no_credentials_is_missing_authentication_token() -> None:
    with pytest.raises(MissingAuthenticationToken):
        parse_authorization({"host": "h"}, "a=1")


def authorization(
    credential: str = "A/20261121/r/s/aws4_request",
    signed_headers: str = "host;x-amz-date",
    signature: str = "0" * 64,
) -> str:
    return f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Basic QVdTOnBhc3N3b3Jk", "Unsupported authorization algorithm"),
        ("AWS4-HMAC-SHA256 Credential=A/20261121/r/s/aws4_request, SignedHeaders=host", "'Signature'"),
        (authorization(credential="A/20261121/r/aws4_request"), "Credential must be"),
        (authorization(credential="A/20261121/r/s/aws4"), "Credential must be"),
        (authorization(signed_headers="x-amz-date"), "Host"),
        (authorization(signed_headers="host;Host"), "lower"),
        (authorization(signed_headers="host;host"), "distinct"),
        (authorization(signature="xyz"), "hexadecimal"),
    ],
)
def test_malformed_authorization_is_incomplete(value: str, message: str) -> None:
    headers = {"host": "h", "x-amz-date": "20261121T142841Z", "authorization": value}
    with pytest.raises(IncompleteSignature, match=message):
        parse_authorization(headers, "")


def test_two_authorization_headers_are_incomplete() -> None:
    headers = [("host", "h"), ("x-amz-date", "20261121T142841Z")] + [("authorization", authorization())] * 2
    with pytest.raises(IncompleteSignature, match="Only one Authorization"):
        parse_authorization(headers, "")


def test_missing_or_malformed_date_is_incomplete() -> None:
    with pytest.raises(IncompleteSignature, match="X-Amz-Date"):
        parse_authorization({"authorization": authorization()}, "")
    with pytest.raises(IncompleteSignature, match="yyyymmdd"):
        parse_authorization({"authorization": authorization(), "x-amz-date": "2026-11-21T14:28:41Z"}, "")
    with pytest.raises(IncompleteSignature, match="HTTP date"):
        parse_authorization({"authorization": authorization(), "date": "yesterday"}, "")


def test_scope_date_must_be_the_signing_date() -> None:
    wire = ecr_call().with_header("x-amz-date", "20261122T000001Z")
    with pytest.raises(SignatureDoesNotMatch, match="Date in Credential scope"):
        wire.info()


def test_header_and_query_signatures_together_are_refused() -> None:
    wire = ecr_call()
    with pytest.raises(IncompleteSignature, match="Only one auth mechanism"):
        parse_authorization(wire.headers, "X-Amz-Algorithm=AWS4-HMAC-SHA256")


def test_malformed_presigned_query_is_incomplete() -> None:
    query = presigned("/").query
    for broken, message in (
        (query.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), "only supports"),
        ("&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature")), "X-Amz-Signature"),
        (query.replace("X-Amz-Expires=300", "X-Amz-Expires=604801"), "X-Amz-Expires"),
        (query + "&X-Amz-Date=20261121T142841Z", "only once"),
    ):
        with pytest.raises(IncompleteSignature, match=message):
            parse_authorization({"host": "h"}, broken)


def test_canonical_path_encodes_the_wire_path_once_more() -> None:
    assert canonical_path("") == "/"
    assert canonical_path("/a%20b/c:d") == "/a%2520b/c%3Ad"
    assert canonical_path("/a/./b/../c//d/") == "/a/c/d/"


def test_errors_carry_aws_codes_and_are_authentication_failures() -> None:
    codes = {
        MissingAuthenticationToken: "MissingAuthenticationToken",
        IncompleteSignature: "IncompleteSignature",
        InvalidSignatureException: "InvalidSignatureException",
        SignatureDoesNotMatch: "SignatureDoesNotMatch",
        RequestExpired: "RequestExpired",
    }
    for error, code in codes.items():
        assert error.aws_code == code
        assert issubclass(error, SignatureError)
        assert issubclass(error, AuthenticationRequired)
    assert issubclass(SignatureDoesNotMatch, InvalidSignatureException)
    assert issubclass(RequestExpired, InvalidSignatureException)


@pytest.mark.parametrize(
    ("signed_headers", "sent", "missing"),
    [
        ("host;x-amz-date", {"x-amz-target": ECR_TARGET}, "'X-Amz-Target'"),
        ("host;x-amz-date;x-amz-target", {"x-amz-security-token": "T"}, "'X-Amz-Security-Token'"),
        ("host;x-amz-date", {"x-amz-content-sha256": "0" * 64}, "'X-Amz-Content-Sha256'"),
        ("host", {}, "'X-Amz-Date'"),
    ],
)
def test_every_x_amz_header_sent_must_be_signed(
    signed_headers: str, sent: dict[str, str], missing: str
) -> None:
    headers = {"host": "h", "x-amz-date": "20261121T142841Z", **sent}
    headers["authorization"] = authorization(signed_headers=signed_headers)
    with pytest.raises(IncompleteSignature, match=missing):
        parse_authorization(headers, "")


def test_the_date_header_must_be_signed_when_it_dates_the_signature() -> None:
    headers = {"host": "h", "date": "Sat, 21 Nov 2026 14:28:41 GMT", "authorization": authorization()}
    with pytest.raises(IncompleteSignature, match="'Date' must be a 'SignedHeader'"):
        parse_authorization(headers, "")
    headers["authorization"] = authorization(signed_headers="date;host")
    assert parse_authorization(headers, "").signed_headers == ("date", "host")


def test_x_amzn_headers_are_not_x_amz_headers() -> None:
    """botocore leaves ``X-Amzn-Trace-Id`` unsigned; it names no operation."""
    ecr_call().with_header("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793").verify()
