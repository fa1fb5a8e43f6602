"""The service models read from botocore's data files present every input shape exactly as
botocore's own model classes do (what validation relies on), without importing botocore."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel

from strongroom.api.ecr.model import SERVICE_NAMES, Shape, _service_model

CONSTRAINTS = ("min", "max", "pattern")


def _same(ours: Shape, theirs: Any, path: str, seen: set[str]) -> int:
    assert ours.type_name == theirs.type_name, path
    assert ours.enum == getattr(theirs, "enum", []), path  # botocore: only on strings
    assert {k: ours.metadata.get(k) for k in CONSTRAINTS} == {
        k: theirs.metadata.get(k) for k in CONSTRAINTS
    }, path
    if ours.name in seen:  # recursive shapes: each is compared once
        return 0
    seen = seen | {ours.name}
    compared = 1
    if ours.type_name == "structure":
        assert ours.required_members == theirs.required_members, path
        assert list(ours.members) == list(theirs.members), path
        for name, member in ours.members.items():
            compared += _same(member, theirs.members[name], f"{path}.{name}", seen)
    elif ours.type_name == "list":
        compared += _same(ours.member, theirs.member, f"{path}[]", seen)
    elif ours.type_name == "map":
        compared += _same(ours.key, theirs.key, f"{path}.key", seen)
        compared += _same(ours.value, theirs.value, f"{path}.value", seen)
    return compared


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_every_input_shape_matches_botocore(name: str) -> None:
    theirs = ServiceModel(Loader().load_service_model(name, "service-2"), service_name=name)
    ours = _service_model(name)
    assert ours.operation_names == list(theirs.operation_names)
    assert ours.metadata["targetPrefix"] == theirs.metadata["targetPrefix"]
    compared = 0
    for operation in ours.operation_names:
        their_input = theirs.operation_model(operation).input_shape
        our_input = ours.input_shape(operation)
        assert (our_input is None) == (their_input is None), operation
        if our_input is not None:
            compared += _same(our_input, their_input, operation, set())
    assert compared > 100


def test_validating_does_not_import_botocore() -> None:
    code = (
        "import sys\n"
        "from strongroom.api.ecr.model import service_apis\n"
        "api = service_apis()['AmazonEC2ContainerRegistry_V20150921']\n"
        "api.validate('DescribeRepositories', {'repositoryNames': ['team/app']})\n"
        "print(sorted(m for m in sys.modules if m.startswith('botocore')))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
