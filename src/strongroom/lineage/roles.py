"""Repository roles in the image hierarchy: public → base → framework → application.

A repository's role is its resource tag ``strongroom:role`` (set by ``strongroom lineage
set-role`` or by ECR ``TagResource``; read by ``ListTagsForResource``), so one value has
one home and every tool that reads resource tags sees it.
"""

from __future__ import annotations

ROLE_TAG = "strongroom:role"
PUBLIC, BASE, FRAMEWORK, APPLICATION = "public", "base", "framework", "application"
ROLES = (PUBLIC, BASE, FRAMEWORK, APPLICATION)

PARENT_PREFERENCE = {BASE: 0, FRAMEWORK: 1, PUBLIC: 2, APPLICATION: 3}
"""Among equally long candidate parents, which role wins (a base first, as bases are what
images are built on); a repository without a role comes last."""


def role_of(value: str | None) -> str | None:
    """The role a tag value names (case-insensitive), or None when it names none."""
    if value is None:
        return None
    lowered = value.strip().lower()
    return lowered if lowered in ROLES else None


def parse_role(value: str) -> str:
    role = role_of(value)
    if role is None:
        raise ValueError(f"role is one of {', '.join(ROLES)}")
    return role
