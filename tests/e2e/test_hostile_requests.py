"""Property test over every front door of a real server (issue 9 §3): OCI ``/v2/``
(manifests, blobs, uploads, tags, referrers, catalog), ECR, ECR Public, IAM, STS and
``/token`` answer hostile requests with their protocol's 4xx, never a 5xx; a refused
request changes nothing stored; and the server logs no traceback for any of them.

Requests are signed with the administrator's key (so they reach the handlers, past
authorization) unless the drawn framing breaks the signature on purpose. Example counts
are bounded so the module runs in about a minute; a failure names the smallest request
hypothesis found.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom.api.iam.operations import OPERATIONS as IAM_OPERATIONS
from strongroom.metadata.engine import create_engine
from strongroom.metadata.schema import jobs
from support.aws import JSON_TARGETS, QUERY_VERSIONS, aws_client, signed_post
from support.aws_shapes import json_input, operation_shape, query_input, service_model
from support.databases import isolated_database_url
from support.hostile import (
    HUGE,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    World,
    difference,
    dump,
    hostile_texts,
    manifest_texts,
    safe_text,
    sha256,
    snapshot,
)
from support.server import ADMIN_PASSWORD, ADMIN_USER, RunningServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

EXAMPLES = {"oci": 70, "ecr": 75, "ecr-public": 25, "iam": 50, "sts": 15, "token": 25}
"""Per front door; about a minute in all on a loaded two-core machine.
``STRONGROOM_TEST_FUZZ_SCALE=10`` multiplies them, for a longer hunt."""
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
SCALE = float(os.environ.get("STRONGROOM_TEST_FUZZ_SCALE", "1")) / len(BACKENDS)
"""Each database gets half the examples: the same minute in all."""


def examples(door: str) -> Any:
    return settings(
        max_examples=max(1, int(EXAMPLES[door] * SCALE)),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@dataclass
class Target:
    """The fuzzed server, what it holds, its database, and how far its log has been read."""

    server: RunningServer
    world: World
    database: sa.Engine
    log_offset: int = field(default=0)

    def snapshot(self) -> dict[str, Any]:
        """What is stored once the jobs that earlier requests queued have run: a lineage or
        index job of an earlier push must not land between a refused request's two snapshots."""
        self.settle()
        return snapshot(self.server.data_dir, self.database)

    def settle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.database.connect() as connection:
                due = (
                    sa.select(sa.func.count())
                    .select_from(jobs)
                    .where(jobs.c.state.in_(("queued", "running")), jobs.c.run_at <= datetime.now(UTC))
                )
                if not connection.execute(due).scalar():
                    return
            time.sleep(0.05)
        raise AssertionError(f"jobs still due after {timeout} s")

    def new_log(self) -> str:
        with self.server.log_path.open("rb") as log:
            log.seek(self.log_offset)
            text = log.read().decode(errors="replace")
            self.log_offset = log.tell()
        return text


@pytest.fixture(scope="module", params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """One server per database kind: PostgreSQL refuses what SQLite stores (NUL in text)."""
    directory = tmp_path_factory.mktemp("fuzz")
    with isolated_database_url(request.param, directory, request) as url:
        env = {
            "STRONGROOM_DATABASE_URL": url,
            "STRONGROOM_LOGIN_SLOW_AFTER": "1000000",
            "STRONGROOM_LOGIN_REFUSE_AFTER": "1000000",
        }
        running = start_server(directory / "data", env=env)
        database = create_engine(url)
        try:
            yield Target(running, _seed(running), database)
        finally:
            database.dispose()
            running.stop()


def _seed(server: RunningServer) -> World:
    """An image, a public repository, a user with a key and a policy, a role, a managed policy."""
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"fuzzed layer " * 50
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
        }
    ).encode()
    with server.client() as client:
        for blob in (config, layer):
            location = client.post("/v2/fuzz/app/blobs/uploads/").headers["location"]
            assert client.put(location, params={"digest": sha256(blob)}, content=blob).status_code == 201
        put = client.put(
            "/v2/fuzz/app/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
        assert put.status_code == 201, put.text
    iam = aws_client(server, "iam")
    account = aws_client(server, "sts").get_caller_identity()["Account"]
    iam.create_user(UserName="fuzz-user")
    key = iam.create_access_key(UserName="fuzz-user")["AccessKey"]["AccessKeyId"]
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="fuzz-user", PolicyName="fuzz-policy", PolicyDocument=json.dumps(allow))
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="fuzz-role", AssumeRolePolicyDocument=json.dumps(trust))
    managed = iam.create_policy(PolicyName="fuzz-managed", PolicyDocument=json.dumps(allow))["Policy"]["Arn"]
    aws_client(server, "ecr-public").create_repository(repositoryName="fuzz-public")
    return World(
        account=account, repository="fuzz/app", public_repository="fuzz-public", tag="v1", manifest=manifest,
        config_digest=sha256(config), layer_digest=sha256(layer), user="fuzz-user", role="fuzz-role",
        policy_arn=managed, access_key_id=key,
    )  # fmt: skip


def check(target: Target, door: str, response: httpx.Response, before: dict[str, Any], what: str) -> None:
    """No 5xx, the protocol's error format, nothing stored changed on a refusal, no traceback."""
    log = target.new_log()
    assert "Traceback" not in log and "unexpected error" not in log, f"{what}\n{log[-3000:]}"
    status = response.status_code
    assert status < 500, f"{what}: {status} {response.text[:300]}"
    if status < 400:
        return
    changed = difference(before, target.snapshot())
    assert not changed, f"{what}: refused with {status} but changed {changed}"
    if door in ("ecr", "ecr-public"):
        assert response.json()["__type"] == response.headers["x-amzn-ErrorType"], what
    elif door in ("iam", "sts"):
        assert re.search(r"<Code>[A-Za-z]+</Code>", response.text), f"{what}: {response.text[:300]}"
    elif response.request.method != "HEAD":
        document = response.json()
        assert isinstance(document.get("errors"), list) or "error" in document, f"{what}: {document}"


# --- ECR, ECR Public, IAM, STS -------------------------------------------------------------------------

FRAMINGS = ["signed"] * 8 + ["unsigned", "garbage-authorization", "presigned-garbage", "bad-target"]
GARBAGE_AUTHORIZATIONS = [
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 Credential=AKIA0/\u00b2/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=00",
    "AWS4-HMAC-SHA256 Credential=" + "A" * 5000 + ", SignedHeaders=, Signature=",
    "Basic Zm9vOmJhcg==",
    "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host;x-amz-date, Signature=zz, Extra=1",
]
PRESIGNED_QUERIES = [
    {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "AKIA0/20260101/us-east-1/ecr/aws4_request",
     "X-Amz-Date": "20260101T000000Z", "X-Amz-Expires": expires, "X-Amz-SignedHeaders": "host",
     "X-Amz-Signature": "00"}
    for expires in ("\u00b2", HUGE, "-1", "60")
]  # fmt: skip


def send_aws(
    target: Target, service: str, body: bytes, headers: dict[str, str], framing: str, extra: int
) -> httpx.Response:
    """The request as drawn: signed, or with its signature broken in one of several ways."""
    server = target.server
    if framing == "bad-target" and "X-Amz-Target" not in headers:
        framing = "signed"  # a query request with a target is an ECR request
    if framing == "bad-target":
        headers = {**headers, "X-Amz-Target": headers.get("X-Amz-Target", "") + "X"}
    if framing in ("signed", "bad-target"):
        return signed_post(server, service, body, headers)
    if framing == "garbage-authorization":
        headers = {**headers, "Authorization": GARBAGE_AUTHORIZATIONS[extra % len(GARBAGE_AUTHORIZATIONS)]}
    url = server.url + "/"
    if framing == "presigned-garbage":
        url += "?" + urlencode(PRESIGNED_QUERIES[extra % len(PRESIGNED_QUERIES)])
    return httpx.post(url, content=body, headers=as_bytes(headers), timeout=60)


def as_bytes(headers: dict[str, str]) -> dict[str, bytes]:
    """Header values as UTF-8 bytes: httpx sends bytes as they are, str only as ASCII."""
    return {key: value.encode("utf-8") for key, value in headers.items()}


@st.composite
def json_requests(draw: st.DrawFn, service: str, world: World) -> tuple[str, bytes]:
    operation = draw(st.sampled_from(sorted(service_model(service).operation_names)))
    shape = operation_shape(service, operation)
    params = draw(json_input(shape, "", world)) if shape is not None else {}
    return operation, dump(params).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("service", ["ecr", "ecr-public"])
def test_ecr_and_ecr_public_never_fail_on_hostile_requests(target: Target, service: str) -> None:
    @examples(service)
    @given(
        request=json_requests(service, target.world),
        framing=st.sampled_from(FRAMINGS),
        extra=st.integers(0, 9),
    )
    def run(request: tuple[str, bytes], framing: str, extra: int) -> None:
        operation, body = request
        headers = {
            "X-Amz-Target": f"{JSON_TARGETS[service]}.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        }
        before = target.snapshot()
        response = send_aws(target, service, body, headers, framing, extra)
        check(target, service, response, before, f"{service} {operation} {framing} {body[:400]!r}")

    run()


@st.composite
def query_requests(draw: st.DrawFn, service: str, world: World) -> dict[str, str]:
    names = sorted(name for kind, name in IAM_OPERATIONS if kind == service)
    action = draw(st.sampled_from(names))
    params = draw(query_input(operation_shape(service, action), "", world))
    return {"Action": action, "Version": QUERY_VERSIONS[service], **params}


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_iam_and_sts_never_fail_on_hostile_requests(target: Target, service: str) -> None:
    @examples(service)
    @given(
        params=query_requests(service, target.world),
        framing=st.sampled_from(FRAMINGS),
        extra=st.integers(0, 9),
    )
    def run(params: dict[str, str], framing: str, extra: int) -> None:
        body = urlencode(params).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        before = target.snapshot()
        response = send_aws(target, service, body, headers, framing, extra)
        check(target, service, response, before, f"{service} {framing} {params}"[:3000])

    run()


def _basic(text: bytes) -> str:
    return "Basic " + base64.b64encode(text).decode()


HOSTILE_AUTHORIZATIONS = [
    _basic(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()),
    _basic(b"nobody:wrong"),
    _basic(b"no-colon"),
    _basic(b"\xff\xfe:\x00"),
    _basic(f"AWS:{HUGE}".encode()),
    _basic(b"AWS:" + base64.b64encode(b"{" * 3000)),
    "Basic !!!",
    "Bearer " + "a" * 300,
    "Bearer a.b.c",
    "Bearer " + base64.urlsafe_b64encode(b"[" * 50_000).decode() + ".e30.c2ln",
]
"""For /v2/ and /token: credentials that are wrong, malformed, or hostile once decoded."""


# --- OCI ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OciRequest:
    kind: str
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    authorization: str | None
    """None: the administrator's password; else this header as is."""


def _path_part(values: list[str]) -> st.SearchStrategy[str]:
    return (st.sampled_from(values) | hostile_texts(surrogates=False)).map(
        lambda text: quote(text, safe="/:")
    )


@st.composite
def oci_requests(draw: st.DrawFn, world: World) -> OciRequest:
    name = draw(_path_part([world.repository, "fuzz/new", f"{world.account}/{world.repository}", "Fuzz"]))
    digests = [
        world.manifest_digest,
        world.layer_digest,
        world.config_digest,
        "sha256:" + "0" * 64,
        "sha512:00",
    ]
    digest = draw(_path_part(digests))
    reference = draw(_path_part([world.tag, "v2", *digests]))
    numbers = st.sampled_from(["0", "1", "10", "-1", "\u00b2", HUGE, "abc", ""])
    kind = draw(
        st.sampled_from(
            ["manifest-put", "manifest", "blob", "upload-start", "upload", "tags", "referrers", "catalog"]
        )
    )
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    body = b""
    if kind == "manifest-put":
        method, path = "PUT", f"/v2/{name}/manifests/{reference}"
        body = draw(manifest_texts(world)).encode("utf-8", "surrogatepass")
        headers["Content-Type"] = draw(
            st.sampled_from([OCI_MANIFEST, OCI_INDEX, "application/json", "text/plain"])
        )
    elif kind == "manifest":
        method, path = draw(st.sampled_from(["GET", "HEAD", "DELETE"])), f"/v2/{name}/manifests/{reference}"
    elif kind == "blob":
        method, path = draw(st.sampled_from(["GET", "HEAD", "DELETE"])), f"/v2/{name}/blobs/{digest}"
        if draw(st.booleans()):
            headers["Range"] = draw(
                st.sampled_from(["bytes=0-", "bytes=5-1", f"bytes=0-{HUGE}", "bytes=\u00b2-"])
            )
    elif kind in ("upload-start", "upload"):
        method = (
            "POST" if kind == "upload-start" else draw(st.sampled_from(["PATCH", "PUT", "GET", "DELETE"]))
        )
        path = f"/v2/{name}/blobs/uploads/"
        params = draw(
            st.dictionaries(
                st.sampled_from(["digest", "mount", "from"]), st.sampled_from(digests) | safe_text, max_size=2
            )
        )
        body = draw(st.sampled_from([b"", b"fuzzed layer " * 50, b"x" * 100]))
        if kind == "upload" and draw(st.booleans()):
            headers["Content-Range"] = draw(
                st.sampled_from(["0-9", "0-649", "5-1", f"0-{HUGE[:30]}", "\u00b2-3"])
            )
    elif kind == "tags":
        method, path = "GET", f"/v2/{name}/tags/list"
        params = draw(st.fixed_dictionaries({}, optional={"n": numbers, "last": safe_text}))
    elif kind == "referrers":
        method, path = "GET", f"/v2/{name}/referrers/{digest}"
        params = draw(st.fixed_dictionaries({}, optional={"artifactType": safe_text}))
    else:
        method, path = "GET", "/v2/_catalog"
        params = draw(st.fixed_dictionaries({}, optional={"n": numbers, "last": safe_text}))
    authorization = draw(st.sampled_from([None] * 6 + ["", *HOSTILE_AUTHORIZATIONS]))
    return OciRequest(kind, method, path, params, headers, body, authorization)


def test_oci_never_fails_on_hostile_requests(target: Target) -> None:
    @examples("oci")
    @given(request=oci_requests(target.world))
    def run(request: OciRequest) -> None:
        with target.server.client() as client:
            path = request.path
            if request.kind == "upload":  # a real session of the repository, then the hostile step
                started = client.post(path)
                if started.status_code != 202:
                    return
                path = started.headers["location"]
                target.new_log()
            before = target.snapshot()
            headers = dict(request.headers)
            if request.authorization is not None:
                client.auth = None
                headers["Authorization"] = request.authorization
            response = client.request(
                request.method, path, params=request.params, headers=as_bytes(headers), content=request.body
            )
        what = f"{request.method} {path} {request.params} {headers} {request.body[:300]!r}"
        check(target, "oci", response, before, what)

    run()


# --- /token ---------------------------------------------------------------------------------------------


@st.composite
def token_requests(draw: st.DrawFn, world: World) -> tuple[str, dict[str, Any], dict[str, str], bytes]:
    names = st.sampled_from([world.repository, f"{world.account}/{world.repository}", "fuzz/new"]) | safe_text
    actions = st.sampled_from(["pull", "push", "pull,push", "*", "delete", ""]) | safe_text
    scope = st.one_of(
        st.builds(lambda n, a: f"repository:{n}:{a}", names, actions),
        st.sampled_from(["registry:catalog:*", "repository", ":::", "repository:a:b:c:d", HUGE]),
        safe_text,
    )
    authorizations = st.sampled_from(["", *HOSTILE_AUTHORIZATIONS])
    method = draw(st.sampled_from(["GET", "POST"]))
    authorization = draw(authorizations)
    headers = {"Authorization": authorization} if authorization else {}
    if method == "GET":
        params = {"scope": draw(st.lists(scope, max_size=3)), "service": draw(safe_text)}
        return method, params, headers, b""
    form = draw(st.fixed_dictionaries({}, optional={
        "grant_type": st.sampled_from(["password", "refresh_token", ""]) | safe_text,
        "username": st.sampled_from([ADMIN_USER, "nobody"]) | safe_text,
        "password": st.sampled_from([ADMIN_PASSWORD, "wrong", HUGE]) | safe_text,
        "scope": scope, "service": safe_text,
    }))  # fmt: skip
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return method, {}, headers, urlencode(form).encode()


@examples("token")
@given(data=st.data())
def test_token_never_fails_on_hostile_requests(target: Target, data: st.DataObject) -> None:
    method, params, headers, body = data.draw(token_requests(target.world))
    before = target.snapshot()
    response = httpx.request(
        method,
        target.server.url + "/token",
        params=params,
        headers=as_bytes(headers),
        content=body,
        timeout=60,
    )
    check(target, "token", response, before, f"{method} /token {params} {headers} {body[:300]!r}")
