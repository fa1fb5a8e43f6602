"""The IAM store contract for roles and their temporary credentials, run against
SQLite and PostgreSQL; and the session checks of the use cases, on a stepped clock."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.audit.log import AuditEvent
from strongroom.auth.management import (
    DeleteConflict,
    ExpiredToken,
    IdentityAdmin,
    InvalidSessionToken,
    verify_session,
)
from strongroom.auth.principals import Principal
from strongroom.auth.secretbox import SecretBox
from strongroom.errors import AccessDenied, Conflict, InvalidRequest
from strongroom.metadata.database import Database
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.records import TemporaryCredential
from strongroom.metadata.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


def trust(principal_arn: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal_arn}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def stores(database: Database) -> tuple[SqlMetadataStore, SqlIamStore]:
    return SqlMetadataStore(database), SqlIamStore(database)


class SteppedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


class MemoryAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def record(self, event: AuditEvent) -> None:
        self.events.append(event)


async def test_roles(stores: tuple[SqlMetadataStore, SqlIamStore]) -> None:
    metadata, iam = stores
    await metadata.create_default_account(ACCOUNT, NOW)
    document = trust(f"arn:aws:iam::{ACCOUNT}:user/ci")
    role = await iam.create_role(
        ACCOUNT, "deployer", role_id="AROAONE", trust_policy=document, now=NOW, path="/ci/",
        description="pushes images", max_session_seconds=7200,
    )  # fmt: skip
    assert role.arn == f"arn:aws:iam::{ACCOUNT}:role/ci/deployer"
    assert await iam.get_role(ACCOUNT, "deployer") == role
    with pytest.raises(Conflict, match="already exists"):
        await iam.create_role(ACCOUNT, "deployer", role_id="AROATWO", trust_policy=document, now=NOW)
    await iam.create_role(ACCOUNT, "auditor", role_id="AROATHREE", trust_policy=document, now=NOW)
    assert [r.name for r in await iam.list_roles(ACCOUNT)] == ["auditor", "deployer"]
    await iam.update_trust_policy(role, ALLOW_ALL)
    updated = await iam.get_role(ACCOUNT, "deployer")
    assert updated is not None and updated.trust_policy == ALLOW_ALL
    assert (updated.max_session_seconds, updated.description) == (7200, "pushes images")

    # Role policies live beside user policies, told apart by kind.
    await iam.put_inline_policy("role", role.id, "push", ALLOW_ALL)
    policy = await iam.create_managed_policy(
        ACCOUNT, "pull", policy_id="ANPAONE", document=ALLOW_ALL, now=NOW
    )
    await iam.attach_policy(policy, "role", role.id)
    assert set(await iam.identity_policies("role", role.id, role.role_id)) == {"inline:push", policy.arn}
    assert await iam.identity_policies("user", role.id, role.role_id) == {}
    with pytest.raises(Conflict, match="must delete policies first"):
        await iam.delete_role(role)
    await iam.delete_inline_policy("role", role.id, "push")
    await iam.detach_policy(policy, "role", role.id)
    await iam.delete_role(role)
    assert await iam.get_role(ACCOUNT, "deployer") is None


async def test_temporary_credentials(stores: tuple[SqlMetadataStore, SqlIamStore]) -> None:
    metadata, iam = stores
    await metadata.create_default_account(ACCOUNT, NOW)
    role = await iam.create_role(ACCOUNT, "deployer", role_id="AROAONE", trust_policy=ALLOW_ALL, now=NOW)
    token_hash = hashlib.sha256(b"token").hexdigest()
    credential = TemporaryCredential(
        "ASIAONE", role, "build-42", b"cipher", token_hash, NOW, NOW + timedelta(seconds=900)
    )
    await iam.create_temporary_credential(credential)
    assert await iam.get_temporary_credential("ASIAONE") == credential
    # A session's key is no user's key: the long-term lookup does not see it.
    assert await iam.get_access_key("ASIAONE") is None
    assert await iam.get_temporary_credential("AKIANOPE") is None
    assert await iam.delete_expired_credentials(NOW + timedelta(seconds=899)) == 0
    assert await iam.delete_expired_credentials(NOW + timedelta(seconds=901)) == 1
    assert await iam.get_temporary_credential("ASIAONE") is None
    # Deleting the role ends its sessions.
    await iam.create_temporary_credential(credential)
    await iam.delete_role(role)
    assert await iam.get_temporary_credential("ASIAONE") is None


async def test_assume_role_issues_a_session_that_expires(
    stores: tuple[SqlMetadataStore, SqlIamStore],
) -> None:
    metadata, iam = stores
    await metadata.create_default_account(ACCOUNT, NOW)
    clock, audit = SteppedClock(NOW), MemoryAudit()
    secrets = SecretBox.from_keys(b"k" * 32)
    admin = IdentityAdmin(metadata, iam, secrets, clock, audit)
    ci_user = await admin.create_user(ACCOUNT, "ci")
    other = await admin.create_user(ACCOUNT, "other")
    ci = Principal(ACCOUNT, "ci", "user", "/", ci_user.user_id, ci_user.id)
    role = await admin.create_role(ACCOUNT, "deployer", trust(ci_user.arn))
    await admin.put_role_policy(ACCOUNT, "deployer", "all", ALLOW_ALL)

    with pytest.raises(InvalidRequest, match="DurationSeconds"):
        await admin.assume_role(ci, role.arn, "s1", 3601)  # above the role's maximum
    session = await admin.assume_role(ci, role.arn, "build-42", 900)
    assert session.access_key_id.startswith("ASIA")
    assert session.expiration == NOW + timedelta(seconds=900)
    assert session.principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/build-42"
    assert session.principal.unique_id == f"{role.role_id}:build-42"
    assert audit.events[-1].action == "sts:AssumeRole"

    stored = await iam.get_temporary_credential(session.access_key_id)
    assert stored is not None
    assert stored.session_token_hash == hashlib.sha256(session.session_token.encode()).hexdigest()
    assert secrets.decrypt(stored.secret_ciphertext, session.access_key_id.encode()).decode() == (
        session.secret_access_key
    )
    assert verify_session(stored, session.session_token, NOW + timedelta(seconds=899)) == session.principal
    with pytest.raises(ExpiredToken):
        verify_session(stored, session.session_token, NOW + timedelta(seconds=900))
    with pytest.raises(InvalidSessionToken):
        verify_session(stored, session.session_token + "x", NOW)
    with pytest.raises(InvalidSessionToken):
        verify_session(stored, None, NOW)

    # Whom the trust policy does not name may not assume the role, and the refusal is audited.
    stranger = Principal(ACCOUNT, "other", "user", "/", other.user_id, other.id)
    with pytest.raises(AccessDenied, match="sts:AssumeRole"):
        await admin.assume_role(stranger, role.arn, "s2", 900)
    assert (audit.events[-1].action, audit.events[-1].decision) == ("sts:AssumeRole", "deny")
    with pytest.raises(AccessDenied):
        await admin.assume_role(ci, f"arn:aws:iam::{ACCOUNT}:role/nobody", "s3", 900)

    with pytest.raises(DeleteConflict):
        await admin.delete_role(ACCOUNT, "deployer")
    with pytest.raises(InvalidRequest):
        await admin.create_role(ACCOUNT, "bad", ALLOW_ALL)  # a trust policy names a Principal
