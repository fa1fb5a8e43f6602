"""The request context: condition keys and their values, as a policy sees them.

IAM JSON policy elements: Condition — "Condition key names are not case-sensitive";
values are. A key holds one string or a list of strings (multivalued keys such as
``aws:TagKeys``). An absent key and an empty list are the same thing to every operator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ContextValue = str | Sequence[str]


@dataclass(frozen=True, slots=True)
class Context:
    """Condition keys (lower-cased) → their values; built once per request."""

    values_by_key: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, values: Mapping[str, ContextValue]) -> Context:
        normalised: dict[str, tuple[str, ...]] = {}
        for key, value in values.items():
            normalised[key.lower()] = (value,) if isinstance(value, str) else tuple(value)
        return cls(normalised)

    def get(self, key: str) -> tuple[str, ...]:
        """The key's values; empty when the key is absent."""
        return self.values_by_key.get(key.lower(), ())

    def single(self, key: str) -> str | None:
        """The key's value when it holds exactly one, as a policy variable needs."""
        found = self.get(key)
        return found[0] if len(found) == 1 else None
