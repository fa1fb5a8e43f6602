from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.errors import DigestInvalid
from strongroom.oci.digest import Digest, looks_like_digest


def test_parse_round_trips_sha256_and_sha512() -> None:
    for algorithm, length in (("sha256", 64), ("sha512", 128)):
        text = f"{algorithm}:{'a' * length}"
        assert str(Digest.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "sha256:totallywrong",
        "sha256:" + "A" * 64,  # registered algorithms are lowercase hex
        "sha256:" + "a" * 63,
        "sha512:" + "a" * 64,
        "md5:" + "a" * 32,  # grammatical but unsupported: could never be verified
        "sha256",
        ":abc",
        "SHA256:" + "a" * 64,
        "",
    ],
)
def test_invalid_digests_are_refused(text: str) -> None:
    with pytest.raises(DigestInvalid):
        Digest.parse(text)


@given(st.binary(max_size=512))
def test_of_matches_hashlib(data: bytes) -> None:
    assert Digest.of(data) == Digest("sha256", hashlib.sha256(data).hexdigest())
    assert Digest.of(data, "sha512").encoded == hashlib.sha512(data).hexdigest()


@given(st.text(max_size=80))
def test_parse_never_raises_anything_but_digest_invalid(text: str) -> None:
    with contextlib.suppress(DigestInvalid):
        Digest.parse(text)


def test_references_with_a_colon_are_digest_attempts() -> None:
    assert looks_like_digest("sha256:abc")
    assert not looks_like_digest("v1.0")
