"""What every identity use case shares: the stores, the clock, who acts and from where,
the audit record of each change, and the names, paths and conflicts IAM validates."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import TypeVar

from strongroom.audit.log import AuditEvent, AuditRecorder, JsonValue
from strongroom.auth.secretbox import SecretBox
from strongroom.clock import Clock
from strongroom.errors import Conflict, InvalidRequest, NotFound
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.registry.policy_review import PolicyReview

IAM_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
PATH = re.compile(r"^/([\x21-\x7e]{0,510}/)?$")
DESCRIPTION_MAX = 1000

T = TypeVar("T")


LOCAL_OPERATOR = "local-operator"
"""Who the administrative commands act as: whoever runs them on the server's store."""


class NoSuchEntity(NotFound):
    pass


class EntityAlreadyExists(Conflict):
    pass


class DeleteConflict(Conflict):
    pass


class LimitExceeded(Conflict):
    pass


async def as_conflict(error: type[Conflict], work: Awaitable[T]) -> T:
    """Name a store's :class:`Conflict` for what it means to the use case."""
    try:
        return await work
    except Conflict as conflict:
        raise error(conflict.message) from None


class AdminBase:
    def __init__(
        self,
        metadata: SqlMetadataStore,
        iam: SqlIamStore,
        secrets: SecretBox,
        clock: Clock,
        audit: AuditRecorder,
        actor: str = LOCAL_OPERATOR,
        review: PolicyReview | None = None,
        source_ip: str | None = None,
    ) -> None:
        self._review = review or PolicyReview()
        self._metadata = metadata
        self._iam = iam
        self._secrets = secrets
        self._clock = clock
        self._audit = audit
        self._actor = actor
        self._source_ip = source_ip

    async def _record(self, action: str, resource: str, **detail: JsonValue) -> None:
        """Every change is audited, as the operator who made it (DESIGN §10)."""
        event = AuditEvent(self._clock.now(), self._actor, action, resource, self._source_ip, "allow", detail)
        await self._audit.record(event)

    async def _account(self, account_id: str) -> None:
        if account_id not in {account.account_id for account in await self._metadata.list_accounts()}:
            raise NoSuchEntity(f"account {account_id} does not exist")


def check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if pattern.match(value) is None:
        raise InvalidRequest(f"invalid {what}: {value[:80]!r}")
