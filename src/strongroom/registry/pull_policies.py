"""Pull policies and accepted risks as operators manage them (``strongroom repo
set-pull-policy``, ``strongroom scan accept``, ``/admin/v1/pull-policies`` and
``/admin/v1/accepted-risks``). Every change is audited here, with what it changed and who
did it, whichever front door asked; the gate that applies them is :mod:`.pull_gate`.

Everything acts within one account: the caller's. Another account's policy or entry is
not found, whatever the caller's policy allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from strongroom.analysis.severity import Severity
from strongroom.audit.log import AuditEvent, AuditLog, JsonValue
from strongroom.clock import Clock, IdFactory
from strongroom.errors import InvalidRequest, NotFound
from strongroom.metadata.pull_policies import (
    PREFIX,
    REPOSITORY,
    SqlPullPolicyStore,
    StoredAcceptedRisk,
    StoredPullPolicy,
)
from strongroom.oci.digest import Digest
from strongroom.oci.names import validate_name
from strongroom.registry.pull_gate import most_specific

__all__ = ["PREFIX", "REPOSITORY", "Actor", "PullPolicies", "expiry_of", "policy_document", "risk_document"]

MAX_PREFIX = 256
MAX_REASON = 1000
MAX_ACCEPTANCE = timedelta(days=366)
"""An accepted risk must end: at most a year ahead (accept again to extend)."""
_FINDING_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,254}$")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes a policy or an entry, for the audit log."""

    principal: str
    source_ip: str | None = None


class PullPolicyNotFound(NotFound):
    pass


class AcceptedRiskNotFound(NotFound):
    pass


def severity(text: str | None, field: str) -> str | None:
    if text is None:
        return None
    try:
        return str(Severity(text.upper()))
    except ValueError:
        raise InvalidRequest(f"{field} is one of {', '.join(Severity)}") from None


def validate_scope(scope: str, name: str) -> None:
    if scope == REPOSITORY:
        validate_name(name)
    elif scope == PREFIX:
        if len(name) > MAX_PREFIX:
            raise InvalidRequest(f"a prefix is at most {MAX_PREFIX} characters")
    else:
        raise InvalidRequest("scope is repository or prefix")


class PullPolicies:
    def __init__(
        self, store: SqlPullPolicyStore, audit: AuditLog, clock: Clock, ids: IdFactory, region: str
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._ids = ids
        self._region = region

    # policies

    async def put(
        self,
        account_id: str,
        scope: str,
        name: str,
        *,
        max_severity: str | None,
        unsafe_model_severity: str | None,
        block_unscanned: bool,
        actor: Actor,
    ) -> StoredPullPolicy:
        validate_scope(scope, name)
        policy = StoredPullPolicy(
            account_id,
            scope,
            name,
            severity(max_severity, "maxSeverity"),
            severity(unsafe_model_severity, "unsafeModelSeverity"),
            block_unscanned,
            actor.principal,
            self._clock.now(),
        )
        if policy.max_severity is None and policy.unsafe_model_severity is None and not block_unscanned:
            raise InvalidRequest(
                "a pull policy refuses something: give a severity, unsafe models or unscanned"
            )
        await self._store.put_policy(policy)
        await self._record(
            actor, "strongroom:PutPullPolicy", account_id, scope, name, policy=policy_document(policy)
        )
        return policy

    async def delete(self, account_id: str, scope: str, name: str, actor: Actor) -> None:
        validate_scope(scope, name)
        if not await self._store.delete_policy(account_id, scope, name):
            raise PullPolicyNotFound(f"no pull policy for the {scope} {name!r}")
        await self._record(actor, "strongroom:DeletePullPolicy", account_id, scope, name)

    async def describe(self, account_id: str, scope: str, name: str) -> StoredPullPolicy:
        """A prefix's own policy; for a repository, the policy that applies to it (its own,
        else the longest prefix covering it)."""
        validate_scope(scope, name)
        if scope == PREFIX:
            found = await self._store.policy(account_id, PREFIX, name)
        else:
            found = most_specific(await self._store.policies_for(account_id, name))
        if found is None:
            raise PullPolicyNotFound(f"no pull policy applies to the {scope} {name!r}")
        return found

    async def page(
        self, account_id: str, *, after: tuple[str, str] | None, limit: int
    ) -> list[StoredPullPolicy]:
        return await self._store.list_policies(account_id, after=after, limit=limit)

    # accepted risks

    async def accept(
        self,
        account_id: str,
        repository: str,
        finding_id: str,
        *,
        reason: str,
        expires_at: datetime,
        image_digest: str | None,
        actor: Actor,
    ) -> StoredAcceptedRisk:
        validate_name(repository)
        if not _FINDING_ID.match(finding_id):
            raise InvalidRequest("findingId is a finding's name (a CVE id, a model rule), alias or key")
        if not reason.strip() or len(reason) > MAX_REASON:
            raise InvalidRequest(f"reason is required, at most {MAX_REASON} characters")
        if image_digest is not None:
            image_digest = str(Digest.parse(image_digest))
        now = self._clock.now()
        if expires_at.tzinfo is None:
            raise InvalidRequest("expiresAt needs a time zone")
        if not now < expires_at <= now + MAX_ACCEPTANCE:
            raise InvalidRequest("the expiry must be in the future, at most 366 days ahead")
        risk = StoredAcceptedRisk(
            "ar-" + self._ids.new_id()[:24], account_id, repository, finding_id, image_digest, reason,
            actor.principal, now, expires_at,
        )  # fmt: skip
        await self._store.accept(risk)
        await self._record(actor, "strongroom:AcceptFindingRisk", account_id, REPOSITORY, repository,
                           acceptedRisk=risk_document(risk, now))  # fmt: skip
        return risk

    async def revoke(
        self, account_id: str, repository: str, risk_id: str, actor: Actor
    ) -> StoredAcceptedRisk:
        validate_name(repository)
        revoked = await self._store.revoke(account_id, repository, risk_id[:32])
        if revoked is None:
            raise AcceptedRiskNotFound(f"no accepted risk {risk_id[:32]!r} in {repository!r}")
        await self._record(
            actor, "strongroom:RevokeFindingRisk", account_id, REPOSITORY, revoked.repository_name,
            acceptedRisk=risk_document(revoked, self._clock.now()),
        )  # fmt: skip
        return revoked

    async def accepted(
        self, account_id: str, repository: str | None, *, include_expired: bool, after: str | None, limit: int
    ) -> list[StoredAcceptedRisk]:
        if repository is not None:
            validate_name(repository)
        active_at = None if include_expired else self._clock.now()
        return await self._store.accepted(
            account_id, repository, active_at=active_at, after=after, limit=limit
        )

    def now(self) -> datetime:
        return self._clock.now()

    async def _record(
        self, actor: Actor, action: str, account_id: str, scope: str, name: str, **detail: JsonValue
    ) -> None:
        resource = (
            f"arn:aws:ecr:{self._region}:{account_id}:repository/{name}{'*' if scope == PREFIX else ''}"
        )
        event = AuditEvent(
            self._clock.now(), actor.principal, action, resource, actor.source_ip, "allow", detail
        )
        await self._audit.record(event)


def expiry_of(text: str, now: datetime) -> datetime:
    """``30d``, ``12h`` (from ``now``) or an ISO 8601 time with a zone."""
    if 1 < len(text) <= 5 and text[:-1].isdigit() and text[-1] in "hd":
        return now + timedelta(**{"hours" if text[-1] == "h" else "days": int(text[:-1])})
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest("an expiry is a duration such as 30d or 12h, or an ISO 8601 time") from None


def policy_document(policy: StoredPullPolicy) -> dict[str, Any]:
    return {
        "scope": policy.scope,
        "name": policy.name,
        "maxSeverity": policy.max_severity,
        "unsafeModelSeverity": policy.unsafe_model_severity,
        "blockUnscanned": policy.block_unscanned,
        "updatedBy": policy.updated_by,
        "updatedAt": policy.updated_at.isoformat(),
    }


def risk_document(risk: StoredAcceptedRisk, now: datetime) -> dict[str, Any]:
    return {
        "id": risk.id,
        "repository": risk.repository_name,
        "findingId": risk.finding_id,
        "imageDigest": risk.image_digest,
        "reason": risk.reason,
        "acceptedBy": risk.accepted_by,
        "acceptedAt": risk.accepted_at.isoformat(),
        "expiresAt": risk.expires_at.isoformat(),
        "expired": now >= risk.expires_at,
    }
