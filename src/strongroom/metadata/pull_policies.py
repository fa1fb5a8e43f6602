"""Pull policies and accepted risks on SQL (SQLite or PostgreSQL).

A policy is stored per account under a scope, ``repository`` (one repository by name) or
``prefix`` (every repository whose name starts with it); which one applies to a pull is
decided above the store (:mod:`strongroom.registry.pull_gate`). An accepted risk names a
finding in one repository, optionally one image, until it expires; revoking deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from strongroom.metadata.database import Database
from strongroom.metadata.scans import StoredFinding, read_gate_scan
from strongroom.metadata.schema import accepted_risks, pull_policies

REPOSITORY = "repository"
PREFIX = "prefix"


@dataclass(frozen=True, slots=True)
class StoredPullPolicy:
    account_id: str
    scope: str
    name: str
    max_severity: str | None
    unsafe_model_severity: str | None
    block_unscanned: bool
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredAcceptedRisk:
    id: str
    account_id: str
    repository_name: str
    finding_id: str
    image_digest: str | None
    reason: str
    accepted_by: str
    accepted_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class GateFacts:
    """What the pull gate reads for one pull, in one transaction."""

    policies: list[StoredPullPolicy]
    """The repository's own policy and the prefixes covering it; empty: nothing more read."""
    scan_status: str | None = None
    findings: list[StoredFinding] = field(default_factory=list)
    accepted: list[StoredAcceptedRisk] = field(default_factory=list)


class SqlPullPolicyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # policies

    async def put_policy(self, policy: StoredPullPolicy) -> None:
        """Create or replace the policy of (account, scope, name)."""
        values = {
            "max_severity": policy.max_severity,
            "unsafe_model_severity": policy.unsafe_model_severity,
            "block_unscanned": policy.block_unscanned,
            "updated_by": policy.updated_by,
            "updated_at": policy.updated_at,
        }

        def work() -> None:
            with self._db.writing() as conn:
                statement = self._db.insert(pull_policies).values(
                    account_id=policy.account_id, scope=policy.scope, name=policy.name, **values
                )
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[
                            pull_policies.c.account_id,
                            pull_policies.c.scope,
                            pull_policies.c.name,
                        ],
                        set_=values,
                    )
                )

        await self._db.write(work)

    async def delete_policy(self, account_id: str, scope: str, name: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                result = conn.execute(pull_policies.delete().where(*_policy(account_id, scope, name)))
                return result.rowcount > 0

        return await self._db.write(work)

    async def policy(self, account_id: str, scope: str, name: str) -> StoredPullPolicy | None:
        def work() -> StoredPullPolicy | None:
            with self._db.reading() as conn:
                row = conn.execute(sa.select(pull_policies).where(*_policy(account_id, scope, name))).first()
            return None if row is None else _policy_of(row)

        return await self._db.run(work)

    async def policies_for(self, account_id: str, repository_name: str) -> list[StoredPullPolicy]:
        """The repository's own policy and every prefix policy that covers its name."""

        def work() -> list[StoredPullPolicy]:
            with self._db.reading() as conn:
                return _policies_for(conn, account_id, repository_name)

        return await self._db.run(work)

    async def gate_facts(
        self,
        account_id: str,
        repository_name: str,
        repository_id: int,
        digest: str,
        now: datetime,
        limit: int,
    ) -> GateFacts:
        """The policies that may apply and, when one does, the image's last scan status,
        its open findings (the first ``limit``) and the repository's active accepted risks:
        one transaction, one trip to the database's thread."""

        def work() -> GateFacts:
            with self._db.reading() as conn:
                policies = _policies_for(conn, account_id, repository_name)
                if not policies:
                    return GateFacts([])
                status, findings = read_gate_scan(conn, repository_id, digest, limit)
                rows = conn.execute(
                    _ACTIVE_RISKS, {"account_id": account_id, "repository_name": repository_name, "now": now}
                ).all()
            return GateFacts(policies, status, findings, [_risk_of(row) for row in rows])

        return await self._db.run(work)

    async def list_policies(
        self, account_id: str, *, after: tuple[str, str] | None = None, limit: int = 100
    ) -> list[StoredPullPolicy]:
        """A page of the account's policies in (scope, name) order, after ``after``."""

        def work() -> list[StoredPullPolicy]:
            query = sa.select(pull_policies).where(pull_policies.c.account_id == account_id)
            if after is not None:
                query = query.where(
                    sa.tuple_(pull_policies.c.scope, pull_policies.c.name) > sa.tuple_(*after)
                )
            query = query.order_by(pull_policies.c.scope, pull_policies.c.name).limit(limit)
            with self._db.reading() as conn:
                return [_policy_of(row) for row in conn.execute(query)]

        return await self._db.run(work)

    # accepted risks

    async def accept(self, risk: StoredAcceptedRisk) -> None:
        def work() -> None:
            with self._db.writing() as conn:
                conn.execute(
                    accepted_risks.insert().values(
                        id=risk.id,
                        account_id=risk.account_id,
                        repository_name=risk.repository_name,
                        finding_id=risk.finding_id,
                        image_digest=risk.image_digest,
                        reason=risk.reason,
                        accepted_by=risk.accepted_by,
                        accepted_at=risk.accepted_at,
                        expires_at=risk.expires_at,
                    )
                )

        await self._db.write(work)

    async def revoke(self, account_id: str, repository_name: str, risk_id: str) -> StoredAcceptedRisk | None:
        """Delete the entry of this account and repository; what it was, or None."""

        def work() -> StoredAcceptedRisk | None:
            with self._db.writing() as conn:
                mine = (
                    accepted_risks.c.account_id == account_id,
                    accepted_risks.c.repository_name == repository_name,
                    accepted_risks.c.id == risk_id,
                )
                row = conn.execute(sa.select(accepted_risks).where(*mine)).first()
                if row is None:
                    return None
                conn.execute(accepted_risks.delete().where(*mine))
                return _risk_of(row)

        return await self._db.write(work)

    async def accepted(
        self,
        account_id: str,
        repository_name: str | None = None,
        *,
        active_at: datetime | None = None,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[StoredAcceptedRisk]:
        """A page of the account's entries (of one repository if named) in id order; with
        ``active_at`` only those that have not expired then."""

        def work() -> list[StoredAcceptedRisk]:
            query = sa.select(accepted_risks).where(accepted_risks.c.account_id == account_id)
            if repository_name is not None:
                query = query.where(accepted_risks.c.repository_name == repository_name)
            if active_at is not None:
                query = query.where(accepted_risks.c.expires_at > active_at)
            if after is not None:
                query = query.where(accepted_risks.c.id > after)
            with self._db.reading() as conn:
                rows = conn.execute(query.order_by(accepted_risks.c.id).limit(limit)).all()
            return [_risk_of(row) for row in rows]

        return await self._db.run(work)


# Built once: the gate runs them on every pull of an account with a pull policy.
_POLICIES_FOR = sa.select(pull_policies).where(
    pull_policies.c.account_id == sa.bindparam("account_id"),
    sa.or_(
        sa.and_(pull_policies.c.scope == REPOSITORY, pull_policies.c.name == sa.bindparam("name")),
        pull_policies.c.scope == PREFIX,
    ),
)
_ACTIVE_RISKS = sa.select(accepted_risks).where(
    accepted_risks.c.account_id == sa.bindparam("account_id"),
    accepted_risks.c.repository_name == sa.bindparam("repository_name"),
    accepted_risks.c.expires_at > sa.bindparam("now", type_=accepted_risks.c.expires_at.type),
)


def _policies_for(conn: sa.Connection, account_id: str, repository_name: str) -> list[StoredPullPolicy]:
    rows = conn.execute(_POLICIES_FOR, {"account_id": account_id, "name": repository_name}).all()
    found = [_policy_of(row) for row in rows]
    return [p for p in found if p.scope == REPOSITORY or repository_name.startswith(p.name)]


def _policy(account_id: str, scope: str, name: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        pull_policies.c.account_id == account_id,
        pull_policies.c.scope == scope,
        pull_policies.c.name == name,
    )


def _policy_of(row: sa.Row[Any]) -> StoredPullPolicy:
    return StoredPullPolicy(
        row.account_id,
        row.scope,
        row.name,
        row.max_severity,
        row.unsafe_model_severity,
        bool(row.block_unscanned),
        row.updated_by,
        row.updated_at,
    )


def _risk_of(row: sa.Row[Any]) -> StoredAcceptedRisk:
    return StoredAcceptedRisk(
        row.id,
        row.account_id,
        row.repository_name,
        row.finding_id,
        row.image_digest,
        row.reason,
        row.accepted_by,
        row.accepted_at,
        row.expires_at,
    )
