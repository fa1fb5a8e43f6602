"""Principals: who a request acts as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    name: str
    kind: Literal["user", "anonymous"]
    path: str = "/"
    unique_id: str = ""
    """IAM's unique id (``AIDA…``), the ``aws:userid`` condition key."""
    pk: int = 0
    """The row of the user in the IAM store."""

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def arn(self) -> str:
        if self.is_anonymous:
            return "*"
        return f"arn:aws:iam::{self.account_id}:user{self.path}{self.name}"


ANONYMOUS = Principal("", "anonymous", "anonymous")
