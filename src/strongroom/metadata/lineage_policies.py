"""Patch policies on SQL (SQLite or PostgreSQL), per account, under a scope:
``repository`` (one repository by name) or ``prefix`` (every repository whose name
starts with it). Which one applies is :func:`strongroom.lineage.compliance.applicable`'s
to say, above the store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from strongroom.lineage.compliance import PatchPolicy
from strongroom.metadata.database import Database
from strongroom.metadata.schema import lineage_policies


@dataclass(frozen=True, slots=True)
class StoredPatchPolicy:
    account_id: str
    policy: PatchPolicy
    updated_by: str
    updated_at: datetime


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def _delta(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _stored(row: Any) -> StoredPatchPolicy:
    bases = json.loads(row.allowed_bases) if row.allowed_bases else []
    policy = PatchPolicy(
        row.scope, row.name, _delta(row.max_base_age_seconds), _delta(row.max_rebuild_delay_seconds),
        bool(row.no_inherited_critical), tuple(str(b) for b in bases), bool(row.enforce),
    )  # fmt: skip
    return StoredPatchPolicy(row.account_id, policy, row.updated_by, row.updated_at)


class SqlLineagePolicyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def put(self, account_id: str, policy: PatchPolicy, by: str, now: datetime) -> StoredPatchPolicy:
        values = {
            "max_base_age_seconds": _seconds(policy.max_base_age),
            "max_rebuild_delay_seconds": _seconds(policy.max_rebuild_delay),
            "no_inherited_critical": policy.no_inherited_critical,
            "allowed_bases": json.dumps(list(policy.allowed_bases)) if policy.allowed_bases else None,
            "enforce": policy.enforce,
            "updated_by": by,
            "updated_at": now,
        }

        def work() -> None:
            with self._db.writing() as conn:
                statement = self._db.insert(lineage_policies).values(
                    account_id=account_id, scope=policy.scope, name=policy.name, **values
                )
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[
                            lineage_policies.c.account_id, lineage_policies.c.scope, lineage_policies.c.name
                        ],
                        set_=values,
                    )
                )  # fmt: skip

        await self._db.write(work)
        return StoredPatchPolicy(account_id, policy, by, now)

    async def delete(self, account_id: str, scope: str, name: str) -> bool:
        def work() -> bool:
            with self._db.writing() as conn:
                deleted = conn.execute(
                    lineage_policies.delete().where(
                        lineage_policies.c.account_id == account_id,
                        lineage_policies.c.scope == scope,
                        lineage_policies.c.name == name,
                    )
                )
                return bool(deleted.rowcount)

        return await self._db.write(work)

    async def policies(self, account_id: str) -> list[StoredPatchPolicy]:
        """Every policy of the account, by scope and name (an account keeps a few)."""

        def work() -> list[StoredPatchPolicy]:
            query = (
                sa.select(lineage_policies)
                .where(lineage_policies.c.account_id == account_id)
                .order_by(lineage_policies.c.scope, lineage_policies.c.name)
            )
            with self._db.reading() as conn:
                return [_stored(row) for row in conn.execute(query)]

        return await self._db.run(work)

    async def any_enforced(self, account_id: str) -> bool:
        def work() -> bool:
            query = sa.select(lineage_policies.c.id).where(
                lineage_policies.c.account_id == account_id, lineage_policies.c.enforce
            )
            with self._db.reading() as conn:
                return conn.scalar(query.limit(1)) is not None

        return await self._db.run(work)
