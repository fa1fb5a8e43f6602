"""The pull gate's commands (ADR 0014): ``strongroom repo set-pull-policy``,
``delete-pull-policy``, ``describe-pull-policy``, and ``strongroom scan accept``, ``revoke``,
``accepted``. Written once against :class:`strongroom.client.admin.AdminApi`: the local
store by default (as the local operator), a server's ``/admin/v1`` with ``--endpoint``."""

from __future__ import annotations

from typing import Any

import click

from strongroom.analysis.severity import Severity
from strongroom.cli.admin_api import remote_options, run_admin_api
from strongroom.cli.output import Output, Table, emit, output_option

_SEVERITIES = click.Choice([str(level) for level in Severity], case_sensitive=False)
_ACCOUNT = click.option("--account-id", help="The account (local store only; default: the default account).")
_POLICY_COLUMNS = ("scope", "name", "maxSeverity", "unsafeModelSeverity", "blockUnscanned", "updatedBy")
_RISK_COLUMNS = (
    "id",
    "repository",
    "findingId",
    "imageDigest",
    "expiresAt",
    "expired",
    "acceptedBy",
    "reason",
)


def _scope(prefix: bool) -> str:
    return "prefix" if prefix else "repository"


def _policy_table(policies: list[dict[str, Any]]) -> Table:
    return Table(_POLICY_COLUMNS, [tuple(p.get(c) for c in _POLICY_COLUMNS) for p in policies])


def _risk_table(risks: list[dict[str, Any]]) -> Table:
    return Table(_RISK_COLUMNS, [tuple(r.get(c) for c in _RISK_COLUMNS) for r in risks])


@click.command("set-pull-policy")
@click.argument("name")
@click.option("--prefix", is_flag=True, help="NAME is a prefix: every repository whose name starts with it.")
@click.option(
    "--max-severity", type=_SEVERITIES, help="Refuse images with a vulnerability of this severity or higher."
)
@click.option("--block-unsafe-models", is_flag=True, help="Refuse images with an unsafe model file.")
@click.option(
    "--model-severity",
    type=_SEVERITIES,
    default="MEDIUM",
    show_default=True,
    help="With --block-unsafe-models: the lowest model-file finding severity that refuses.",
)
@click.option("--block-unscanned", is_flag=True, help="Refuse images whose last scan is not COMPLETE.")
@remote_options
@_ACCOUNT
@output_option
def set_pull_policy(
    name: str, prefix: bool, max_severity: str | None, block_unsafe_models: bool, model_severity: str,
    block_unscanned: bool, account_id: str | None, output: Output | None,
) -> None:  # fmt: skip
    """Refuse pulls from the repository NAME (or under the prefix NAME) by rule. The
    repository's own policy wins over a prefix's, a longer prefix over a shorter one."""
    document = run_admin_api(
        lambda api: api.put_pull_policy(
            scope=_scope(prefix), name=name, max_severity=max_severity and max_severity.upper(),
            unsafe_model_severity=model_severity.upper() if block_unsafe_models else None,
            block_unscanned=block_unscanned,
        ),
        account_id=account_id,
    )  # fmt: skip
    emit(output, document)


@click.command("delete-pull-policy")
@click.argument("name")
@click.option("--prefix", is_flag=True, help="NAME is a prefix.")
@remote_options
@_ACCOUNT
def delete_pull_policy(name: str, prefix: bool, account_id: str | None) -> None:
    """Delete the pull policy of the repository (or prefix) NAME."""
    run_admin_api(lambda api: api.delete_pull_policy(scope=_scope(prefix), name=name), account_id=account_id)


@click.command("describe-pull-policy")
@click.argument("name", required=False)
@click.option("--prefix", is_flag=True, help="NAME is a prefix: show its own policy.")
@remote_options
@_ACCOUNT
@output_option
def describe_pull_policy(
    name: str | None, prefix: bool, account_id: str | None, output: Output | None
) -> None:
    """The pull policy that applies to the repository NAME (its own, else the longest
    prefix covering it); without NAME, every policy of the account."""
    if name is None:
        policies = run_admin_api(lambda api: api.list_pull_policies(), account_id=account_id)
        emit(output, {"pullPolicies": policies}, _policy_table(policies))
        return
    document = run_admin_api(
        lambda api: api.describe_pull_policy(scope=_scope(prefix), name=name), account_id=account_id
    )
    emit(output, document)


@click.command("accept")
@click.argument("repository")
@click.argument("finding_id")
@click.option(
    "--reason", required=True, help="Why the risk is accepted (kept in the entry and the audit log)."
)
@click.option("--expires", required=True, help="When the acceptance ends: 30d, 12h, or an ISO 8601 time.")
@click.option(
    "--digest", "image_digest", help="Only for this image (default: every image of the repository)."
)
@remote_options
@_ACCOUNT
@output_option
def accept(
    repository: str, finding_id: str, reason: str, expires: str, image_digest: str | None,
    account_id: str | None, output: Output | None,
) -> None:  # fmt: skip
    """Accept the risk of FINDING_ID (a CVE id, a model rule, an alias or a finding key) in
    REPOSITORY until it expires: the pull policy does not hold it against the images."""
    document = run_admin_api(
        lambda api: api.accept_risk(
            repository=repository, finding_id=finding_id, reason=reason, expires=expires,
            image_digest=image_digest,
        ),
        account_id=account_id,
    )  # fmt: skip
    emit(output, document)


@click.command("revoke")
@click.argument("repository")
@click.argument("risk_id")
@remote_options
@_ACCOUNT
@output_option
def revoke(repository: str, risk_id: str, account_id: str | None, output: Output | None) -> None:
    """Revoke the accepted risk RISK_ID (``ar-…``) of REPOSITORY before it expires."""
    document = run_admin_api(
        lambda api: api.revoke_risk(repository=repository, risk_id=risk_id), account_id=account_id
    )
    emit(output, document)


@click.command("accepted")
@click.argument("repository", required=False)
@click.option("--include-expired", is_flag=True, help="Show expired entries too.")
@remote_options
@_ACCOUNT
@output_option
def accepted(
    repository: str | None, include_expired: bool, account_id: str | None, output: Output | None
) -> None:
    """The accepted risks of REPOSITORY (or of every repository) that have not expired."""
    risks = run_admin_api(
        lambda api: api.list_accepted_risks(repository=repository, include_expired=include_expired),
        account_id=account_id,
    )
    emit(output, {"acceptedRisks": risks}, _risk_table(risks))
