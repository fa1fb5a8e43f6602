"""``strongroom account|iam|repo …``: administrative commands on the store named by the
settings, acting as the local operator. Output is JSON, shaped like the AWS CLI's."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from strongroom.audit.log import AuditLog
from strongroom.auth.management import IdentityAdmin
from strongroom.cli.documents import read_document
from strongroom.cli.store import run_on_store
from strongroom.clock import SystemClock
from strongroom.metadata.audit import SqlAuditStore
from strongroom.metadata.database import Database
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.registry.policy_review import PolicyReview
from strongroom.services import open_secret_box
from strongroom.settings import Settings

T = TypeVar("T")


def run_admin(work: Callable[[IdentityAdmin, str], Awaitable[T]]) -> T:
    """Run ``work(admin, default_account_id)`` against the configured store."""

    async def with_admin(settings: Settings, database: Database) -> T:
        default = await SqlMetadataStore(database).default_account_id()
        if default is None:
            raise click.ClickException("the store is not set up: run `strongroom migrate` first")
        return await work(identity_admin(settings, database), default)

    return run_on_store(with_admin)


def identity_admin(settings: Settings, database: Database) -> IdentityAdmin:
    """The identity use cases on the store, acting as the local operator."""
    return IdentityAdmin(
        SqlMetadataStore(database), SqlIamStore(database), open_secret_box(settings), SystemClock(),
        AuditLog(SqlAuditStore(database)), review=PolicyReview(settings.policy_findings),
    )  # fmt: skip


def _emit(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


account_option = click.option("--account-id", help="Account (default: the default account).")


@click.group("account")
def account() -> None:
    """Accounts (12-digit registry ids)."""


@account.command("create")
@click.option("--id", "account_id", required=True, help="The new account's 12-digit id.")
def create_account(account_id: str) -> None:
    created = run_admin(lambda admin, _: admin.create_account(account_id))
    _emit({"AccountId": created})


@click.group("iam")
def iam() -> None:
    """Users, roles, access keys and identity policies."""


@iam.group("policy")
def policy() -> None:
    """Policy documents: validation with findings."""


@iam.command("create-user")
@click.option("--user-name", required=True)
@click.option("--path", default="/")
@account_option
def create_user(user_name: str, path: str, account_id: str | None) -> None:
    user = run_admin(lambda admin, default: admin.create_user(account_id or default, user_name, path))
    _emit({"User": {"UserName": user.name, "UserId": user.user_id, "Arn": user.arn, "Path": user.path}})


@iam.command("delete-user")
@click.option("--user-name", required=True)
@account_option
def delete_user(user_name: str, account_id: str | None) -> None:
    run_admin(lambda admin, default: admin.delete_user(account_id or default, user_name))


@iam.command("create-access-key")
@click.option("--user-name", required=True)
@account_option
def create_access_key(user_name: str, account_id: str | None) -> None:
    """Create an access key; its secret is shown this once."""
    key = run_admin(lambda admin, default: admin.create_access_key(account_id or default, user_name))
    _emit(
        {
            "AccessKey": {
                "UserName": key.user.name,
                "AccessKeyId": key.access_key_id,
                "Status": "Active",
                "SecretAccessKey": key.secret_access_key,
            }
        }
    )


@iam.command("update-access-key")
@click.option("--user-name", required=True)
@click.option("--access-key-id", required=True)
@click.option("--status", type=click.Choice(["Active", "Inactive"]), required=True)
@account_option
def update_access_key(user_name: str, access_key_id: str, status: str, account_id: str | None) -> None:
    run_admin(
        lambda admin, default: admin.set_access_key_status(
            account_id or default, user_name, access_key_id, status == "Active"
        )
    )


@iam.command("delete-access-key")
@click.option("--user-name", required=True)
@click.option("--access-key-id", required=True)
@account_option
def delete_access_key(user_name: str, access_key_id: str, account_id: str | None) -> None:
    run_admin(lambda admin, default: admin.delete_access_key(account_id or default, user_name, access_key_id))


@iam.command("put-user-policy")
@click.option("--user-name", required=True)
@click.option("--policy-name", required=True)
@click.option("--policy-document", required=True, help="JSON, or file://path")
@account_option
def put_user_policy(user_name: str, policy_name: str, policy_document: str, account_id: str | None) -> None:
    document = read_document("--policy-document", policy_document)[1]
    run_admin(
        lambda admin, default: admin.put_user_policy(account_id or default, user_name, policy_name, document)
    )


@iam.command("delete-user-policy")
@click.option("--user-name", required=True)
@click.option("--policy-name", required=True)
@account_option
def delete_user_policy(user_name: str, policy_name: str, account_id: str | None) -> None:
    run_admin(lambda admin, default: admin.delete_user_policy(account_id or default, user_name, policy_name))


@iam.command("create-role")
@click.option("--role-name", required=True)
@click.option("--assume-role-policy-document", required=True, help="The trust policy: JSON, or file://path")
@click.option("--path", default="/")
@click.option("--description")
@click.option("--max-session-duration", type=int, default=3600, show_default=True, help="Seconds.")
@account_option
def create_role(
    role_name: str,
    assume_role_policy_document: str,
    path: str,
    description: str | None,
    max_session_duration: int,
    account_id: str | None,
) -> None:
    trust = read_document("--assume-role-policy-document", assume_role_policy_document)[1]
    role = run_admin(
        lambda admin, default: admin.create_role(
            account_id or default, role_name, trust, path, description, max_session_duration
        )
    )
    _emit({"Role": {"RoleName": role.name, "RoleId": role.role_id, "Arn": role.arn, "Path": role.path}})


@iam.command("delete-role")
@click.option("--role-name", required=True)
@account_option
def delete_role(role_name: str, account_id: str | None) -> None:
    run_admin(lambda admin, default: admin.delete_role(account_id or default, role_name))


@iam.command("update-assume-role-policy")
@click.option("--role-name", required=True)
@click.option("--policy-document", required=True, help="JSON, or file://path")
@account_option
def update_assume_role_policy(role_name: str, policy_document: str, account_id: str | None) -> None:
    document = read_document("--policy-document", policy_document)[1]
    run_admin(
        lambda admin, default: admin.update_assume_role_policy(account_id or default, role_name, document)
    )


@iam.command("put-role-policy")
@click.option("--role-name", required=True)
@click.option("--policy-name", required=True)
@click.option("--policy-document", required=True, help="JSON, or file://path")
@account_option
def put_role_policy(role_name: str, policy_name: str, policy_document: str, account_id: str | None) -> None:
    document = read_document("--policy-document", policy_document)[1]
    run_admin(
        lambda admin, default: admin.put_role_policy(account_id or default, role_name, policy_name, document)
    )


@iam.command("delete-role-policy")
@click.option("--role-name", required=True)
@click.option("--policy-name", required=True)
@account_option
def delete_role_policy(role_name: str, policy_name: str, account_id: str | None) -> None:
    run_admin(lambda admin, default: admin.delete_role_policy(account_id or default, role_name, policy_name))


@iam.command("list-roles")
@account_option
def list_roles(account_id: str | None) -> None:
    roles = run_admin(lambda admin, default: admin.list_roles(account_id or default))
    _emit(
        {
            "Roles": [
                {
                    "RoleName": r.name,
                    "RoleId": r.role_id,
                    "Arn": r.arn,
                    "Path": r.path,
                    "Description": r.description,
                }
                for r in roles
            ]
        }
    )


@click.group("repo")
def repo() -> None:
    """Repository policies and visibility."""


@repo.command("set-policy")
@click.option("--repository-name", required=True)
@click.option("--policy-text", required=True, help="JSON, or file://path")
@account_option
def set_repository_policy(repository_name: str, policy_text: str, account_id: str | None) -> None:
    """Set a repository's policy: stored if valid, its findings printed (and audited)."""
    document = read_document("--policy-text", policy_text)[1]
    found = run_admin(
        lambda admin, default: admin.set_repository_policy(account_id or default, repository_name, document)
    )
    _emit({"findings": [finding.as_json() for finding in found]})


@repo.command("delete-policy")
@click.option("--repository-name", required=True)
@account_option
def delete_repository_policy(repository_name: str, account_id: str | None) -> None:
    run_admin(
        lambda admin, default: admin.set_repository_policy(account_id or default, repository_name, None)
    )


@repo.command("set-visibility")
@click.option("--repository-name", required=True)
@click.argument("visibility", type=click.Choice(["public", "private"]))
@account_option
def set_visibility(repository_name: str, visibility: str, account_id: str | None) -> None:
    """Public repositories may be pulled anonymously; nothing else is ever anonymous."""
    public = visibility == "public"
    run_admin(
        lambda admin, default: admin.set_repository_public(account_id or default, repository_name, public)
    )
