"""``strongroom scan layout`` and ``strongroom vulndb import|status``: the scan engine on
demand, against the vulnerability database in the store named by the settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import click

from strongroom.analysis.inventory import Inventory
from strongroom.analysis.severity import Severity
from strongroom.analysis.vulns.match import match
from strongroom.analysis.vulns.osv import ecosystem_of, normalise_name
from strongroom.cli.admin_api import remote_options, run_admin_api
from strongroom.cli.output import Output, emit, output_option, resolve
from strongroom.cli.store import root_settings, run_on_store
from strongroom.metadata.database import Database
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.vulndb import EcosystemStatus, ImportCounts, SqlVulnStore
from strongroom.scanning import vulndb
from strongroom.scanning.engine import MemoryLayerCache, ScanError, scan_manifest
from strongroom.scanning.feedsync import SyncError
from strongroom.scanning.feedsync import sync as sync_feed
from strongroom.scanning.isolation import IsolationLimits, SubprocessAnalyser
from strongroom.scanning.layout import OciLayout, split_reference
from strongroom.scanning.reevaluate import queue_reevaluation
from strongroom.scanning.report import image_report, table
from strongroom.settings import Settings


def _wants_json(output: Output | None) -> bool:
    return resolve(output) is Output.JSON


@click.group()
def scan() -> None:
    """Scan images and models for vulnerable packages and unsafe model files."""


@scan.command("layout")
@click.argument("reference")
@output_option
@click.option(
    "--sbom", "sbom_file", type=click.Path(path_type=Path), help="Write a CycloneDX JSON SBOM here."
)
def scan_layout(reference: str, output: Output | None, sbom_file: Path | None) -> None:
    """Scan an OCI image layout on disk: PATH[:TAG] (what ``skopeo copy … oci:PATH:TAG`` writes).

    Exits 0 with findings printed; 1 when the image cannot be scanned, with the reason."""
    path, tag = split_reference(reference)
    analyser = SubprocessAnalyser(IsolationLimits(max_layer_bytes=root_settings().scan_max_layer_bytes))
    try:
        layout = OciLayout(path)
        target = layout.resolve(tag)
        scans = scan_manifest(target.digest, target.manifest, layout.open_blob, MemoryLayerCache(), analyser)
    except ScanError as error:
        raise click.ClickException(str(error)) from None

    async def work(_settings: Settings, database: Database) -> list[dict[str, Any]]:
        store = SqlVulnStore(database)
        reports = []
        for image in scans:
            lookup = await vulndb.lookup_for(store, _keys(image.inventory))
            reports.append(image_report(image, match(image.inventory, lookup)))
        return reports

    reports = run_on_store(work)
    if sbom_file is not None:
        # CycloneDX (about 3 MB) is imported only here: `strongroom serve` runs in the
        # process that imported this module, and its workers are forked from it.
        from strongroom.analysis.sbom import cyclonedx_json

        sbom_file.write_text(cyclonedx_json(_combined(scans), target.reference))
    if _wants_json(output):
        emit(output, reports[0] if len(reports) == 1 else {"images": reports})
    else:
        click.echo("\n\n".join(table(report) for report in reports))


def _keys(inventory: Inventory) -> set[tuple[str, str]]:
    keys = set()
    for located in inventory.packages:
        ecosystem = ecosystem_of(located.package, inventory.os_release)
        if ecosystem is not None:
            keys.add((ecosystem, normalise_name(ecosystem, located.package.advisory_name)))
    return keys


def _combined(scans: list[Any]) -> Inventory:
    """An index's platforms in one SBOM: every platform's components."""
    combined = Inventory(os_release=scans[0].inventory.os_release if scans else None)
    for image in scans:
        combined.packages.extend(image.inventory.packages)
    return combined


@scan.command("findings")
@click.argument("reference")
@remote_options
@click.option(
    "--account-id", help="The repository's account (local store only; default: the default account)."
)
@output_option
def scan_findings(reference: str, account_id: str | None, output: Output | None) -> None:
    """An image's last scan and its open findings (packages and model files):
    REPO:TAG or REPO@DIGEST. With --endpoint, asked of that server's /admin/v1."""
    path, tag, digest = _image_reference(reference)
    document = run_admin_api(
        lambda api: api.describe_findings(path, tag=tag, digest=digest), account_id=account_id
    )
    if _wants_json(output):
        emit(output, document)
        return
    click.echo(f"{document['repository']}@{document['imageDigest']}: {document['status']}")
    if document["description"]:
        click.echo(document["description"])
    rows = [
        (
            f["severity"],
            f["name"],
            f["package"] or f["file"] or "",
            f["version"] or f["detail"] or "",
            f["fixedIn"] or "",
        )
        for f in sorted(document["findings"], key=lambda f: (-Severity(f["severity"]).rank, f["name"]))
    ]
    if not rows:
        click.echo("no findings")
        return
    header = ("SEVERITY", "FINDING", "PACKAGE / FILE", "VERSION / DETAIL", "FIXED IN")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _image_reference(reference: str) -> tuple[str, str | None, str | None]:
    """``REPO:TAG`` or ``REPO@DIGEST`` as (repository path, tag, digest)."""
    if "@" in reference:
        path, _, digest = reference.partition("@")
        return path, None, digest
    path, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:
        raise click.BadParameter("give REPO:TAG or REPO@DIGEST", param_hint="REFERENCE")
    return path, tag, None


@click.group("vulndb")
def vulndb_group() -> None:
    """The vulnerability database (OSV records), imported offline."""


@vulndb_group.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@output_option
def vulndb_import(paths: tuple[Path, ...], output: Output | None) -> None:
    """Load OSV records: JSON files, directories of them, and osv.dev's per-ecosystem all.zip.

    Idempotent: a record is replaced only by a newer ``modified``; withdrawn records stop matching."""

    async def work(_settings: Settings, database: Database) -> tuple[vulndb.ImportReport, bool]:
        store = SqlVulnStore(database)
        report = await vulndb.import_paths(store, list(paths), datetime.now(UTC))
        return report, await _reevaluate_if_changed(database, store, report.counts)

    report, reevaluating = run_on_store(work)
    counts = report.counts
    result = {
        "added": counts.added,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "withdrawn": counts.withdrawn,
        "rejected": [{"source": r.source, "reason": r.reason} for r in report.rejected],
        "reevaluationQueued": reevaluating,
    }
    if _wants_json(output):
        emit(output, result)
    else:
        click.echo(
            f"added {counts.added}, updated {counts.updated}, unchanged {counts.unchanged}, "
            f"withdrawn {counts.withdrawn}, rejected {len(report.rejected)}"
        )
        for rejected in report.rejected:
            click.echo(f"  rejected {rejected.source}: {rejected.reason}")
        if reevaluating:
            click.echo("re-evaluation of continuously scanned images queued")


async def _reevaluate_if_changed(database: Database, store: SqlVulnStore, counts: ImportCounts) -> bool:
    """Queue the re-evaluation of scanned images when the import changed the database."""
    if not (counts.added or counts.updated or counts.withdrawn):
        return False
    return await queue_reevaluation(store, SqlJobStore(database), datetime.now(UTC))


@vulndb_group.command("sync")
@click.argument("urls", nargs=-1, required=True)
@output_option
def vulndb_sync(urls: tuple[str, ...], output: Output | None) -> None:
    """Download OSV archives (osv.dev's per-ecosystem all.zip) over HTTP(S) and import them.

    Conditional (an unchanged archive costs one request), resumable (an interrupted
    download continues), verified (length and CRCs) before anything is imported."""

    async def work(settings: Settings, database: Database) -> tuple[list[dict[str, Any]], bool]:
        results = []
        changed = ImportCounts()
        for url in urls:
            try:
                fetched = await anyio.to_thread.run_sync(sync_feed, url, settings.data_dir / "vulndb")
            except SyncError as error:
                raise click.ClickException(str(error)) from None
            entry: dict[str, Any] = {"url": url, "status": fetched.status, "bytes": fetched.bytes}
            if fetched.status != "not-modified":
                report = await vulndb.import_paths(SqlVulnStore(database), [fetched.path], datetime.now(UTC))
                entry |= {"added": report.counts.added, "updated": report.counts.updated}
                entry |= {"withdrawn": report.counts.withdrawn, "rejected": len(report.rejected)}
                changed.add(report.counts)
            results.append(entry)
        return results, await _reevaluate_if_changed(database, SqlVulnStore(database), changed)

    results, reevaluating = run_on_store(work)
    if _wants_json(output):
        emit(output, {"feeds": results, "reevaluationQueued": reevaluating})
        return
    for entry in results:
        counts = (
            ""
            if entry["status"] == "not-modified"
            else f": added {entry['added']}, updated {entry['updated']}"
        )
        click.echo(f"{entry['url']} {entry['status']}{counts}")
    if reevaluating:
        click.echo("re-evaluation of continuously scanned images queued")


@vulndb_group.command("status")
@output_option
def vulndb_status(output: Output | None) -> None:
    """Ecosystems, record counts, and how old the newest record of each is."""

    async def work(_settings: Settings, database: Database) -> list[EcosystemStatus]:
        return await vulndb.status(SqlVulnStore(database))

    rows = run_on_store(work)
    now = datetime.now(UTC)
    data = [
        {
            "ecosystem": row.ecosystem,
            "records": row.records,
            "newestModified": row.newest_modified.isoformat() if row.newest_modified else None,
            "ageDays": (now - row.newest_modified).days if row.newest_modified else None,
            "lastImported": row.last_imported.isoformat() if row.last_imported else None,
        }
        for row in rows
    ]
    if _wants_json(output):
        emit(output, {"ecosystems": data})
        return
    if not data:
        click.echo("the vulnerability database is empty: strongroom vulndb import PATH...")
        return
    click.echo(f"{'ECOSYSTEM':<24} {'RECORDS':>8}  NEWEST RECORD")
    for item in data:
        click.echo(
            f"{item['ecosystem']:<24} {item['records']:>8}  {item['newestModified']} ({item['ageDays']} days)"
        )
