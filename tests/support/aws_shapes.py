"""Hypothesis strategies for AWS requests built from botocore's own service models: every
member an operation takes, filled from pools that name the fuzzed server's real things,
from the type the model declares, or with a value of the wrong type.

ECR and ECR Public take JSON (values may hold :class:`support.hostile.Raw` pieces); IAM
and STS take the query protocol, flattened as ``Name.member.1.Key``.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from typing import Any

import botocore.session
from hypothesis import strategies as st

from support.hostile import (
    HUGE,
    OCI_INDEX,
    OCI_MANIFEST,
    RAW_HOSTILE,
    World,
    base64_texts,
    hostile_texts,
    json_values,
    lifecycle_texts,
    manifest_texts,
    policy_texts,
    safe_text,
)

TOKENS = [
    base64.urlsafe_b64encode(text.encode()).decode() for text in ("\u00b2", HUGE, "-1", "\x00", "a\x00")
]
"""Pagination tokens as ECR encodes them, around hostile positions."""
NUMERIC_TEXTS = [
    "0",
    "1",
    "100",
    "1000",
    "900",
    "3600",
    "43200",
    "0007",
    HUGE,
    "\u00b2",
    "\u0663",
    "-5",
    "1.5",
]


@functools.cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def operation_shape(service: str, operation: str) -> Any:
    return service_model(service).operation_model(operation).input_shape


@functools.cache
def _pools(world: World) -> list[tuple[Callable[[str], bool], st.SearchStrategy[str]]]:
    """(does this member name match, its values); the first match wins."""
    digests = [
        world.manifest_digest,
        world.layer_digest,
        world.config_digest,
        "sha256:" + "0" * 64,
        "sha256:x",
    ]
    arns = [
        world.repository_arn,
        world.role_arn,
        world.policy_arn,
        "arn:aws:ecr:us-east-1:000000000000:repository/x",
    ]

    def sample(*values: str) -> st.SearchStrategy[str]:
        return st.sampled_from(values)

    return [
        (lambda n: "mediatype" in n, sample(OCI_MANIFEST, OCI_INDEX, "text/plain")),
        (
            lambda n: "policytext" in n or "policydocument" in n or n in ("policy", "repositorypolicy"),
            policy_texts(world),
        ),
        (lambda n: "lifecyclepolicy" in n, lifecycle_texts()),
        (lambda n: n == "imagemanifest", manifest_texts(world)),
        (lambda n: "digest" in n, sample(*digests)),
        (
            lambda n: n == "repositoryname",
            sample(world.repository, world.public_repository, "fuzz/new", "Fu"),
        ),
        (lambda n: "registryid" in n, sample(world.account, "000000000000", "12")),
        (lambda n: n in ("imagetag", "imagetags"), sample(world.tag, "v2", "a" * 300)),
        (lambda n: "uploadid" in n, sample("0" * 32, "00000000-0000-0000-0000-000000000000")),
        (lambda n: n.endswith("arn") or n.endswith("arns"), sample(*arns)),
        (lambda n: n in ("nexttoken", "marker"), sample("", "\u00b2", "MQ==", "abc", "2", HUGE, *TOKENS)),
        (lambda n: n == "username", sample(world.user, "fuzz-new-user")),
        (lambda n: n == "rolename", sample(world.role, "fuzz-new-role")),
        (lambda n: n == "policyname", sample("fuzz-policy", "p")),
        (lambda n: n == "accesskeyid", sample(world.access_key_id, "AKIA0000000000000000")),
        (lambda n: n == "rolesessionname", sample("fuzz-session", "s")),
        (lambda n: n in ("path", "pathprefix"), sample("/", "/fuzz/", "x")),
        (lambda n: n == "prefix", sample("fuzz", "ROOT", "")),
    ]


def _string(shape: Any, name: str, world: World, *, surrogates: bool) -> st.SearchStrategy[str]:
    lowered = name.lower()
    for matches, pool in _pools(world):
        if matches(lowered):
            return pool | hostile_texts(surrogates=surrogates)
    if shape.enum:
        return st.sampled_from(list(shape.enum)) | hostile_texts(surrogates=surrogates)
    return hostile_texts(surrogates=surrogates) | (st.text(max_size=30) if surrogates else safe_text)


def json_input(shape: Any, name: str, world: World, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value for ``shape`` (named ``name`` in its parent), as Python values for ``dump``."""
    wrong = st.sampled_from(RAW_HOSTILE) | json_values(st.nothing())
    kind = shape.type_name
    if kind == "structure":
        if depth > 4:
            return st.just({})
        members = {m: json_input(s, m, world, depth + 1) for m, s in shape.members.items()}
        required = {m: members[m] for m in shape.required_members}
        optional = {m: s for m, s in members.items() if m not in required}
        proper: st.SearchStrategy[Any] = st.fixed_dictionaries(
            required, optional=optional
        ) | st.fixed_dictionaries({}, optional=members)
    elif kind == "list":
        proper = st.lists(json_input(shape.member, name, world, depth + 1), max_size=3)
    elif kind == "map":
        proper = st.dictionaries(
            _string(shape.key, name, world, surrogates=True), json_input(shape.value, name, world, depth + 1),
            max_size=3,
        )  # fmt: skip
    elif kind == "string":
        proper = _string(shape, name, world, surrogates=True)
    elif kind in ("integer", "long"):
        proper = st.integers(-10, 10_000) | st.sampled_from([2**31, 2**63, -(2**63) - 1])
    elif kind in ("float", "double", "timestamp"):
        proper = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-1, 2**40)
    elif kind == "boolean":
        proper = st.booleans()
    elif kind == "blob":
        proper = base64_texts()
    else:
        proper = st.none()
    return st.one_of(proper, proper, proper, wrong)


def query_input(shape: Any, prefix: str, world: World, depth: int = 0) -> st.SearchStrategy[dict[str, str]]:
    """Form fields for ``shape`` under ``prefix`` (the AWS query protocol's flattening)."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return st.just({})
        members = {
            m: query_input(s, f"{prefix}.{m}" if prefix else m, world, depth + 1)
            for m, s in shape.members.items()
        }
        required = {m: members[m] for m in shape.required_members}
        optional = {m: s for m, s in members.items() if m not in required}
        parts = st.fixed_dictionaries(required, optional=optional) | st.fixed_dictionaries(
            {}, optional=members
        )
        return parts.map(lambda found: {k: v for part in found.values() for k, v in part.items()})
    if kind == "list":
        return (
            st.integers(0, 2)
            .flatmap(
                lambda count: st.tuples(
                    *(
                        query_input(shape.member, f"{prefix}.member.{i + 1}", world, depth + 1)
                        for i in range(count)
                    )
                )
            )
            .map(lambda parts: {k: v for part in parts for k, v in part.items()})
        )
    if kind == "map":
        return st.just({})
    name = prefix.rsplit(".", 1)[-1]
    if kind in ("integer", "long"):
        value: st.SearchStrategy[str] = st.sampled_from(NUMERIC_TEXTS) | hostile_texts(surrogates=False)
    elif kind == "boolean":
        value = st.sampled_from(["true", "false", "TRUE", "yes", ""])
    else:
        value = _string(shape, name, world, surrogates=False)
    return value.map(lambda text: {prefix: text})
