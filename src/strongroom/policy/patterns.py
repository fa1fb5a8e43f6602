"""Policy strings: wildcards, ARN patterns and policy variables.

Sources (IAM User Guide):

* "IAM JSON policy elements: Resource" / "Action" — ``*`` matches any run of
  characters, ``?`` any one character. Actions compare case-insensitively, resources
  case-sensitively.
* "IAM JSON policy elements: Condition operators", ARN operators — each of the six
  colon-separated components of an ARN is matched separately, so a wildcard in the
  region or account never spills into the next component. The last component
  (``repository/ml/model-a``) may itself hold colons and slashes.
* "IAM policy elements: Variables and tags" — ``${aws:username}`` is replaced by the
  request's value; ``${key, 'default'}`` supplies a default; ``${*}``, ``${?}`` and
  ``${$}`` stand for a literal ``*``, ``?`` and ``$``. Variables are recognised only
  in ``"Version": "2012-10-17"`` documents; older documents keep ``${…}`` as text.

Strongroom choices, stated: a pattern with fewer than five colons (``"*"``,
``"arn:aws:ecr:*"``) is matched as one whole string. A variable whose key is absent
(or multivalued) and has no default leaves its value unresolved: it matches nothing.
Substituted values are always literal — a ``*`` inside a user name is not a wildcard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from strongroom.policy.context import Context

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"^\s*([^\s,']+)\s*(?:,\s*'([^']*)'\s*)?$")
_ESCAPES = frozenset("*?$")
_ARN_COMPONENTS = 6


@dataclass(frozen=True, slots=True)
class Segment:
    """Text of a resolved pattern; in a ``wild`` segment ``*`` and ``?`` are wildcards."""

    text: str
    wild: bool


@dataclass(frozen=True, slots=True)
class Variable:
    """``${key}`` or ``${key, 'default'}``."""

    key: str
    default: str | None


@dataclass(frozen=True, slots=True)
class Resolved:
    """A policy string with its variables replaced for one request."""

    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return "".join(segment.text for segment in self.segments)

    def like(self, value: str, *, ignore_case: bool = False) -> bool:
        """Whole-string wildcard match (StringLike, Action)."""
        flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        return _compiled(self.segments, False, flags).fullmatch(value) is not None

    def arn_like(self, arn: str) -> bool:
        """Component-wise wildcard match (ArnLike, ArnEquals, Resource)."""
        per_component = self.text.count(":") >= _ARN_COMPONENTS - 1
        return _compiled(self.segments, per_component, re.DOTALL).fullmatch(arn) is not None


@dataclass(frozen=True, slots=True)
class Template:
    """A policy string as written, ready to resolve against a request context."""

    source: str
    parts: tuple[Segment | Variable, ...]

    @classmethod
    def parse(cls, text: str, *, variables: bool = True) -> Template:
        if not variables:
            return cls(text, (Segment(text, wild=True),))
        parts: list[Segment | Variable] = []
        position = 0
        for match in _VARIABLE.finditer(text):
            part = _variable_part(match.group(1))
            if part is None:
                continue  # not a variable: stays in the surrounding text
            if match.start() > position:
                parts.append(Segment(text[position : match.start()], wild=True))
            parts.append(part)
            position = match.end()
        if position < len(text) or not parts:
            parts.append(Segment(text[position:], wild=True))
        return cls(text, tuple(parts))

    @property
    def has_variables(self) -> bool:
        return any(isinstance(part, Variable) for part in self.parts)

    def resolve(self, context: Context) -> Resolved | None:
        """The string for this request, or None when a variable has no value."""
        segments: list[Segment] = []
        for part in self.parts:
            if isinstance(part, Segment):
                segments.append(part)
                continue
            value = context.single(part.key)
            if value is None:
                value = part.default
            if value is None:
                return None
            segments.append(Segment(value, wild=False))
        return Resolved(tuple(segments))


def literal(text: str) -> Resolved:
    """A pattern made of ``text`` with its wildcards active (no variables)."""
    return Resolved((Segment(text, wild=True),))


def _variable_part(body: str) -> Segment | Variable | None:
    if body in _ESCAPES:
        return Segment(body, wild=False)
    match = _VARIABLE_BODY.match(body)
    if match is None:
        return None
    return Variable(match.group(1), match.group(2))


@lru_cache(maxsize=8192)
def _compiled(segments: tuple[Segment, ...], per_component: bool, flags: int) -> re.Pattern[str]:
    """Patterns recur on every request (the same policies, mostly the same callers): build
    and compile each once per process, not once per comparison."""
    return re.compile(_regex(segments, per_component=per_component), flags)


def _regex(segments: tuple[Segment, ...], *, per_component: bool) -> str:
    out: list[str] = []
    colons = 0
    for segment in segments:
        for char in segment.text:
            bounded = per_component and colons < _ARN_COMPONENTS - 1
            if segment.wild and char == "*":
                out.append("[^:]*" if bounded else ".*")
            elif segment.wild and char == "?":
                out.append("[^:]" if bounded else ".")
            else:
                out.append(re.escape(char))
                colons += char == ":"
    return "".join(out)
