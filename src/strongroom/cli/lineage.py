"""``strongroom lineage``: what each image is built on, what is built on it, which images
are overdue for a rebuild, and the roles and patch policies that say so (docs/adr/0021).

Written once against :class:`strongroom.client.admin.AdminApi`: the local store by default
(as the local operator, who reads everything), a server's ``/admin/v1/lineage`` with
``--endpoint`` (where the caller sees only repositories it may read).
"""

from __future__ import annotations

from typing import Any

import click

from strongroom.cli.admin_api import remote_options, run_admin_api
from strongroom.cli.output import Output, Table, emit, output_option
from strongroom.lineage.roles import ROLES

_ACCOUNT = click.option("--account-id", help="The account (local store only; default: the default account).")
_POLICY_COLUMNS = (
    "scope", "name", "maxBaseAge", "maxRebuildDelay", "noInheritedCritical", "allowedBases", "enforce",
)  # fmt: skip


def split_image(text: str) -> tuple[str, str]:
    """``REPO:TAG`` or ``REPO@DIGEST`` (``REPO`` alone: ``latest``) → (repository, reference).
    A leading registry host (``host:port/``) is dropped: the endpoint names the registry."""
    first, slash, rest = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        text = rest
    if "@" in text:
        repository, _, digest = text.partition("@")
        return repository, digest
    head, _, last = text.rpartition("/")
    if ":" in last:
        name, _, tag = last.partition(":")
        return (f"{head}/{name}" if head else name), tag
    return text, "latest"


@click.group()
def lineage() -> None:
    """Image lineage: ancestry, dependents, the patch report, roles and patch policies."""


def _short(digest: object) -> str:
    text = str(digest or "")
    return text[:19] if text.startswith("sha256:") else text


@lineage.command("show")
@click.argument("image")
@remote_options
@_ACCOUNT
@output_option
def show(image: str, account_id: str | None, output: Output | None) -> None:
    """The ancestry of IMAGE (REPO:TAG or REPO@DIGEST): public → base → framework →
    application, per platform for a multi-platform image."""
    repository, reference = split_image(image)
    document = run_admin_api(lambda api: api.lineage_ancestry(repository, reference), account_id=account_id)
    tables = []
    for platform in document["platforms"]:
        chain = platform["ancestry"]
        title = " → ".join(f"{n['repositoryName']}:{n.get('tag') or _short(n['imageDigest'])}" for n in chain)
        rows = [
            (n["repositoryName"], n.get("tag"), _short(n["imageDigest"]), n.get("role"), n.get("builtOnBy"))
            for n in chain
        ]
        prefix = f"[{platform['platform']}] " if platform.get("platform") else ""
        tables.append(Table(("repository", "tag", "digest", "role", "built on by"), rows, prefix + title))
    emit(output, document, *tables)


@lineage.command("dependents")
@click.argument("image")
@remote_options
@_ACCOUNT
@output_option
def dependents(image: str, account_id: str | None, output: Output | None) -> None:
    """Every image built on IMAGE (REPO:TAG or REPO@DIGEST), generation by generation,
    across the repositories and accounts you may read."""
    repository, reference = split_image(image)
    document = run_admin_api(lambda api: api.lineage_dependents(repository, reference), account_id=account_id)
    rows = [
        (d["depth"], _repo(d), d["imageTags"], _short(d["imageDigest"]), d.get("role"),
         f"{d['builtOn']['repositoryName']}:{d['builtOn'].get('tag') or _short(d['builtOn']['imageDigest'])}",
         d.get("builtOnBy"))
        for d in document["dependents"]
    ]  # fmt: skip
    columns = ("depth", "repository", "tags", "digest", "role", "built on", "by")
    emit(output, document, Table(columns, rows))


def _repo(document: dict[str, Any]) -> str:
    return f"{document['registryId']}/{document['repositoryName']}"


@lineage.command("report")
@remote_options
@_ACCOUNT
@output_option
def report(account_id: str | None, output: Output | None) -> None:
    """Every image out of compliance with its patch policy, and why."""
    document = run_admin_api(lambda api: api.lineage_report(), account_id=account_id)
    rows = [
        (_repo(image), image["imageTags"], _short(image["imageDigest"]), v["rule"], v["message"])
        for image in document["images"]
        for v in image["violations"]
    ]
    emit(output, document, Table(("repository", "tags", "digest", "rule", "why"), rows))


@lineage.command("set-role")
@click.argument("repository")
@click.argument("role", type=click.Choice([*ROLES, "none"], case_sensitive=False))
@remote_options
@_ACCOUNT
@output_option
def set_role(repository: str, role: str, account_id: str | None, output: Output | None) -> None:
    """Mark REPOSITORY's place in the hierarchy (its resource tag ``strongroom:role``);
    ``none`` removes it."""
    chosen = None if role.lower() == "none" else role.lower()
    emit(
        output, run_admin_api(lambda api: api.put_repository_role(repository, chosen), account_id=account_id)
    )


@lineage.command("set-policy")
@click.argument("name")
@click.option("--prefix", is_flag=True, help="NAME is a prefix: every repository whose name starts with it.")
@click.option("--max-base-age", help="The longest ago an image's base may have been pushed: 30d, 12h, 2w.")
@click.option("--max-rebuild-delay", help="How long an image may stay on a base whose tag moved on: 7d.")
@click.option("--no-inherited-critical", is_flag=True,
              help="No ancestor may have an open fixable CRITICAL finding.")  # fmt: skip
@click.option("--allowed-base", "allowed_bases", multiple=True,
              help="A repository (or prefix*) images must be built on; repeat for more.")  # fmt: skip
@click.option("--enforce", is_flag=True, help="Refuse pulls and pushes of images that break it (the gate).")
@remote_options
@_ACCOUNT
@output_option
def set_policy(
    name: str, prefix: bool, max_base_age: str | None, max_rebuild_delay: str | None,
    no_inherited_critical: bool, allowed_bases: tuple[str, ...], enforce: bool, account_id: str | None,
    output: Output | None,
) -> None:  # fmt: skip
    """Set the patch policy of the repository NAME (or of every repository under the prefix
    NAME). The repository's own policy wins over a prefix's, a longer prefix over a shorter."""
    document = run_admin_api(
        lambda api: api.put_lineage_policy(
            scope="prefix" if prefix else "repository", name=name, max_base_age=max_base_age,
            max_rebuild_delay=max_rebuild_delay, no_inherited_critical=no_inherited_critical,
            allowed_bases=list(allowed_bases), enforce=enforce,
        ),
        account_id=account_id,
    )  # fmt: skip
    emit(output, document)


@lineage.command("delete-policy")
@click.argument("name")
@click.option("--prefix", is_flag=True, help="NAME is a prefix.")
@remote_options
@_ACCOUNT
def delete_policy(name: str, prefix: bool, account_id: str | None) -> None:
    """Delete the patch policy of the repository (or prefix) NAME."""
    scope = "prefix" if prefix else "repository"
    run_admin_api(lambda api: api.delete_lineage_policy(scope=scope, name=name), account_id=account_id)


@lineage.command("policies")
@remote_options
@_ACCOUNT
@output_option
def policies(account_id: str | None, output: Output | None) -> None:
    """The account's patch policies."""
    found = run_admin_api(lambda api: api.list_lineage_policies(), account_id=account_id)
    rows = [tuple(p.get(c) for c in _POLICY_COLUMNS) for p in found]
    emit(output, {"lineagePolicies": found}, Table(_POLICY_COLUMNS, rows))
