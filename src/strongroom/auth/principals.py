"""Principals: who a request acts as."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class RoleSession:
    """A session of a role, begun by AssumeRole: the role acts, named by the session."""

    role_name: str
    role_pk: int
    """The row of the role in the IAM store."""
    session_name: str
    role_path: str = "/"
    expires_at: datetime | None = None
    """When the session's credentials expire: nothing derived from them (a registry
    password, a bearer token) may outlive it."""


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    name: str
    """The user's name, or for a role session the role's."""
    kind: Literal["user", "assumed-role", "anonymous"]
    path: str = "/"
    unique_id: str = ""
    """IAM's unique id (``AIDA…``; ``AROA…:<session>`` for a role session), ``aws:userid``."""
    pk: int = 0
    """The row of the user (or, for a role session, of the role) in the IAM store."""
    session: RoleSession | None = None
    """Set exactly when ``kind`` is ``assumed-role``."""

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def arn(self) -> str:
        if self.is_anonymous:
            return "*"
        if self.session is not None:
            session = self.session
            return f"arn:aws:sts::{self.account_id}:assumed-role/{session.role_name}/{session.session_name}"
        return f"arn:aws:iam::{self.account_id}:user{self.path}{self.name}"

    @classmethod
    def assumed_role(cls, account_id: str, role_id: str, session: RoleSession) -> Principal:
        return cls(
            account_id, session.role_name, "assumed-role", session.role_path,
            f"{role_id}:{session.session_name}", session.role_pk, session,
        )  # fmt: skip


ANONYMOUS = Principal("", "anonymous", "anonymous")
