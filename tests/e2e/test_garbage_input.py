"""Garbage in, clean OCI errors out: a real server answers malformed requests with a 4xx
and the error envelope ``{"errors": [{"code": ...}]}`` (distribution-spec §9), never a 500,
and HEAD errors carry no body.

Requests that httpx would normalise (dot segments, odd framing, HEAD bodies) go over a raw
socket so the server sees exactly the bytes written here.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.server import RunningServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MAX_MANIFEST = 4 * 1024 * 1024  # distribution-spec §6.4

REPO = "garbage/repo"
_CODE = re.compile(r"^[A-Z_]+$")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- checking error responses ------------------------------------------------------------------------


def error_codes(status: int, content_type: str, body: bytes, expected_status: int | None) -> list[str]:
    if expected_status is not None:
        assert status == expected_status, f"expected {expected_status}, got {status}: {body[:500]!r}"
    assert 400 <= status < 500, f"status {status}: {body[:500]!r}"
    assert content_type.startswith("application/json"), f"{status} with Content-Type {content_type!r}"
    document = json.loads(body)
    assert isinstance(document, dict) and isinstance(document.get("errors"), list), document
    assert document["errors"], "empty errors list"
    codes = []
    for entry in document["errors"]:
        assert isinstance(entry, dict) and isinstance(entry.get("code"), str), entry
        assert _CODE.match(entry["code"]), entry
        assert "message" not in entry or isinstance(entry["message"], str)
        codes.append(entry["code"])
    return codes


def assert_oci_error(
    response: httpx.Response, status: int | None = None, code: str | None = None
) -> list[str]:
    codes = error_codes(
        response.status_code, response.headers.get("content-type", ""), response.content, status
    )
    if code is not None:
        assert code in codes, f"{code} not in {codes}: {response.text[:500]}"
    return codes


# --- raw HTTP/1.1 over a socket --------------------------------------------------------------------


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def codes(self, status: int | None = None, code: str | None = None) -> list[str]:
        codes = error_codes(self.status, self.headers.get("content-type", ""), self.body, status)
        if code is not None:
            assert code in codes, codes
        return codes


def basic_auth(server: RunningServer) -> str:
    return "Basic " + base64.b64encode(f"{server.user}:{server.password}".encode()).decode()


def raw_request(
    server: RunningServer,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    timeout: float = 10,
) -> RawResponse | None:
    """One request on its own connection (``Connection: close``); None if the server hung up
    without an answer. Everything after the response head is returned as the body."""
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {server.registry}",
        f"Authorization: {basic_auth(server)}",
    ]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    if body or method in ("PUT", "PATCH", "POST"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    received = bytearray()
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may answer before reading it all
            sock.sendall(request)
        while time.monotonic() < deadline and len(received) < 16 * 1024 * 1024:
            try:
                piece = sock.recv(65536)
            except OSError:
                break
            if not piece:
                break
            received += piece
    if not received:
        return None
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        parsed[key.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), parsed, rest)


# --- fixtures ---------------------------------------------------------------------------------------


def push_blob(client: httpx.Client, name: str, data: bytes) -> str:
    digest = sha256(data)
    location = client.post(f"/v2/{name}/blobs/uploads/").headers["location"]
    done = client.put(location, params={"digest": digest}, content=data)
    assert done.status_code == 201, done.text
    return digest


def manifest_for(config: bytes, layers: list[bytes], **extra: object) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(x), "size": len(x)} for x in layers],
            **extra,
        }
    ).encode()


@dataclass(frozen=True)
class Pushed:
    config: bytes
    layer: bytes
    manifest: bytes


@pytest.fixture(scope="module")
def pushed(shared_server: RunningServer) -> Pushed:
    """An image tagged ``latest`` in ``REPO``, so errors are not just "unknown repository"."""
    config, layer = b'{"os":"linux"}', b"layer bytes " * 100
    with client_of(shared_server) as client:
        push_blob(client, REPO, config)
        push_blob(client, REPO, layer)
        manifest = manifest_for(config, [layer])
        response = client.put(
            f"/v2/{REPO}/manifests/latest", content=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
        assert response.status_code == 201, response.text
    return Pushed(config, layer, manifest)


@pytest.fixture(scope="module", autouse=True)
def no_tracebacks(shared_server: RunningServer) -> Iterator[None]:
    """After the whole module: no request made the server log an unexpected error."""
    yield
    log = shared_server.log()
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]


def client_of(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=server.auth, timeout=30)


@pytest.fixture
def client(shared_server: RunningServer, pushed: Pushed) -> Iterator[httpx.Client]:
    with client_of(shared_server) as client:
        yield client
    # every garbage test ends with the server still answering
    assert httpx.get(f"{shared_server.url}/v2/", auth=shared_server.auth, timeout=10).status_code == 200


def new_upload(client: httpx.Client, name: str = REPO) -> str:
    response = client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return str(response.headers["location"])


# --- digests ---------------------------------------------------------------------------------------

BAD_DIGESTS = [
    "sha256:xyz",
    "md5:d41d8cd98f00b204e9800998ecf8427e",
    "sha256:" + "a" * 65,
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 4000,
    "sha256:" + "A" * 64,
    "SHA256:" + "a" * 64,
    "sha256:" + "g" * 64,
    "sha512:" + "a" * 64,
    "sha256:",
    ":" + "a" * 64,
    "sha256::" + "a" * 64,
    "sha256:" + "a" * 62 + "%00",
    "sha256:" + "a" * 62 + "..",
]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_bad_digest_in_blob_and_manifest_urls_is_400(
    client: httpx.Client, shared_server: RunningServer, digest: str
) -> None:
    for method, path in [
        ("GET", f"/v2/{REPO}/blobs/{digest}"),
        ("DELETE", f"/v2/{REPO}/blobs/{digest}"),
        ("GET", f"/v2/{REPO}/manifests/{digest}"),
        ("DELETE", f"/v2/{REPO}/manifests/{digest}"),
        ("GET", f"/v2/{REPO}/referrers/{digest}"),
    ]:
        response = raw_request(shared_server, method, path)
        assert response is not None, (method, path)
        assert response.codes(400, "DIGEST_INVALID"), (method, path)
    head = raw_request(shared_server, "HEAD", f"/v2/{REPO}/blobs/{digest}")
    assert head is not None and head.status == 400 and head.body == b""


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_bad_digest_on_upload_is_400_and_stores_nothing(client: httpx.Client, digest: str) -> None:
    location = new_upload(client)
    put = client.put(location, params={"digest": digest}, content=b"some bytes")
    assert_oci_error(put, 400, "DIGEST_INVALID")
    whole = client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, content=b"some bytes")
    assert_oci_error(whole, 400, "DIGEST_INVALID")
    mount = client.post(f"/v2/{REPO}/blobs/uploads/", params={"mount": digest, "from": "garbage/other"})
    assert mount.status_code in (400, 202), mount.text
    if mount.status_code == 400:
        assert_oci_error(mount, 400, "DIGEST_INVALID")


def test_unsupported_digest_algorithm_for_an_upload_is_400(client: httpx.Client) -> None:
    response = client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest-algorithm": "md5"})
    assert_oci_error(response, 400, "DIGEST_INVALID")


def test_put_without_digest_is_400(client: httpx.Client) -> None:
    location = new_upload(client)
    assert_oci_error(client.put(location, content=b"abc"), 400, "DIGEST_INVALID")
    assert_oci_error(client.put(location, params={"digest": ""}, content=b""), 400, "DIGEST_INVALID")


def test_put_with_wrong_digest_is_400_and_the_upload_can_still_be_completed(client: httpx.Client) -> None:
    data = b"the real content " * 1000
    # chunks first, then a closing PUT naming the wrong digest
    location = new_upload(client)
    patched = client.patch(location, content=data, headers={"Content-Range": f"0-{len(data) - 1}"})
    assert patched.status_code == 202, patched.text
    wrong = client.put(location, params={"digest": sha256(b"something else")})
    assert_oci_error(wrong, 400, "DIGEST_INVALID")
    assert client.head(f"/v2/{REPO}/blobs/{sha256(b'something else')}").status_code == 404
    status = client.get(location)
    assert status.status_code == 204 and status.headers["range"] == f"0-{len(data) - 1}"
    right = client.put(location, params={"digest": sha256(data)})
    assert right.status_code == 201, right.text
    assert client.get(f"/v2/{REPO}/blobs/{sha256(data)}").content == data


def test_wrong_digest_on_a_put_with_body_keeps_the_session_resumable(client: httpx.Client) -> None:
    """The session survives the failed PUT; the client learns where it stands from GET and
    finishes from there (whether or not the rejected body was kept)."""
    data = b"monolithic content " * 500
    location = new_upload(client)
    wrong = client.put(location, params={"digest": sha256(b"not it")}, content=data)
    assert_oci_error(wrong, 400, "DIGEST_INVALID")
    assert client.head(f"/v2/{REPO}/blobs/{sha256(data)}").status_code == 404
    status = client.get(location)
    assert status.status_code == 204, status.text
    end = int(status.headers["range"].split("-")[1])
    held = 0 if end == 0 else end + 1
    assert held in (0, len(data))
    rest = data[held:]
    headers = {"Content-Range": f"{held}-{len(data) - 1}"} if rest else {}
    right = client.put(location, params={"digest": sha256(data)}, content=rest, headers=headers)
    assert right.status_code == 201, right.text
    assert client.get(f"/v2/{REPO}/blobs/{sha256(data)}").content == data


def test_monolithic_post_with_wrong_digest_stores_nothing(client: httpx.Client) -> None:
    data = b"posted in one go"
    response = client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": sha256(b"other")}, content=data)
    assert_oci_error(response, 400, "DIGEST_INVALID")
    assert client.head(f"/v2/{REPO}/blobs/{sha256(b'other')}").status_code == 404
    assert client.head(f"/v2/{REPO}/blobs/{sha256(data)}").status_code == 404


# --- manifests -------------------------------------------------------------------------------------

BAD_MANIFEST_BODIES = {
    "empty": b"",
    "truncated": b'{"schemaVersion": 2, "mediaType": ',
    "not utf-8": b"\xff\xfe{\x00}",
    "array": b"[]",
    "string": b'"manifest"',
    "number": b"2",
    "null": b"null",
    "true": b"true",
    "deep array": b"[" * 100_000 + b"]" * 100_000,
    "deep object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "nan": b'{"schemaVersion": NaN}',
    "trailing garbage": b'{"schemaVersion": 2} xyz',
    "no schemaVersion": json.dumps({"mediaType": OCI_MANIFEST, "layers": []}).encode(),
    "schemaVersion string": json.dumps({"schemaVersion": "2", "mediaType": OCI_MANIFEST}).encode(),
    "schemaVersion true": json.dumps({"schemaVersion": True, "mediaType": OCI_MANIFEST}).encode(),
    "mediaType not a string": json.dumps({"schemaVersion": 2, "mediaType": 7}).encode(),
    "config missing": json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode(),
    "layers not a list": json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(b"{}"), "size": 2},
            "layers": {"0": "x"},
        }
    ).encode(),
    "descriptor digest garbage": json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": "sha256:xyz", "size": 2},
            "layers": [],
        }
    ).encode(),
    "descriptor size negative": json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(b"{}"), "size": -1},
            "layers": [],
        }
    ).encode(),
    "descriptor size huge float": b'{"schemaVersion": 2, "mediaType": "'
    + OCI_MANIFEST.encode()
    + b'", "config": {"mediaType": "x", "digest": "'
    + sha256(b"{}").encode()
    + b'", "size": 1e999}, "layers": []}',
    "annotations not strings": json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(b"{}"), "size": 2},
            "layers": [],
            "annotations": {"a": 1},
        }
    ).encode(),
    "index manifests not a list": json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": 3}
    ).encode(),
}


@pytest.mark.parametrize("body", BAD_MANIFEST_BODIES.values(), ids=BAD_MANIFEST_BODIES.keys())
def test_bad_manifest_body_is_400_manifest_invalid(client: httpx.Client, body: bytes) -> None:
    content_type = OCI_INDEX if b"manifests" in body else OCI_MANIFEST
    response = client.put(f"/v2/{REPO}/manifests/bad", content=body, headers={"Content-Type": content_type})
    assert_oci_error(response, 400, "MANIFEST_INVALID")
    assert client.head(f"/v2/{REPO}/manifests/bad").status_code == 404


def test_content_type_must_match_media_type(client: httpx.Client, pushed: Pushed) -> None:
    for content_type in (DOCKER_MANIFEST, OCI_INDEX, "application/json", "text/plain"):
        response = client.put(
            f"/v2/{REPO}/manifests/mismatch", content=pushed.manifest, headers={"Content-Type": content_type}
        )
        assert_oci_error(response, 400, "MANIFEST_INVALID")
    without_type = json.loads(pushed.manifest)
    del without_type["mediaType"]
    body = json.dumps(without_type).encode()
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/octet-stream"}):
        response = client.put(f"/v2/{REPO}/manifests/mismatch", content=body, headers=headers)
        assert_oci_error(response, 400, "MANIFEST_INVALID")
    assert client.head(f"/v2/{REPO}/manifests/mismatch").status_code == 404


@pytest.mark.parametrize(
    "media_type", [SCHEMA1, SCHEMA1_SIGNED, "application/vnd.oci.artifact.manifest.v1+json"]
)
def test_schema1_and_artifact_manifests_are_refused(
    client: httpx.Client, pushed: Pushed, media_type: str
) -> None:
    schema1 = {
        "schemaVersion": 1,
        "name": REPO,
        "tag": "old",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": sha256(pushed.layer)}],
        "history": [{"v1Compatibility": "{}"}],
    }
    if media_type == SCHEMA1_SIGNED:
        schema1["signatures"] = [{"header": {"alg": "ES256"}, "signature": "abc", "protected": "def"}]
    for body in (json.dumps(schema1).encode(), json.dumps({**schema1, "mediaType": media_type}).encode()):
        response = client.put(f"/v2/{REPO}/manifests/old", content=body, headers={"Content-Type": media_type})
        assert_oci_error(response, 400, "MANIFEST_INVALID")
    assert client.head(f"/v2/{REPO}/manifests/old").status_code == 404


def _padded_manifest(pushed: Pushed, size: int) -> bytes:
    """A valid manifest of exactly ``size`` bytes (an annotation carries the padding)."""
    base = manifest_for(pushed.config, [pushed.layer], annotations={"pad": ""})
    padding = size - len(base)
    assert padding >= 0
    return manifest_for(pushed.config, [pushed.layer], annotations={"pad": "x" * padding})


def test_manifest_over_4_mib_is_413_and_at_4_mib_is_accepted(client: httpx.Client, pushed: Pushed) -> None:
    at_limit = _padded_manifest(pushed, MAX_MANIFEST)
    assert len(at_limit) == MAX_MANIFEST
    accepted = client.put(
        f"/v2/{REPO}/manifests/big", content=at_limit, headers={"Content-Type": OCI_MANIFEST}
    )
    assert accepted.status_code == 201, accepted.text
    assert client.get(f"/v2/{REPO}/manifests/big").content == at_limit

    over = _padded_manifest(pushed, MAX_MANIFEST + 1)
    declared = client.put(
        f"/v2/{REPO}/manifests/too-big", content=over, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_oci_error(declared, 413)
    streamed = client.put(
        f"/v2/{REPO}/manifests/too-big",
        content=iter([over[i : i + 65536] for i in range(0, len(over), 65536)]),  # chunked: no length
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_oci_error(streamed, 413)
    huge = client.put(
        f"/v2/{REPO}/manifests/too-big",
        content=b"{" * (3 * MAX_MANIFEST),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_oci_error(huge, 413)
    assert client.head(f"/v2/{REPO}/manifests/too-big").status_code == 404


def test_manifest_with_missing_blobs_lists_each_one(client: httpx.Client, pushed: Pushed) -> None:
    missing_config, missing_a, missing_b = b'{"missing": "config"}', b"missing layer a", b"missing layer b"
    body = manifest_for(missing_config, [missing_a, pushed.layer, missing_b, missing_a])
    response = client.put(
        f"/v2/{REPO}/manifests/incomplete", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_oci_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    errors = response.json()["errors"]
    assert all(entry["code"] == "MANIFEST_BLOB_UNKNOWN" for entry in errors)
    reported = [json.dumps(entry.get("detail")) for entry in errors]
    expected = [sha256(missing_config), sha256(missing_a), sha256(missing_b)]
    assert len(errors) == len(expected), errors  # one per missing blob, duplicates once
    for digest in expected:
        assert sum(digest in detail for detail in reported) == 1, (digest, errors)
    assert not any(sha256(pushed.layer) in detail for detail in reported)
    assert client.head(f"/v2/{REPO}/manifests/incomplete").status_code == 404


def test_blob_of_another_repository_does_not_count(client: httpx.Client) -> None:
    config, layer = b'{"other": "repo"}', b"only in garbage/elsewhere"
    push_blob(client, "garbage/elsewhere", config)
    push_blob(client, "garbage/elsewhere", layer)
    body = manifest_for(config, [layer])
    response = client.put(
        f"/v2/{REPO}/manifests/borrowed", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_oci_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert len(response.json()["errors"]) == 2


def test_index_with_missing_children_lists_each_one(client: httpx.Client, pushed: Pushed) -> None:
    children = [sha256(b"child one"), sha256(pushed.manifest), sha256(b"child two")]
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": d, "size": 10} for d in children],
        }
    ).encode()
    response = client.put(f"/v2/{REPO}/manifests/index", content=body, headers={"Content-Type": OCI_INDEX})
    assert_oci_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    reported = [json.dumps(entry.get("detail")) for entry in response.json()["errors"]]
    assert len(reported) == 2, reported
    assert any(children[0] in detail for detail in reported)
    assert any(children[2] in detail for detail in reported)
    assert not any(children[1] in detail for detail in reported)  # that one is in the repository


def test_push_by_digest_that_does_not_match_body_is_400(client: httpx.Client, pushed: Pushed) -> None:
    response = client.put(
        f"/v2/{REPO}/manifests/{sha256(b'other')}",
        content=pushed.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_oci_error(response, 400, "DIGEST_INVALID")


# --- names, tags and paths -------------------------------------------------------------------------

INVALID_NAMES = [
    "Upper",
    "garbage/Upper",
    "a//b",
    "/leading",
    "trailing/",
    "-dash",
    "dash-",
    "a..b",
    "a._b",
    "a/./b",
    "a/../b",
    "..",
    "a" * 201,
    "/".join(["abcdefghij"] * 26),  # 285 characters
    "a" * 300,
    "white space",
    "tab\tname",
    "caf\u00e9",
    "semi;colon",
    "nul\x00byte",
]


@pytest.mark.parametrize("name", INVALID_NAMES, ids=range(len(INVALID_NAMES)))
def test_invalid_repository_names_are_400_name_invalid(
    client: httpx.Client, shared_server: RunningServer, name: str
) -> None:
    encoded = quote(name, safe="/")
    for method, suffix in [
        ("GET", "/tags/list"),
        ("GET", "/manifests/latest"),
        ("PUT", "/manifests/latest"),
        ("DELETE", "/manifests/latest"),
        ("GET", f"/blobs/{sha256(b'x')}"),
        ("POST", "/blobs/uploads/"),
        ("PATCH", f"/blobs/uploads/{'0' * 32}"),
    ]:
        body = b"{}" if method == "PUT" else b""
        response = raw_request(shared_server, method, f"/v2/{encoded}{suffix}", body=body)
        assert response is not None
        response.codes(400, "NAME_INVALID")
    head = raw_request(shared_server, "HEAD", f"/v2/{encoded}/manifests/latest")
    assert head is not None and head.status == 400 and head.body == b""


PATH_TRICKS = [
    "/v2/garbage/../garbage/repo/tags/list",
    "/v2/garbage/%2e%2e/garbage/repo/tags/list",
    "/v2/garbage/%2E%2E/%2E%2E/etc/tags/list",
    "/v2/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/v2/garbage/repo/blobs/..%2f..%2f..%2fstrongroom.db",
    "/v2/garbage/repo/blobs/sha256:..%2f..%2f..%2fstrongroom.db",
    "/v2/garbage/repo/blobs/uploads/..%2f..%2fstrongroom.db",
    "/v2/garbage/repo/blobs/uploads/%2e%2e",
    "/v2/garbage/repo/manifests/..%2flatest",
    "/v2/garbage/repo/manifests/%2e%2e",
    "/v2/garbage//repo/tags/list",
    "/v2/garbage/repo/tags/list/../../../../strongroom.db",
    "/v2/garbage/repo%00/tags/list",
    "/v2/garbage/repo/manifests/latest%00",
    "/v2/garbage/repo/manifests/latest%0d%0aX-Injected:%20yes",
    "/v2/" + "a/" * 2000 + "tags/list",
]


@pytest.mark.parametrize("target", PATH_TRICKS, ids=range(len(PATH_TRICKS)))
def test_path_tricks_get_a_clean_4xx(shared_server: RunningServer, pushed: Pushed, target: str) -> None:
    for method in ("GET", "DELETE", "PUT", "PATCH"):
        response = raw_request(shared_server, method, target)
        assert response is not None, (method, target)
        response.codes()
        assert "x-injected" not in response.headers
        assert b"SQLite" not in response.body
    head = raw_request(shared_server, "HEAD", target)
    assert head is not None and 400 <= head.status < 500 and head.body == b""
    # nothing was deleted by the tricks
    with client_of(shared_server) as client:
        assert client.get(f"/v2/{REPO}/manifests/latest").content == pushed.manifest


def test_encoded_slashes_and_doubled_leading_slash(shared_server: RunningServer, pushed: Pushed) -> None:
    """``%2F`` decodes to ``/`` before routing, so it only respells the same repository
    (authorization sees the decoded name); ``//v2/...`` is not the API and is a 404."""
    plain = raw_request(shared_server, "GET", f"/v2/{REPO}/tags/list")
    assert plain is not None and plain.status == 200
    for target in ("/v2/garbage%2frepo/tags/list", "/v2/garbage%2Frepo/tags/list"):
        respelled = raw_request(shared_server, "GET", target)
        assert respelled is not None
        if respelled.status == 200:
            assert respelled.body == plain.body
        else:
            respelled.codes()
    outside = raw_request(shared_server, "GET", f"//v2/{REPO}/tags/list")
    assert outside is not None and outside.status == 404
    assert outside.headers["content-type"].startswith("application/json")
    assert b"latest" not in outside.body


INVALID_TAGS = ["-tag", ".tag", "a" * 129, "tag!", "tag%20space", "t%C3%A4g", "tag+plus", "ta%09g", "%00"]


@pytest.mark.parametrize("tag", INVALID_TAGS)
def test_invalid_tags_are_unknown_on_read_and_400_on_push(
    client: httpx.Client, shared_server: RunningServer, pushed: Pushed, tag: str
) -> None:
    # OCI conformance: a tag outside the grammar names no manifest (404); only a push
    # validates the tag format (issue 10 §1).
    for method in ("GET", "DELETE"):
        response = raw_request(shared_server, method, f"/v2/{REPO}/manifests/{tag}")
        assert response is not None
        response.codes(404, "MANIFEST_UNKNOWN")
    put = raw_request(
        shared_server, "PUT", f"/v2/{REPO}/manifests/{tag}", {"Content-Type": OCI_MANIFEST}, pushed.manifest
    )
    assert put is not None
    put.codes(400, "TAG_INVALID")


def test_longest_valid_tag_is_fine(client: httpx.Client, pushed: Pushed) -> None:
    tag = "v" + "1" * 127
    assert_oci_error(client.get(f"/v2/{REPO}/manifests/{tag}"), 404, "MANIFEST_UNKNOWN")
    response = client.put(
        f"/v2/{REPO}/manifests/{tag}", content=pushed.manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text


# --- headers -----------------------------------------------------------------------------------------


def test_20_kb_header_is_431_with_oci_json(client: httpx.Client, shared_server: RunningServer) -> None:
    response = client.get(f"/v2/{REPO}/tags/list", headers={"X-Padding": "a" * 20_000})
    assert_oci_error(response, 431)
    # ~100 header lines or more: granian itself answers 431, with an empty body, before the app
    many = client.get(f"/v2/{REPO}/tags/list", headers={f"X-Pad-{i}": "b" * 20 for i in range(800)})
    assert many.status_code == 431
    if many.content:
        assert_oci_error(many, 431)
    head = raw_request(shared_server, "HEAD", f"/v2/{REPO}/manifests/latest", {"X-Padding": "a" * 20_000})
    assert head is not None and head.status == 431 and head.body == b""


def test_1_mb_header_does_not_crash_the_server(shared_server: RunningServer) -> None:
    for _ in range(3):
        response = raw_request(shared_server, "GET", f"/v2/{REPO}/tags/list", {"X-Padding": "a" * 1_000_000})
        assert response is None or 400 <= response.status < 500, response
    with client_of(shared_server) as client:
        assert client.get("/v2/").status_code == 200
        assert client.get(f"/v2/{REPO}/tags/list").status_code == 200


def test_malformed_request_lines_do_not_crash_the_server(shared_server: RunningServer) -> None:
    garbage = [
        b"\x00\x01\x02\x03\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /v2/ HTTP/9.9\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde",
        b"PATCH /v2/garbage/repo/blobs/uploads/x HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nNo colon header\r\n\r\n",
    ]
    for request in garbage:
        with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as sock:
            try:
                sock.sendall(request)
                sock.shutdown(socket.SHUT_WR)
                answer = sock.recv(4096)
            except OSError:
                answer = b""
        if answer.startswith(b"HTTP/"):
            status = int(answer.split(b" ", 2)[1])
            assert status < 500 or status == 505, (request, answer[:200])
    with client_of(shared_server) as client:
        assert client.get("/v2/").status_code == 200


# --- uploads -----------------------------------------------------------------------------------------

BAD_CONTENT_RANGES = [
    "abc",
    "5-1",
    "-5",
    "0-",
    "-",
    "bytes=0-x",
    "0-9-10",
    "1e3-2e3",
    "99999999999999999999-1",
    "0-9/x",
]


@pytest.mark.parametrize("content_range", BAD_CONTENT_RANGES)
def test_bad_content_range_is_400(client: httpx.Client, content_range: str) -> None:
    location = new_upload(client)
    response = client.patch(location, content=b"0123456789", headers={"Content-Range": content_range})
    assert_oci_error(response, 400)
    put = client.put(
        location,
        params={"digest": sha256(b"0123456789")},
        content=b"0123456789",
        headers={"Content-Range": content_range},
    )
    assert_oci_error(put, 400)
    status = client.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-0"


@pytest.mark.parametrize(("content_range", "body"), [("22-121", b"x" * 10), ("22-31", b"y" * 30)])
def test_content_range_disagreeing_with_content_length_is_refused_untouched(
    client: httpx.Client, content_range: str, body: bytes
) -> None:
    location = new_upload(client)
    assert client.patch(location, content=b"a" * 22, headers={"Content-Range": "0-21"}).status_code == 202
    response = client.patch(location, content=body, headers={"Content-Range": content_range})
    assert response.status_code in (400, 416), response.text
    assert_oci_error(response)
    status = client.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-21"


def test_out_of_order_chunk_is_416_with_current_range(client: httpx.Client) -> None:
    data = bytes(range(256)) * 4
    location = new_upload(client)
    first = client.patch(location, content=data[:22], headers={"Content-Range": "0-21"})
    assert first.status_code == 202 and first.headers["range"] == "0-21"
    for start, end in [(30, 39), (10, 29), (0, 21), (21, 30), (23, 40)]:
        response = client.patch(
            location, content=data[start : end + 1], headers={"Content-Range": f"{start}-{end}"}
        )
        assert_oci_error(response, 416)
        assert response.headers["range"] == "0-21", (start, end)
        assert response.headers["location"].endswith(location.rsplit("/", 1)[-1])
    status = client.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-21"
    rest = client.patch(location, content=data[22:], headers={"Content-Range": f"22-{len(data) - 1}"})
    assert rest.status_code == 202, rest.text
    done = client.put(location, params={"digest": sha256(data)})
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/{REPO}/blobs/{sha256(data)}").content == data


def test_out_of_order_final_chunk_on_put_is_416(client: httpx.Client) -> None:
    data = b"z" * 50
    location = new_upload(client)
    assert client.patch(location, content=data[:20], headers={"Content-Range": "0-19"}).status_code == 202
    response = client.put(
        location, params={"digest": sha256(data)}, content=data[25:], headers={"Content-Range": "25-49"}
    )
    assert_oci_error(response, 416)
    assert response.headers["range"] == "0-19"
    done = client.put(
        location, params={"digest": sha256(data)}, content=data[20:], headers={"Content-Range": "20-49"}
    )
    assert done.status_code == 201, done.text


UNKNOWN_UPLOAD_IDS = [uuid.uuid4().hex, "0" * 32, "xyz", "A" * 32, "0" * 33, "0" * 31, "%2e%2e", "a" * 500]


@pytest.mark.parametrize("upload_id", UNKNOWN_UPLOAD_IDS)
def test_unknown_upload_ids_are_404(
    client: httpx.Client, shared_server: RunningServer, upload_id: str
) -> None:
    path = f"/v2/{REPO}/blobs/uploads/{upload_id}"
    for method, body in [("GET", b""), ("PATCH", b"data"), ("PUT", b""), ("DELETE", b"")]:
        target = path + (f"?digest={sha256(b'')}" if method == "PUT" else "")
        response = raw_request(shared_server, method, target, body=body)
        assert response is not None
        response.codes(404, "BLOB_UPLOAD_UNKNOWN")
    head = raw_request(shared_server, "HEAD", path)
    assert head is not None and head.status == 404 and head.body == b""


def test_upload_ids_do_not_cross_repositories_or_outlive_their_session(client: httpx.Client) -> None:
    location = new_upload(client)
    upload_id = location.rsplit("/", 1)[-1]
    other = f"/v2/garbage/other/blobs/uploads/{upload_id}"
    assert client.post("/v2/garbage/other/blobs/uploads/").status_code == 202  # the repository exists
    assert_oci_error(client.get(other), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.patch(other, content=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.put(other, params={"digest": sha256(b"")}), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.delete(other), 404, "BLOB_UPLOAD_UNKNOWN")
    assert client.get(location).status_code == 204  # untouched by the attempts

    assert client.put(location, params={"digest": sha256(b"done")}, content=b"done").status_code == 201
    assert_oci_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.put(location, params={"digest": sha256(b"done")}), 404, "BLOB_UPLOAD_UNKNOWN")

    cancelled = new_upload(client)
    assert client.delete(cancelled).status_code == 204
    assert_oci_error(client.patch(cancelled, content=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.delete(cancelled), 404, "BLOB_UPLOAD_UNKNOWN")


# --- pagination and ranges ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "1e3", " 1", "0x10", "+1", "\u0661", "\u00b2"])
def test_bad_n_is_400(client: httpx.Client, n: str) -> None:
    assert_oci_error(client.get(f"/v2/{REPO}/tags/list", params={"n": n}), 400)
    assert_oci_error(client.get("/v2/_catalog", params={"n": n}), 400)


def test_odd_but_valid_pagination_is_fine(client: httpx.Client) -> None:
    huge = client.get(f"/v2/{REPO}/tags/list", params={"n": "9" * 30})
    assert huge.status_code in (200, 400), huge.text  # capped or refused, either is fine
    if huge.status_code == 400:
        assert_oci_error(huge, 400)
    empty = client.get(f"/v2/{REPO}/tags/list", params={"n": "0"})
    assert empty.status_code == 200 and empty.json()["tags"] == [] and "link" not in empty.headers
    for last in ("zzzz", "\u00e9", "a" * 1000, "%", ""):
        response = client.get(f"/v2/{REPO}/tags/list", params={"n": "5", "last": last})
        assert response.status_code == 200, (last, response.text)
        assert client.get("/v2/_catalog", params={"last": last}).status_code == 200


def test_garbage_blob_ranges_never_500(client: httpx.Client, pushed: Pushed) -> None:
    url = f"/v2/{REPO}/blobs/{sha256(pushed.layer)}"
    size = len(pushed.layer)
    for value in [
        "bytes=abc",
        "bytes=5-1",
        "bytes=-0",
        f"bytes={size}-",
        "bytes=0-0,5-9",
        "items=0-1",
        "bytes=--1",
    ]:
        response = client.get(url, headers={"Range": value})
        assert response.status_code in (200, 206, 416), (value, response.status_code)
        if response.status_code == 200:
            assert response.content == pushed.layer
        if response.status_code == 416:
            assert response.headers["content-range"] == f"bytes */{size}"


# --- HEAD errors have no body -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (f"/v2/{REPO}/blobs/{sha256(b'never pushed')}", 404),
        (f"/v2/{REPO}/blobs/sha256:xyz", 400),
        (f"/v2/{REPO}/manifests/no-such-tag", 404),
        (f"/v2/{REPO}/manifests/{sha256(b'never pushed')}", 404),
        (f"/v2/{REPO}/manifests/-bad-tag", 404),
        ("/v2/garbage/never-created/manifests/latest", 404),
        ("/v2/Garbage/manifests/latest", 400),
        (f"/v2/{REPO}/no-such-endpoint", 404),
        (f"/v2/{REPO}/blobs/uploads/{'0' * 32}", 404),
    ],
)
def test_head_errors_have_no_body(
    shared_server: RunningServer, pushed: Pushed, target: str, status: int
) -> None:
    response = raw_request(shared_server, "HEAD", target)
    assert response is not None
    assert response.status == status, response
    assert response.body == b""


# --- fuzzing over names, references and digests against the live server -----------------------------


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own, so DELETEs drawn by the fuzzer cannot touch other tests' content."""
    running = start_server(tmp_path_factory.mktemp("fuzz") / "data")
    try:
        with client_of(running) as client:
            push_blob(client, "fuzz/repo", b"{}")
            body = manifest_for(b"{}", [])
            pushed = client.put(
                "/v2/fuzz/repo/manifests/latest", content=body, headers={"Content-Type": OCI_MANIFEST}
            )
            assert pushed.status_code == 201, pushed.text
        yield running
    finally:
        running.stop()
        assert "Traceback" not in running.log()


_NAME_ALPHABET = "abcxyz0129._-/ABZ%:@?#;,+=~ \t\u00e9\u4e2d\x00"
names = st.one_of(
    st.sampled_from(["fuzz/repo", "fuzz", "fuzz/other", "a" * 256]),
    st.from_regex(r"\A[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*){0,3}\Z"),
    st.text(_NAME_ALPHABET, min_size=1, max_size=300),
)
digests = st.one_of(
    st.builds(lambda h: "sha256:" + h, st.text("0123456789abcdef", min_size=64, max_size=64)),
    st.builds(
        lambda a, e: f"{a}:{e}",
        st.text("abcsha256SHA+._-", min_size=0, max_size=12),
        st.text("0123456789abcdefABCDEF=_-:./%", min_size=0, max_size=200),
    ),
    st.text(_NAME_ALPHABET + "0123456789abcdef:", max_size=150),
)
references = st.one_of(
    digests,
    st.from_regex(r"\A[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\Z"),
    st.text(_NAME_ALPHABET, min_size=1, max_size=200),
)
queries = st.dictionaries(
    st.sampled_from(["n", "last", "digest", "mount", "from", "artifactType", "digest-algorithm", "tag"]),
    st.text(_NAME_ALPHABET + "0123456789-", max_size=80),
    max_size=3,
)


@st.composite
def fuzz_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    name = quote(draw(names), safe="/")
    kind = draw(st.sampled_from(["manifest", "blob", "tags", "referrers", "upload", "start"]))
    if kind == "manifest":
        method = draw(st.sampled_from(["GET", "HEAD", "DELETE", "PUT"]))
        path = f"/v2/{name}/manifests/{quote(draw(references), safe='')}"
    elif kind == "blob":
        method = draw(st.sampled_from(["GET", "HEAD", "DELETE"]))
        path = f"/v2/{name}/blobs/{quote(draw(digests), safe=':')}"
    elif kind == "tags":
        method = draw(st.sampled_from(["GET", "HEAD"]))
        path = f"/v2/{name}/tags/list"
    elif kind == "referrers":
        method = "GET"
        path = f"/v2/{name}/referrers/{quote(draw(digests), safe=':')}"
    elif kind == "upload":
        method = draw(st.sampled_from(["GET", "PATCH", "PUT", "DELETE"]))
        upload_id = draw(st.one_of(st.text("0123456789abcdef", min_size=32, max_size=32), references))
        path = f"/v2/{name}/blobs/uploads/{quote(upload_id, safe='')}"
    else:
        method = "POST"
        path = f"/v2/{name}/blobs/uploads/"
    body = draw(st.binary(max_size=64)) if method in ("PUT", "PATCH", "POST") else b""
    headers = {}
    if method == "PUT" and kind == "manifest":
        headers["Content-Type"] = draw(st.sampled_from([OCI_MANIFEST, OCI_INDEX, SCHEMA1, "text/plain"]))
    if method == "PATCH" and draw(st.booleans()):
        # h11 refuses to send values with surrounding whitespace
        headers["Content-Range"] = draw(st.text("0123456789-bytes=/* ", max_size=30)).strip()
    return method, path, headers, body


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(request=fuzz_requests(), query=queries)
def test_fuzzed_requests_never_500(
    fuzz_server: RunningServer, request: tuple[str, str, dict[str, str], bytes], query: dict[str, str]
) -> None:
    method, path, headers, body = request
    if method == "HEAD":  # raw, to see whether anything follows the head
        raw = raw_request(fuzz_server, "HEAD", f"{path}?{urlencode(query)}" if query else path)
        assert raw is not None
        assert raw.status < 500, f"HEAD {path} {query}: {raw.status}"
        assert raw.body == b""
        return
    with client_of(fuzz_server) as client:
        response = client.request(method, path, params=query, headers=headers, content=body)
    assert response.status_code < 500, (
        f"{method} {path} {query}: {response.status_code} {response.text[:300]}"
    )
    if response.status_code >= 400:
        assert_oci_error(response)


def test_retrying_a_rejected_monolithic_put_with_the_right_digest_succeeds(client: httpx.Client) -> None:
    data = b"retried monolithic content " * 300
    location = new_upload(client)
    wrong = client.put(location, params={"digest": sha256(b"a typo")}, content=data)
    assert_oci_error(wrong, 400, "DIGEST_INVALID")
    retry = client.put(location, params={"digest": sha256(data)}, content=data)
    assert retry.status_code == 201, retry.text
    assert client.get(f"/v2/{REPO}/blobs/{sha256(data)}").content == data
