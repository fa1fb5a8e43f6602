from __future__ import annotations

import pytest

from strongroom.errors import NameInvalid, TagInvalid
from strongroom.oci.names import RepositoryRef, validate_name, validate_tag

DEFAULT = "111111111111"


@pytest.mark.parametrize("name", ["a", "team/project/model", "a.b_c__d-e---f", "0/1/2", "x" * 200])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "A", "a/../b", "..", "a//b", "/a", "a/", "a_", "-a", "a/.b", "a b", "a%2fb", "x" * 201, "ü"],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


@pytest.mark.parametrize("tag", ["latest", "v1.0.0", "_x", "A" * 128, "1"])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "A" * 129, "a:b", "a/b", "a b"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(TagInvalid):
        validate_tag(tag)


def test_a_twelve_digit_first_component_names_the_account() -> None:
    ref = RepositoryRef.parse("123456789012/team/model", DEFAULT)
    assert (ref.account_id, ref.name, ref.path) == ("123456789012", "team/model", "123456789012/team/model")
    assert ref.arn("eu-west-1") == "arn:aws:ecr:eu-west-1:123456789012:repository/team/model"
    plain = RepositoryRef.parse("team/model", DEFAULT)
    assert (plain.account_id, plain.name) == (DEFAULT, "team/model")
    assert RepositoryRef.parse("1234/model", DEFAULT).account_id == DEFAULT
    with pytest.raises(NameInvalid):
        RepositoryRef.parse("123456789012", DEFAULT)
