"""What an IAM or STS operation declares, what its handler gets, and what handlers share:
the resource ARNs actions are authorized on, policy-document encoding and paging.

Resources name users as ``arn:aws:iam::<account>:user/<name>`` and roles as
``arn:aws:iam::<account>:role/<name>`` (without their path, which would cost a lookup
before authorization) and policies by their ARN.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import quote

from strongroom.api.iam.protocol import Params, Result, XmlValue
from strongroom.auth.authorizer import Authorizer
from strongroom.auth.iam_authorizer import PolicySource
from strongroom.auth.management import IdentityAdmin
from strongroom.auth.principals import Principal
from strongroom.errors import InvalidRequest

T = TypeVar("T")

MAX_ITEMS = 1000
DEFAULT_ITEMS = 100


@dataclass(frozen=True)
class Call:
    params: Params
    principal: Principal
    admin: IdentityAdmin
    """Acting as the caller: every change is audited under the caller's ARN."""
    authorizer: Authorizer
    """The server's authorizer, which simulations ask (never to authorize the call)."""
    policies: PolicySource
    """Where the authorizer reads policies: simulations show their texts."""
    context: Mapping[str, str | list[str]] = field(default_factory=dict)
    """The request's condition keys (``aws:SourceIp``…), for policies evaluated in use cases."""

    @property
    def account(self) -> str:
        return self.principal.account_id

    @property
    def user_name(self) -> str:
        """``UserName``, or the caller when it is absent (as IAM does for keys and GetUser)."""
        return self.params.optional("UserName") or self.principal.name


Handler = Callable[[Call], Awaitable[Result]]
ResourceOf = Callable[[Params, Principal], str]


@dataclass(frozen=True)
class Operation:
    service: str
    name: str
    action: str | None
    """The IAM action authorized; None: any authenticated caller (GetCallerIdentity)."""
    resource: ResourceOf
    handler: Handler


def iam(name: str, resource: ResourceOf, handler: Handler) -> Operation:
    """An IAM operation authorized as ``iam:<name>`` on ``resource``."""
    return Operation("iam", name, f"iam:{name}", resource, handler)


def table(*entries: Operation) -> dict[tuple[str, str], Operation]:
    """Operations keyed by (SigV4 service, Action)."""
    found = {(entry.service, entry.name): entry for entry in entries}
    assert len(found) == len(entries), "an operation is declared twice"
    return found


# resources


def named_user(params: Params, principal: Principal) -> str:
    return f"arn:aws:iam::{principal.account_id}:user/{params.required('UserName')}"


def user_or_caller(params: Params, principal: Principal) -> str:
    name = params.optional("UserName")
    return principal.arn if name is None else f"arn:aws:iam::{principal.account_id}:user/{name}"


def all_users(params: Params, principal: Principal) -> str:
    return f"arn:aws:iam::{principal.account_id}:user/*"


def named_role(params: Params, principal: Principal) -> str:
    return f"arn:aws:iam::{principal.account_id}:role/{params.required('RoleName')}"


def all_roles(params: Params, principal: Principal) -> str:
    return f"arn:aws:iam::{principal.account_id}:role/*"


def caller(params: Params, principal: Principal) -> str:
    return principal.arn


# shared rendering


def document(text: str) -> str:
    """IAM returns policy documents percent-encoded (RFC 3986); SDKs decode them."""
    return quote(text, safe="")


def paginate(
    items: Sequence[T], key: Callable[[T], str], params: Params
) -> tuple[list[T], dict[str, XmlValue]]:
    """One page after ``Marker``; the marker is opaque to clients (the last key, encoded)."""
    limit = params.integer("MaxItems", 1, MAX_ITEMS, DEFAULT_ITEMS)
    ordered = sorted(items, key=key)
    marker = params.optional("Marker")
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode("ascii")).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            raise InvalidRequest("Invalid Marker") from None
        ordered = [item for item in ordered if key(item) > after]
    shown = ordered[:limit]
    truncated = len(ordered) > limit
    next_marker = base64.urlsafe_b64encode(key(shown[-1]).encode()).decode() if truncated else None
    return shown, {"IsTruncated": truncated, "Marker": next_marker}
