"""IAM JSON policy documents: parsed once, validated strictly, then immutable.

Grammar from "IAM JSON policy element reference" and "Grammar of the IAM JSON policy
language": top-level ``Version``, ``Id``, ``Statement``; each statement ``Sid``,
``Effect``, ``Principal``/``NotPrincipal``, ``Action``/``NotAction``,
``Resource``/``NotResource``, ``Condition``. Anything else is refused, as IAM does.

Rules enforced (identity = attached to a user or role; resource = a repository or
registry policy):

* exactly one of ``Action``/``NotAction``;
* identity: exactly one of ``Resource``/``NotResource``, no ``Principal``;
* resource: at most one of ``Resource``/``NotResource`` (omitted = the resource the
  policy is attached to), exactly one of ``Principal``/``NotPrincipal``;
* ``NotPrincipal`` only with ``Deny`` ("AWS JSON policy elements: NotPrincipal":
  "Using it with Allow is not supported");
* ``Sid`` values unique within a document; no duplicate JSON keys.

A missing ``Version`` means ``2008-10-17``, in which ``${…}`` is plain text ("IAM JSON
policy elements: Version"). Account ids in ``{"AWS": …}`` normalise to
``arn:aws:iam::<id>:root``; ``Service``, ``Federated`` and ``CanonicalUser`` principals
are kept as written and match no Strongroom caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from strongroom.policy.conditions import ConditionClause, parse_condition
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.policy.patterns import Template
from strongroom.untrusted import InputRefused, read_json

VERSIONS = ("2012-10-17", "2008-10-17")
DEFAULT_VERSION = "2008-10-17"
_TOP_LEVEL_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_ACTION = re.compile(r"^[A-Za-z0-9-]+:[A-Za-z0-9*?_-]+$")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_PRINCIPAL_ARN = re.compile(
    r"^arn:aws[a-z-]*:(?:iam::[0-9]{12}:(?:root|user/.+|role/.+)|sts::[0-9]{12}:assumed-role/[^/]+/.+)$"
)
_OPAQUE_PRINCIPAL_TYPES = frozenset({"Service", "Federated", "CanonicalUser"})


class PolicyKind(StrEnum):
    IDENTITY = "identity"
    RESOURCE = "resource"


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


ENTITY_ARN = re.compile(
    r"^arn:aws:iam::(?P<account>[0-9]{12}):(?P<kind>user|role)(?P<path>/(?:.*/)?)(?P<name>[^/]+)$"
)
"""An IAM user's or role's ARN: a principal with a unique id of its own."""


@dataclass(frozen=True, slots=True)
class Principal:
    """``Principal`` or ``NotPrincipal`` (``negated``)."""

    negated: bool
    wildcard: bool  # "*" or {"AWS": "*"}: every authenticated caller
    arns: frozenset[str]  # normalised: account ids became root ARNs
    opaque: tuple[tuple[str, str], ...] = ()  # ("Service", "ecr.amazonaws.com"), …


@dataclass(frozen=True, slots=True)
class Actions:
    """``Action`` or ``NotAction`` (``negated``); patterns compare case-insensitively."""

    negated: bool
    patterns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resources:
    """``Resource`` or ``NotResource`` (``negated``); patterns may hold policy variables."""

    negated: bool
    patterns: tuple[Template, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    sid: str | None
    effect: Effect
    actions: Actions
    resources: Resources | None  # None: the resource the policy is attached to
    principal: Principal | None  # None in identity policies
    conditions: tuple[ConditionClause, ...] = ()


@dataclass(frozen=True, slots=True)
class Policy:
    kind: PolicyKind
    version: str
    id: str | None
    statements: tuple[Statement, ...]
    principal_ids: Mapping[str, str] | None = field(default=None, compare=False, hash=False)
    """For a stored resource or trust policy: the unique id of each IAM user and role it names,
    as they were when it was saved (IAM's rule: "if you delete the user and create a new one
    with the same name, the new user is not the one the policy names"). A named entity absent
    here matches nobody. ``None``: a document judged as written (a simulation), matched by ARN."""

    @property
    def named_entities(self) -> frozenset[str]:
        """The IAM users and roles its Principal and NotPrincipal elements name, by ARN."""
        return frozenset(
            arn
            for statement in self.statements
            if statement.principal is not None
            for arn in statement.principal.arns
            if ENTITY_ARN.match(arn)
        )

    def bound(self, principal_ids: Mapping[str, str]) -> Policy:
        """This policy, naming the entities that had these unique ids when it was saved."""
        return replace(self, principal_ids=dict(principal_ids))

    @classmethod
    def from_json(cls, text: str | bytes, kind: PolicyKind) -> Policy:
        try:
            raw = read_json(text)
        except InputRefused as exc:
            raise MalformedPolicyDocument(f"Syntax error in policy: {exc}") from None
        return parse_policy(raw, kind)


def parse_policy(raw: object, kind: PolicyKind) -> Policy:
    """Validate a decoded JSON document; raises MalformedPolicyDocument."""
    if not isinstance(raw, dict):
        raise MalformedPolicyDocument("Policy document must be a JSON object")
    for key in raw:
        if key not in _TOP_LEVEL_KEYS:
            raise MalformedPolicyDocument(f"Policy document has an unknown key {key!r}")
    version = raw.get("Version", DEFAULT_VERSION)
    if version not in VERSIONS:
        raise MalformedPolicyDocument(f'Version must be "2012-10-17" or "2008-10-17", not {version!r}')
    policy_id = raw.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise MalformedPolicyDocument("Id must be a string")
    statements = _statement_list(raw.get("Statement"))
    variables = version == "2012-10-17"
    parsed = tuple(_parse_statement(index, entry, kind, variables) for index, entry in enumerate(statements))
    _check_unique_sids(parsed)
    return Policy(kind, version, policy_id, parsed)


def _statement_list(raw: object) -> list[object]:
    if raw is None:
        raise MalformedPolicyDocument("Policy document must contain a Statement")
    entries = raw if isinstance(raw, list) else [raw]
    if not entries:
        raise MalformedPolicyDocument("Statement must contain at least one statement")
    return entries


def _where(index: int, sid: object) -> str:
    return f"Statement {index} (Sid {sid!r})" if isinstance(sid, str) else f"Statement {index}"


def _parse_statement(index: int, raw: object, kind: PolicyKind, variables: bool) -> Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicyDocument(f"Statement {index}: must be a JSON object")
    where = _where(index, raw.get("Sid"))
    try:
        return _statement_fields(index, raw, kind, variables)
    except MalformedPolicyDocument as exc:
        raise MalformedPolicyDocument(f"{where}: {exc.message}") from None


def _statement_fields(index: int, raw: Mapping[str, object], kind: PolicyKind, variables: bool) -> Statement:
    for key in raw:
        if key not in _STATEMENT_KEYS:
            raise MalformedPolicyDocument(f"unknown key {key!r}")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicyDocument("Sid must be a string")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyDocument('Effect must be "Allow" or "Deny"')
    return Statement(
        index=index,
        sid=sid,
        effect=Effect(effect),
        actions=_actions(raw),
        resources=_resources(raw, kind, variables),
        principal=_principal(raw, kind),
        conditions=parse_condition(raw["Condition"], variables=variables) if "Condition" in raw else (),
    )


def _one_of(raw: Mapping[str, object], name: str, *, required: str | None) -> tuple[str, object] | None:
    """The present one of ``name``/``Not<name>``; ``required`` says where both may not be absent."""
    present = [key for key in (name, f"Not{name}") if key in raw]
    if len(present) == 2:
        raise MalformedPolicyDocument(f"{name} and Not{name} are mutually exclusive")
    if not present:
        if required is not None:
            raise MalformedPolicyDocument(f"one of {name} or Not{name} is required{required}")
        return None
    return present[0], raw[present[0]]


def _strings(key: str, raw: object) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(item, str) for item in items):
        raise MalformedPolicyDocument(f"{key} must be a string or a non-empty list of strings")
    return [str(item) for item in items]


def _actions(raw: Mapping[str, object]) -> Actions:
    found = _one_of(raw, "Action", required="")
    assert found is not None
    key, value = found
    patterns = _strings(key, value)
    for pattern in patterns:
        if pattern != "*" and _ACTION.match(pattern) is None:
            raise MalformedPolicyDocument(
                f"{key} {pattern!r} must be \"*\" or start with a service prefix, like 'ecr:BatchGetImage'"
            )
    return Actions(negated=key == "NotAction", patterns=tuple(patterns))


def _resources(raw: Mapping[str, object], kind: PolicyKind, variables: bool) -> Resources | None:
    required = " in an identity policy" if kind is PolicyKind.IDENTITY else None
    found = _one_of(raw, "Resource", required=required)
    if found is None:
        return None
    key, value = found
    patterns = _strings(key, value)
    for pattern in patterns:
        if pattern != "*" and not pattern.startswith("arn:"):
            raise MalformedPolicyDocument(f'{key} {pattern!r} must be in ARN format or "*"')
    return Resources(key == "NotResource", tuple(Template.parse(p, variables=variables) for p in patterns))


def _principal(raw: Mapping[str, object], kind: PolicyKind) -> Principal | None:
    if kind is PolicyKind.IDENTITY:
        for key in ("Principal", "NotPrincipal"):
            if key in raw:
                raise MalformedPolicyDocument(f"{key} is not allowed in an identity policy")
        return None
    found = _one_of(raw, "Principal", required=" in a resource policy")
    assert found is not None
    key, value = found
    negated = key == "NotPrincipal"
    if negated and raw.get("Effect") != "Deny":
        raise MalformedPolicyDocument('NotPrincipal must be used with "Effect": "Deny"')
    if value == "*":
        return Principal(negated, wildcard=True, arns=frozenset())
    if not isinstance(value, dict) or not value:
        raise MalformedPolicyDocument(f'{key} must be "*" or an object such as {{"AWS": "123456789012"}}')
    return _principal_object(key, negated, value)


def _principal_object(key: str, negated: bool, value: Mapping[str, object]) -> Principal:
    wildcard = False
    arns: set[str] = set()
    opaque: list[tuple[str, str]] = []
    for principal_type, names in value.items():
        entries = _strings(f"{key} {principal_type!r}", names)
        if principal_type in _OPAQUE_PRINCIPAL_TYPES:
            opaque.extend((principal_type, entry) for entry in entries)
        elif principal_type == "AWS":
            for entry in entries:
                wildcard = wildcard or entry == "*"
                if entry != "*":
                    arns.add(_aws_principal(key, entry))
        else:
            raise MalformedPolicyDocument(f"{key} has an unknown principal type {principal_type!r}")
    return Principal(negated, wildcard, frozenset(arns), tuple(opaque))


def _aws_principal(key: str, entry: str) -> str:
    if _ACCOUNT_ID.match(entry):
        return f"arn:aws:iam::{entry}:root"
    if _PRINCIPAL_ARN.match(entry) is None or "*" in entry or "?" in entry:
        raise MalformedPolicyDocument(f'invalid principal in {key}: "AWS": {entry!r}')
    return entry


def _check_unique_sids(statements: tuple[Statement, ...]) -> None:
    seen: set[str] = set()
    for statement in statements:
        if statement.sid is None or statement.sid == "":
            continue
        if statement.sid in seen:
            raise MalformedPolicyDocument(
                f"{_where(statement.index, statement.sid)}: Sid {statement.sid!r} is not unique in the policy"
            )
        seen.add(statement.sid)
