"""What a policy is attached to: identity (a user or role), a repository, the registry,
or a role's trust. Parsing needs only identity versus resource (:class:`PolicyKind`);
the checks in :mod:`strongroom.policy.findings` need the finer type."""

from __future__ import annotations

import json
from enum import StrEnum

from strongroom.policy.document import PolicyKind


class PolicyType(StrEnum):
    """What a policy is attached to, which decides what it may say and mean."""

    IDENTITY = "identity"
    RESOURCE = "resource"
    """A repository policy."""
    REGISTRY = "registry"
    TRUST = "trust"
    """A role's trust policy (AssumeRolePolicyDocument)."""

    @property
    def kind(self) -> PolicyKind:
        return PolicyKind.IDENTITY if self is PolicyType.IDENTITY else PolicyKind.RESOURCE


def detect_type(text: str | bytes) -> PolicyType:
    """The likeliest type of a document: no Principal → identity; only ``sts:`` actions →
    trust; a Resource element (registry policies name repositories) → registry; otherwise
    a repository policy. A document that does not parse is called identity; parsing it
    then says what is wrong."""
    try:
        raw = json.loads(text)
    except ValueError:
        return PolicyType.IDENTITY
    entries = raw.get("Statement") if isinstance(raw, dict) else None
    statements = [s for s in (entries if isinstance(entries, list) else [entries]) if isinstance(s, dict)]
    if not any("Principal" in s or "NotPrincipal" in s for s in statements):
        return PolicyType.IDENTITY
    actions = [a for s in statements for a in _as_list(s.get("Action", s.get("NotAction")))]
    if actions and all(isinstance(a, str) and a.lower().startswith("sts:") for a in actions):
        return PolicyType.TRUST
    if any("Resource" in s or "NotResource" in s for s in statements):
        return PolicyType.REGISTRY
    return PolicyType.RESOURCE


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]
