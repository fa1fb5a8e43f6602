"""The pull policy store contract (policies by repository and prefix, accepted risks) and
the pull's one-statement "is the account gated?" answer, on SQLite and PostgreSQL; and the
migrations creating exactly the declared schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from strongroom.clock import RandomIdFactory
from strongroom.events.outbox import ImagePushOutbox
from strongroom.metadata.database import Database
from strongroom.metadata.pull_policies import (
    PREFIX,
    REPOSITORY,
    GateFacts,
    SqlPullPolicyStore,
    StoredAcceptedRisk,
    StoredPullPolicy,
)
from strongroom.metadata.records import NewManifest
from strongroom.metadata.scans import COMPLETE, NewFinding, SqlScanStore
from strongroom.metadata.schema import metadata as declared
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.scanning.on_push import scan_on_push

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
OTHER = "210987654321"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ADMIN = f"arn:aws:iam::{ACCOUNT}:user/admin"
M1 = "sha256:" + "a" * 64


def policy(scope: str, name: str, account: str = ACCOUNT, **values: object) -> StoredPullPolicy:
    fields: dict[str, object] = {
        "max_severity": "HIGH",
        "unsafe_model_severity": None,
        "block_unscanned": False,
        **values,
    }
    return StoredPullPolicy(account, scope, name, updated_by=ADMIN, updated_at=NOW, **fields)  # type: ignore[arg-type]


def risk(risk_id: str, finding: str, days: float = 30, *, repository: str = "team/app") -> StoredAcceptedRisk:
    return StoredAcceptedRisk(
        risk_id, ACCOUNT, repository, finding, None, "vendor fix due", ADMIN, NOW, NOW + timedelta(days=days)
    )


async def metadata(database: Database) -> SqlMetadataStore:
    store = SqlMetadataStore(database, ImagePushOutbox(RandomIdFactory(), (), 8, scan=scan_on_push))
    await store.create_default_account(ACCOUNT, NOW)
    await store.create_account(OTHER, NOW)
    return store


async def test_a_policy_is_put_replaced_read_and_deleted(database: Database) -> None:
    await metadata(database)
    store = SqlPullPolicyStore(database)
    await store.put_policy(policy(REPOSITORY, "team/app"))
    await store.put_policy(policy(REPOSITORY, "team/app", max_severity="CRITICAL", block_unscanned=True))
    found = await store.policy(ACCOUNT, REPOSITORY, "team/app")
    assert found is not None
    assert (found.max_severity, found.block_unscanned, found.updated_by) == ("CRITICAL", True, ADMIN)
    assert await store.policy(OTHER, REPOSITORY, "team/app") is None
    assert await store.delete_policy(OTHER, REPOSITORY, "team/app") is False
    assert await store.delete_policy(ACCOUNT, REPOSITORY, "team/app") is True
    assert await store.policy(ACCOUNT, REPOSITORY, "team/app") is None


async def test_the_policies_for_a_repository_are_its_own_and_the_prefixes_covering_it(
    database: Database,
) -> None:
    await metadata(database)
    store = SqlPullPolicyStore(database)
    for scope, name in [
        (REPOSITORY, "team/app"),
        (REPOSITORY, "team/other"),
        (PREFIX, "team/"),
        (PREFIX, "ml/"),
    ]:
        await store.put_policy(policy(scope, name))
    await store.put_policy(policy(PREFIX, "", account=OTHER))
    found = await store.policies_for(ACCOUNT, "team/app")
    assert sorted((p.scope, p.name) for p in found) == [(PREFIX, "team/"), (REPOSITORY, "team/app")]
    assert [(p.scope, p.name) for p in await store.policies_for(ACCOUNT, "solo")] == []
    page = await store.list_policies(ACCOUNT, limit=2)
    assert [(p.scope, p.name) for p in page] == [(PREFIX, "ml/"), (PREFIX, "team/")]
    rest = await store.list_policies(ACCOUNT, after=(page[-1].scope, page[-1].name))
    assert [(p.scope, p.name) for p in rest] == [(REPOSITORY, "team/app"), (REPOSITORY, "team/other")]


async def test_accepted_risks_are_listed_while_active_and_revoked_only_by_their_account(
    database: Database,
) -> None:
    await metadata(database)
    store = SqlPullPolicyStore(database)
    await store.accept(risk("r1", "CVE-2024-0001"))
    await store.accept(risk("r2", "CVE-2024-0002", days=1))
    await store.accept(risk("r3", "CVE-2024-0003", repository="team/other"))
    assert [r.id for r in await store.accepted(ACCOUNT, "team/app")] == ["r1", "r2"]
    later = NOW + timedelta(days=2)
    assert [r.id for r in await store.accepted(ACCOUNT, "team/app", active_at=later)] == ["r1"]
    assert [r.id for r in await store.accepted(ACCOUNT, after="r1", limit=1)] == ["r2"]
    assert await store.accepted(OTHER) == []
    assert await store.revoke(OTHER, "team/app", "r1") is None
    assert await store.revoke(ACCOUNT, "team/other", "r1") is None
    revoked = await store.revoke(ACCOUNT, "team/app", "r1")
    assert revoked is not None and revoked.finding_id == "CVE-2024-0001"
    assert [r.id for r in await store.accepted(ACCOUNT)] == ["r2", "r3"]


async def test_a_pull_learns_in_its_first_statement_whether_the_account_has_a_pull_policy(
    database: Database,
) -> None:
    store = await metadata(database)
    repository = await store.ensure_repository(ACCOUNT, "team/app", NOW)
    manifest = NewManifest(M1, "application/vnd.oci.image.manifest.v1+json", b"{}", None, None, None, (), ())
    await store.put_manifest(repository.id, manifest, ["v1"], NOW)
    before = await store.lookup_manifest(ACCOUNT, "team/app", tag="v1")
    assert (before.repository_id, before.gated) == (repository.id, False)
    await SqlPullPolicyStore(database).put_policy(policy(REPOSITORY, "team/app", account=OTHER))
    assert (await store.lookup_manifest(ACCOUNT, "team/app", tag="v1")).gated is False
    await SqlPullPolicyStore(database).put_policy(policy(PREFIX, "ml/"))
    after = await store.lookup_manifest(ACCOUNT, "team/app", digest=M1)
    assert after.gated is True and after.manifest is not None


def test_the_migrations_create_exactly_the_declared_schema(database: Database) -> None:
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), declared)
    assert differences == []


async def test_the_gate_reads_its_facts_in_one_go_and_nothing_without_a_policy(database: Database) -> None:
    store = await metadata(database)
    repository = await store.ensure_repository(ACCOUNT, "team/app", NOW)
    manifest = NewManifest(M1, "application/vnd.oci.image.manifest.v1+json", b"{}", None, None, None, (), ())
    await store.put_manifest(repository.id, manifest, ["v1"], NOW)
    scans = SqlScanStore(database)
    await scans.start(repository.id, M1, NOW)
    findings = [NewFinding(key, "vulnerability", f"CVE-{key}", "HIGH", {}) for key in ("k1", "k2", "k3")]
    await scans.finish(repository.id, M1, NOW, status=COMPLETE, description=None, findings=findings)
    policies = SqlPullPolicyStore(database)
    await policies.accept(risk("r1", "CVE-k1"))
    await policies.accept(risk("r2", "CVE-k2", days=1))
    assert await policies.gate_facts(ACCOUNT, "team/app", repository.id, M1, NOW, 10) == GateFacts([])
    await policies.put_policy(policy(PREFIX, "team/"))
    later = NOW + timedelta(days=2)
    facts = await policies.gate_facts(ACCOUNT, "team/app", repository.id, M1, later, 2)
    assert [(p.scope, p.name) for p in facts.policies] == [(PREFIX, "team/")]
    assert facts.scan_status == COMPLETE
    assert [f.key for f in facts.findings] == ["k1", "k2"]
    assert [r.id for r in facts.accepted] == ["r1"]
