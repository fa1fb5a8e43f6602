"""Condition operators and their evaluation against a request context.

Sources (IAM User Guide): "IAM JSON policy elements: Condition operators" and
"Conditions with multiple context keys or values". Semantics implemented:

* Several operators in one ``Condition`` are AND'ed; several keys under one operator
  are AND'ed; several values for one key are OR'ed (NOR'ed for a negated operator:
  ``StringNotEquals`` holds when the request value equals none of them).
* Missing key — "If the key that you specify in a policy condition is not present in
  the request context, the values do not match and the condition is false. If the
  policy condition requires that the key is not matched, such as StringNotLike or
  ArnNotLike, and the right key is not present, the condition is true."
  So: positive operators → false; negated operators (``…Not…``, ``NotIpAddress``) →
  true; ``…IfExists`` → true; ``ForAllValues:`` → true; ``ForAnyValue:`` → false;
  ``Null`` tests exactly that presence. An empty list counts as absent.
* ``ForAllValues:`` holds when every request value passes; ``ForAnyValue:`` when at
  least one does. Without a qualifier, a multivalued key passes a positive operator
  when any value matches and a negated one when no value matches.
* Key names are case-insensitive; values are case-sensitive except ``…IgnoreCase``
  (and ``Bool``, whose ``true``/``false`` are read case-insensitively).
* Policy variables are substituted in String, ARN and Bool operators only, as the
  guide lists; Numeric, Date and IP values are literal and checked when parsed.
* Request values that do not parse (a date that is not a date) match nothing.
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from strongroom.policy.context import Context
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.policy.patterns import Resolved, Template

Compare = Callable[[str, Resolved], bool]
Order = Callable[[Decimal, Decimal], bool]


class Qualifier(StrEnum):
    """Set operators for multivalued keys."""

    FOR_ANY_VALUE = "ForAnyValue"
    FOR_ALL_VALUES = "ForAllValues"


@dataclass(frozen=True, slots=True)
class Family:
    """One base operator: how a request value compares with one policy value."""

    name: str
    compare: Compare
    negated: bool = False
    variables: bool = True
    check: Callable[[str], object] | None = None  # parses a policy value; raises ValueError


def _number(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a number")
    return value


def _date(text: str) -> datetime:
    """ISO 8601 (``2026-01-31T12:00:00Z``, ``2026-01-31``) or epoch seconds."""
    try:
        return datetime.fromtimestamp(float(_number(text)), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or epoch seconds") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _instant(text: str) -> Decimal:
    """A date as epoch seconds, so dates compare like numbers."""
    return Decimal(str(_date(text).timestamp()))


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError(f"{text!r} is not true or false")
    return text.lower() == "true"


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or CIDR block") from None


def _ordered(parse: Callable[[str], Decimal], order: Order) -> Compare:
    def compare(request_value: str, policy_value: Resolved) -> bool:
        try:
            return order(parse(request_value), parse(policy_value.text))
        except ValueError:
            return False

    return compare


def _in_network(request_value: str, policy_value: Resolved) -> bool:
    try:
        return ipaddress.ip_address(request_value.strip()) in _network(policy_value.text)
    except ValueError:
        return False


def _string_equals(request_value: str, policy_value: Resolved) -> bool:
    return request_value == policy_value.text


def _string_equals_ignore_case(request_value: str, policy_value: Resolved) -> bool:
    return request_value.casefold() == policy_value.text.casefold()


def _string_like(request_value: str, policy_value: Resolved) -> bool:
    return policy_value.like(request_value)


def _arn_like(request_value: str, policy_value: Resolved) -> bool:
    return policy_value.arn_like(request_value)


def _bool_equals(request_value: str, policy_value: Resolved) -> bool:
    return request_value.lower() == policy_value.text.lower()


_ORDERS: Mapping[str, Order] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "LessThanEquals": operator.le,
    "GreaterThan": operator.gt,
    "GreaterThanEquals": operator.ge,
}


def _families() -> dict[str, Family]:
    families = [
        Family("StringEquals", _string_equals),
        Family("StringNotEquals", _string_equals, negated=True),
        Family("StringEqualsIgnoreCase", _string_equals_ignore_case),
        Family("StringNotEqualsIgnoreCase", _string_equals_ignore_case, negated=True),
        Family("StringLike", _string_like),
        Family("StringNotLike", _string_like, negated=True),
        # ArnEquals and ArnLike are the same operator in IAM: both take wildcards.
        Family("ArnEquals", _arn_like),
        Family("ArnLike", _arn_like),
        Family("ArnNotEquals", _arn_like, negated=True),
        Family("ArnNotLike", _arn_like, negated=True),
        Family("Bool", _bool_equals, check=_bool),
        Family("IpAddress", _in_network, variables=False, check=_network),
        Family("NotIpAddress", _in_network, negated=True, variables=False, check=_network),
    ]
    for kind, parse in (("Numeric", _number), ("Date", _instant)):
        for suffix, order in _ORDERS.items():
            families.append(Family(kind + suffix, _ordered(parse, order), variables=False, check=parse))
        not_equals = _ordered(parse, operator.eq)
        families.append(Family(f"{kind}NotEquals", not_equals, negated=True, variables=False, check=parse))
    return {family.name: family for family in families}


FAMILIES: Mapping[str, Family] = _families()
NULL = "Null"


@dataclass(frozen=True, slots=True)
class Operator:
    """A condition operator as written: ``[qualifier:]family[IfExists]`` or ``Null``."""

    name: str
    family: Family | None  # None for Null
    qualifier: Qualifier | None = None
    if_exists: bool = False

    @classmethod
    def parse(cls, name: str) -> Operator:
        if name == NULL:
            return cls(name, None)
        qualifier: Qualifier | None = None
        prefix, sep, rest = name.partition(":")
        if sep:
            try:
                qualifier = Qualifier(prefix)
            except ValueError:
                raise MalformedPolicyDocument(f"unknown condition operator {name!r}") from None
        else:
            rest = name
        base = rest.removesuffix("IfExists")
        family = FAMILIES.get(base)
        if family is None:
            raise MalformedPolicyDocument(f"unknown condition operator {name!r}")
        return cls(name, family, qualifier, if_exists=base != rest)


@dataclass(frozen=True, slots=True)
class ConditionClause:
    """One operator applied to one key: ``{"StringEquals": {"aws:username": ["a", "b"]}}``."""

    operator: Operator
    key: str
    values: tuple[Template, ...]

    def holds(self, context: Context) -> bool:
        present = context.get(self.key)
        family = self.operator.family
        if family is None:
            return any((value.source.lower() == "true") != bool(present) for value in self.values)
        if not present:
            return self._when_absent(family)
        resolved = [r for r in (value.resolve(context) for value in self.values) if r is not None]

        def matches(request_value: str) -> bool:
            return any(family.compare(request_value, policy_value) for policy_value in resolved)

        def passes(request_value: str) -> bool:
            return matches(request_value) != family.negated

        if self.operator.qualifier is Qualifier.FOR_ALL_VALUES:
            return all(passes(value) for value in present)
        if self.operator.qualifier is Qualifier.FOR_ANY_VALUE:
            return any(passes(value) for value in present)
        return any(matches(value) for value in present) != family.negated

    def _when_absent(self, family: Family) -> bool:
        if self.operator.if_exists:
            return True
        if self.operator.qualifier is not None:
            return self.operator.qualifier is Qualifier.FOR_ALL_VALUES
        return family.negated


def conditions_hold(clauses: tuple[ConditionClause, ...], context: Context) -> bool:
    """Every clause holds (operators and keys are AND'ed)."""
    return all(clause.holds(context) for clause in clauses)


def parse_condition(raw: object, *, variables: bool) -> tuple[ConditionClause, ...]:
    """Parse a ``Condition`` element; raises MalformedPolicyDocument without a location."""
    if not isinstance(raw, dict) or not raw:
        raise MalformedPolicyDocument("Condition must be a non-empty object of condition operators")
    clauses: list[ConditionClause] = []
    for name, block in raw.items():
        op = Operator.parse(name)
        if not isinstance(block, dict) or not block:
            raise MalformedPolicyDocument(f"Condition {name!r} must map condition keys to values")
        for key, value in block.items():
            templates = tuple(_template(op, name, key, text, variables) for text in _values(name, key, value))
            clauses.append(ConditionClause(op, key, templates))
    return tuple(clauses)


def _values(name: str, key: str, raw: object) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise MalformedPolicyDocument(f"Condition {name!r} key {key!r} has no values")
    texts: list[str] = []
    for item in items:
        if isinstance(item, bool):
            texts.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            texts.append(str(item))
        else:
            raise MalformedPolicyDocument(
                f"Condition {name!r} key {key!r}: values must be strings, numbers or booleans"
            )
    return texts


def _template(op: Operator, name: str, key: str, text: str, variables: bool) -> Template:
    family = op.family
    template = Template.parse(text, variables=variables and family is not None and family.variables)
    check = _bool if family is None else family.check
    if check is not None and not template.has_variables:
        try:
            check(text)
        except ValueError as exc:
            raise MalformedPolicyDocument(f"Condition {name!r} key {key!r}: {exc}") from None
    return template
