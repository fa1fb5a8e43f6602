"""``strongroom replication``: where destinations live (an administrative command on the
store the settings name, audited as the local operator) and an image's status at each
destination."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from strongroom.audit.log import AuditEvent
from strongroom.auth.management import LOCAL_OPERATOR
from strongroom.cli.output import Output, emit, output_option
from strongroom.cli.store import run_on_store
from strongroom.errors import InvalidRequest, NotFound
from strongroom.metadata.database import Database
from strongroom.oci.names import RepositoryRef
from strongroom.registry.images import ImageId
from strongroom.replication.destinations import KINDS, check_target, destination_document
from strongroom.replication.on_push import repository_at
from strongroom.replication.status import status_document
from strongroom.services import Services, build_services
from strongroom.settings import Settings

T = TypeVar("T")


def _with_services(work: Callable[[Services], Awaitable[T]]) -> T:
    async def run(settings: Settings, _database: Database) -> T:
        services = await build_services(settings)
        try:
            return await work(services)
        finally:
            services.close()

    return run_on_store(run)


async def _audited(services: Services, action: str, resource: str) -> None:
    await services.audit.record(
        AuditEvent(services.clock.now(), LOCAL_OPERATOR, action, resource, None, "allow", {})
    )


@click.group("replication")
def replication() -> None:
    """Replication to other regions and registries: destinations and status."""


@replication.group("destination")
def destination() -> None:
    """Where a destination (a region and registry id, as rules name them) lives."""


@destination.command("add")
@click.option("--region", required=True)
@click.option("--registry-id", required=True, help="The destination's 12-digit account id.")
@click.option("--url", required=True, help="The destination registry, http(s)://host:port.")
@click.option("--kind", type=click.Choice(KINDS), default="strongroom", show_default=True)
@click.option("--access-key-id", required=True, help="The login (access key id, or user) there.")
@click.option("--secret-stdin", is_flag=True, required=True, help="Read the secret from standard input.")
@output_option
def add(
    region: str, registry_id: str, url: str, kind: str, access_key_id: str, secret_stdin: bool,
    output: Output | None,
) -> None:  # fmt: skip
    """Register (or replace) a destination; its secret is encrypted at rest, never shown."""
    secret = sys.stdin.readline().rstrip("\n")

    async def work(services: Services) -> dict[str, str]:
        added = await services.replication_destinations.add(
            region, registry_id, url, kind, access_key_id, secret
        )
        await _audited(services, "strongroom:CreateReplicationDestination", f"{region}/{registry_id}")
        return destination_document(added)

    emit(output, _with_services(work))


@destination.command("list")
@output_option
def list_destinations(output: Output | None) -> None:
    async def work(services: Services) -> list[dict[str, str]]:
        return [destination_document(found) for found in await services.replication_destinations.list()]

    emit(output, {"destinations": _with_services(work)})


@destination.command("remove")
@click.option("--region", required=True)
@click.option("--registry-id", required=True)
def remove(region: str, registry_id: str) -> None:
    async def work(services: Services) -> None:
        await services.replication_destinations.remove(region, registry_id)
        await _audited(services, "strongroom:DeleteReplicationDestination", f"{region}/{registry_id}")

    _with_services(work)


@replication.command("status")
@click.argument("image")
@click.option("--account-id", help="The repository's account (default: the default account).")
@output_option
def status(image: str, account_id: str | None, output: Output | None) -> None:
    """IMAGE is REPO[:TAG] or REPO@DIGEST: its status at each destination."""
    name, digest, tag = image, None, None
    if "@" in image:
        name, digest = image.split("@", 1)
    elif ":" in image.rsplit("/", 1)[-1]:
        name, tag = image.rsplit(":", 1)
    else:
        tag = "latest"

    async def work(services: Services) -> dict[str, object]:
        if not name:
            raise InvalidRequest("IMAGE is REPO[:TAG] or REPO@DIGEST")
        ref = RepositoryRef.parse(name, account_id or services.default_account_id)
        found, statuses = await services.replication.of(ref, ImageId(digest, tag))
        return {
            "repositoryName": name,
            "imageDigest": found,
            "replicationStatuses": [
                {
                    **status_document(s),
                    "failureReason": s.failure_reason,
                    "updatedAt": s.updated_at.isoformat(),
                }
                for s in statuses
            ],
        }

    emit(output, _with_services(work))


@destination.command("test")
@click.argument("name")
@click.option(
    "--repository", default="replication-test", show_default=True,
    help="The repository whose permissions are reported (nothing is written there).",
)  # fmt: skip
@output_option
def test_destination(name: str, repository: str, output: Output | None) -> None:
    """Sign in at destination NAME (REGION/REGISTRY_ID, as `list` shows it) with its
    registered credentials and report what they may do there; exit status 1 when they
    cannot replicate (not signed in, or no pull and push)."""
    region, _, registry_id = name.partition("/")

    async def work(services: Services) -> dict[str, Any]:
        from strongroom.replication.probe import probe  # loads httpx: only for this command

        check_target(region, registry_id)
        found = await services.replication_destinations.find(region, registry_id)
        if found is None:
            raise NotFound(f"no replication destination for region {region} and registry {registry_id}")
        destination, secret = found
        path = repository_at(destination.kind, destination.registry_id, repository)
        report = await probe(destination.url, path, (destination.access_key_id, secret))
        return {"region": region, "registryId": registry_id, "kind": destination.kind, **report.document()}

    result = _with_services(work)
    emit(output, result)
    if result["mayReplicate"] is False:
        sys.exit(1)
