"""Repository names, tags and repository references (distribution-spec §1, DESIGN §10)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from strongroom.errors import NameInvalid, TagInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")

# Clients cap `host[:port]/name` at 255 characters; leave room for the host.
MAX_NAME_LENGTH = 200


def is_account_id(text: str) -> bool:
    return _ACCOUNT_ID.match(text) is not None


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or _NAME.match(name) is None:
        raise NameInvalid(f"invalid repository name: {name[:MAX_NAME_LENGTH]!r}")
    return name


def is_tag(text: str) -> bool:
    return _TAG.match(text) is not None


def validate_tag(tag: str) -> str:
    if not is_tag(tag):
        raise TagInvalid(f"invalid tag: {tag[:200]!r}")
    return tag


@dataclass(frozen=True, slots=True)
class RepositoryRef:
    """A repository of one account.

    In ``/v2/`` paths a 12-digit first component names the account
    (``/v2/123456789012/team/model``); without it the default account is meant.
    ``path`` is the form used in URLs, token scopes and repository URIs.
    """

    account_id: str
    name: str
    path: str

    @classmethod
    def parse(cls, path: str, default_account_id: str) -> RepositoryRef:
        first, sep, rest = path.partition("/")
        if is_account_id(first):
            if not sep:
                raise NameInvalid(f"repository name missing after account id {first}")
            return cls(first, validate_name(rest), path)
        return cls(default_account_id, validate_name(path), path)

    def arn(self, region: str) -> str:
        return f"arn:aws:ecr:{region}:{self.account_id}:repository/{self.name}"
