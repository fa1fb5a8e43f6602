"""The IAM store contract, run against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from strongroom.errors import Conflict
from strongroom.metadata.database import Database
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.records import BoundPolicy
from strongroom.metadata.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


@pytest.fixture
def stores(database: Database) -> tuple[SqlMetadataStore, SqlIamStore]:
    return SqlMetadataStore(database), SqlIamStore(database)


async def test_users(stores: tuple[SqlMetadataStore, SqlIamStore]) -> None:
    metadata, iam = stores
    await metadata.create_default_account(ACCOUNT, NOW)
    user = await iam.create_user(ACCOUNT, "ci", user_id="AIDAONE", now=NOW, path="/build/")
    assert user.arn == f"arn:aws:iam::{ACCOUNT}:user/build/ci"
    assert await iam.get_user(ACCOUNT, "ci") == user
    with pytest.raises(Conflict, match="already exists"):
        await iam.create_user(ACCOUNT, "ci", user_id="AIDATWO", now=NOW)
    await iam.create_user(ACCOUNT, "admin", user_id="AIDATHREE", now=NOW, password_hash="h1")
    assert [u.name for u in await iam.list_users(ACCOUNT)] == ["admin", "ci"]
    assert await iam.set_password(ACCOUNT, "admin", "h2") is True
    admin = await iam.get_user(ACCOUNT, "admin")
    assert admin is not None
    assert (admin.password_hash, admin.credential_version) == ("h2", 2)
    await iam.delete_user(user)
    assert await iam.get_user(ACCOUNT, "ci") is None


async def test_access_keys(stores: tuple[SqlMetadataStore, SqlIamStore]) -> None:
    metadata, iam = stores
    await metadata.create_default_account(ACCOUNT, NOW)
    user = await iam.create_user(ACCOUNT, "ci", user_id="AIDAONE", now=NOW)
    await iam.create_access_key(user, "AKIAONE", b"cipher-1", NOW)
    await iam.create_access_key(user, "AKIATWO", b"cipher-2", NOW)
    with pytest.raises(Conflict, match="AccessKeysPerUser"):
        await iam.create_access_key(user, "AKIATHREE", b"cipher-3", NOW)
    key = await iam.get_access_key("AKIAONE")
    assert key is not None
    assert (key.user.name, key.status, key.secret_ciphertext) == ("ci", "Active", b"cipher-1")
    assert await iam.set_access_key_status(user, "AKIAONE", "Inactive") is True
    await iam.record_access_key_use("AKIATWO", NOW)
    listed = await iam.list_access_keys(user)
    assert [(k.id, k.status, k.last_used_at) for k in listed] == [
        ("AKIAONE", "Inactive", None),
        ("AKIATWO", "Active", NOW),
    ]
    with pytest.raises(Conflict, match="access keys"):
        await iam.delete_user(user)
    assert await iam.delete_access_key(user, "AKIAONE") is True
    assert await iam.delete_access_key(user, "AKIAONE") is False
    assert await iam.get_access_key("AKIAONE") is None


async def test_inline_and_managed_policies(stores: tuple[SqlMetadataStore, SqlIamStore]) -> None:
    metadata, iam = stores
    await metadata.create_default_account(ACCOUNT, NOW)
    user = await iam.create_user(ACCOUNT, "ci", user_id="AIDAONE", now=NOW)
    await iam.put_inline_policy("user", user.id, "push", ALLOW_ALL)
    await iam.put_inline_policy("user", user.id, "push", ALLOW_ALL.replace("Allow", "Deny"))
    assert await iam.list_inline_policies("user", user.id) == ["push"]
    assert "Deny" in (await iam.get_inline_policy("user", user.id, "push") or "")
    policy = await iam.create_managed_policy(
        ACCOUNT, "Admins", policy_id="ANPAONE", document=ALLOW_ALL, now=NOW
    )
    assert policy.arn == f"arn:aws:iam::{ACCOUNT}:policy/Admins"
    with pytest.raises(Conflict):
        await iam.create_managed_policy(ACCOUNT, "Admins", policy_id="ANPATWO", document=ALLOW_ALL, now=NOW)
    await iam.attach_policy(policy, "user", user.id)
    await iam.attach_policy(policy, "user", user.id)  # idempotent
    assert [p.name for p in await iam.list_attached_policies("user", user.id)] == ["Admins"]
    assert await iam.attachment_counts(ACCOUNT) == {policy.id: 1}
    assert await iam.attachment_counts("999999999999") == {}
    documents = await iam.identity_policies("user", user.id, user.user_id)
    assert set(documents) == {"inline:push", policy.arn}
    with pytest.raises(Conflict):
        await iam.delete_managed_policy(policy)
    with pytest.raises(Conflict, match="policies"):
        await iam.delete_user(user)
    assert await iam.detach_policy(policy, "user", user.id) is True
    assert await iam.attachment_counts(ACCOUNT) == {}
    assert await iam.delete_inline_policy("user", user.id, "push") is True
    await iam.delete_managed_policy(policy)
    assert await iam.identity_policies("user", user.id, user.user_id) == {}
    await iam.delete_user(user)


async def test_repository_policy_visibility_and_registry_policy(
    stores: tuple[SqlMetadataStore, SqlIamStore],
) -> None:
    metadata, iam = stores
    await metadata.create_default_account(ACCOUNT, NOW)
    access = await iam.repository_access(ACCOUNT, "team/model")
    assert (access.repository_policy, access.public, access.registry_policy) == (None, False, None)
    repository = await metadata.ensure_repository(ACCOUNT, "team/model", NOW)
    await iam.set_repository_policy(repository.id, ALLOW_ALL)
    await iam.set_repository_public(repository.id, True)
    await iam.put_registry_policy(ACCOUNT, ALLOW_ALL, NOW)
    access = await iam.repository_access(ACCOUNT, "team/model")
    assert access.public is True
    assert access.repository_policy == BoundPolicy(ALLOW_ALL, {})
    assert access.registry_policy == BoundPolicy(ALLOW_ALL, {})
    assert access.registry_policy_scope == "V2"
    await iam.put_registry_policy(ACCOUNT, None, NOW)
    await iam.set_repository_policy(repository.id, None)
    assert await iam.get_registry_policy(ACCOUNT) is None
    assert (await iam.repository_access(ACCOUNT, "team/model")).repository_policy is None


def _naming(*arns: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": list(arns)}, "Action": "ecr:*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


async def test_policies_bind_the_users_and_roles_they_name_when_saved(
    stores: tuple[SqlMetadataStore, SqlIamStore],
) -> None:
    metadata, iam = stores
    await metadata.create_default_account(ACCOUNT, NOW)
    alice = await iam.create_user(ACCOUNT, "alice", user_id="AIDAALICE1", now=NOW, path="/team/")
    role = await iam.create_role(ACCOUNT, "ci", role_id="AROACI1", trust_policy=_naming(alice.arn), now=NOW)
    assert role.trust_principals is not None
    assert json.loads(role.trust_principals) == {alice.arn: "AIDAALICE1"}
    ghost = f"arn:aws:iam::{ACCOUNT}:user/ghost"
    wrong_path = f"arn:aws:iam::{ACCOUNT}:user/alice"  # alice lives under /team/
    document = _naming(alice.arn, role.arn, ghost, wrong_path, f"arn:aws:iam::{ACCOUNT}:root")
    repository = await metadata.ensure_repository(ACCOUNT, "team/model", NOW)
    await iam.set_repository_policy(repository.id, document)
    await iam.put_registry_policy(ACCOUNT, document, NOW)
    expected = {alice.arn: "AIDAALICE1", role.arn: "AROACI1"}
    access = await iam.repository_access(ACCOUNT, "team/model")
    assert access.repository_policy == BoundPolicy(document, expected)
    assert access.registry_policy == BoundPolicy(document, expected)
    # alice deleted and recreated: the stored binding still names the first alice
    await iam.delete_user(alice)
    await iam.create_user(ACCOUNT, "alice", user_id="AIDAALICE2", now=NOW, path="/team/")
    access = await iam.repository_access(ACCOUNT, "team/model")
    assert access.repository_policy is not None
    assert access.repository_policy.principal_ids[alice.arn] == "AIDAALICE1"
    role_again = await iam.get_role(ACCOUNT, "ci")
    assert role_again is not None and role_again.trust_principals == role.trust_principals


async def test_accounts(stores: tuple[SqlMetadataStore, SqlIamStore]) -> None:
    metadata, _ = stores
    await metadata.create_default_account(ACCOUNT, NOW)
    assert await metadata.create_account("222222222222", NOW) is True
    assert await metadata.create_account("222222222222", NOW) is False
    assert await metadata.create_account(ACCOUNT, NOW) is False
    listed = await metadata.list_accounts()
    assert [(a.account_id, a.is_default, a.created_at) for a in listed] == [
        (ACCOUNT, True, NOW),
        ("222222222222", False, NOW),
    ]
    assert await metadata.default_account_id() == ACCOUNT


async def test_a_reused_row_does_not_hand_over_policies(stores: tuple[SqlMetadataStore, SqlIamStore]) -> None:
    """A token names its user by row and unique id; once the user is deleted and the row
    number reused, the token's principal gets no policies, not the newcomer's."""
    metadata, iam = stores
    await metadata.create_default_account(ACCOUNT, NOW)
    gone = await iam.create_user(ACCOUNT, "gone", user_id="AIDAGONE", now=NOW)
    await iam.delete_user(gone)
    newcomer = await iam.create_user(ACCOUNT, "newcomer", user_id="AIDANEW", now=NOW)
    await iam.put_inline_policy("user", newcomer.id, "all", ALLOW_ALL)
    assert await iam.identity_policies("user", newcomer.id, "AIDANEW") == {"inline:all": ALLOW_ALL}
    assert await iam.identity_policies("user", newcomer.id, gone.user_id) == {}
