"""Continuous scanning end to end: a real server, an image pushed with skopeo and
scanned, then ``strongroom vulndb import`` of an advisory published later and of its
withdrawal; the image's findings follow through boto3 without its layers being read
again (they are gone from the store), and the events reach a loopback webhook. An
image past its rescan duration is SCAN_ELIGIBILITY_EXPIRED and left alone."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import Cli
from support import osv
from support.aws import aws_client
from support.scans import (
    APP,
    EXPECTED,
    NEW_ADVISORY,
    OTHER_APP,
    all_findings,
    finished_scan,
    layout,
    new_advisory,
    push,
    scan_events,
    wait_for,
)
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

FAST_JOBS = {"STRONGROOM_JOB_POLL_SECONDS": "0.1", "STRONGROOM_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}


class Receiver:
    """A loopback webhook receiver that keeps the CloudEvents it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, event_type: str, name: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            for event in list(self.received):
                listed = {f["name"] for f in event["data"].get("findings", [])}
                if event["type"] == "io.strongroom." + event_type and name in listed:
                    return event
            return None

        return dict(wait_for(check, timeout=90))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    try:
        yield running
    finally:
        running.close()


def rule(frequency: str, pattern: str) -> dict[str, Any]:
    return {"scanFrequency": frequency, "repositoryFilters": [{"filter": pattern, "filterType": "WILDCARD"}]}


def import_records(server: RunningServer, path: Path, *documents: dict[str, Any]) -> dict[str, Any]:
    path.write_text(json.dumps(list(documents)))
    return dict(server.cli_json("vulndb", "import", str(path), "--output", "json"))


def names(ecr: Any, repository: str) -> set[str]:
    return {
        f["packageVulnerabilityDetails"]["vulnerabilityId"]
        for f in all_findings(ecr, repository, "v1", "enhancedFindings", page=100)
        if "packageVulnerabilityDetails" in f
    }


def reevaluations_done(server: RunningServer) -> int:
    """The re-evaluations imports queued (not the periodic expiry checks) that are done."""
    jobs = server.cli_json("jobs", "list", "--kind", "scan.reevaluate", "--output", "json")["jobs"]
    assert all(job["state"] in ("queued", "running", "succeeded") for job in jobs), jobs
    return sum(job["state"] == "succeeded" and "state" in job["payload"] for job in jobs)


def test_an_imported_advisory_reaches_a_scanned_image_without_reading_its_layers_and_its_withdrawal_closes_it(
    tmp_path: Path, skopeo: Cli, receiver: Receiver
) -> None:
    server = start_server(tmp_path / "data", env=FAST_JOBS)
    try:
        server.cli("vulndb", "import", str(osv.RECORDS_DIR))
        ecr = aws_client(server, "ecr")
        server.cli(
            "webhook", "create", "--url", receiver.url, "--events", "scan.finding.new,scan.finding.closed"
        )
        ecr.put_registry_scanning_configuration(
            scanType="ENHANCED", rules=[rule("CONTINUOUS_SCAN", "live/*"), rule("SCAN_ON_PUSH", "once/*")]
        )
        push(skopeo, server, layout(tmp_path / "app", APP), "live/app:v1")
        push(skopeo, server, layout(tmp_path / "other", OTHER_APP), "once/app:v1")
        for repository in ("live/app", "once/app"):
            assert finished_scan(ecr, repository, "v1")["imageScanStatus"]["status"] == "COMPLETE"
        before = names(ecr, "live/app")
        assert before == {name for name, _, package, _ in EXPECTED if package}
        receiver.wait_for("scan.finding.new", "CVE-2024-2961")  # the push's scan, delivered
        # Every layer file leaves the store, as a disk fault would: re-evaluation must not need them.
        for descriptor in json.loads((tmp_path / "app" / "index.json").read_text())["manifests"]:
            manifest = tmp_path / "app" / "blobs" / "sha256" / descriptor["digest"].split(":")[1]
            for layer in json.loads(manifest.read_text())["layers"]:
                for path in (server.data_dir / "storage").rglob(layer["digest"].split(":")[1] + "*"):
                    path.unlink()

        imported = import_records(server, tmp_path / "new.json", new_advisory())
        assert (imported["added"], imported["reevaluationQueued"]) == (1, True)
        again = import_records(server, tmp_path / "new.json", new_advisory())
        assert (again["unchanged"], again["reevaluationQueued"]) == (1, False)
        new = receiver.wait_for("scan.finding.new", NEW_ADVISORY)
        assert new["data"]["repository-name"] == "live/app"
        assert [f["name"] for f in new["data"]["findings"]] == [NEW_ADVISORY]
        assert names(ecr, "live/app") == before | {NEW_ADVISORY}
        assert NEW_ADVISORY not in names(ecr, "once/app")  # scanned on push, not continuously
        response = finished_scan(ecr, "live/app", "v1")
        assert response["imageScanStatus"]["status"] == "COMPLETE"
        assert response["imageScanFindings"]["findingSeverityCounts"]["HIGH"] == 3
        # The re-evaluation read no layer: none analysed, both from the stored inventories,
        # and no full scan was queued in its place.
        evaluated = [e for e in scan_events(server) if e["data"]["repository-name"] == "live/app"]
        assert [(e["data"]["layers-analysed"], e["data"]["layers-from-cache"]) for e in evaluated] == [
            (2, 0),
            (0, 2),
        ]  # the push's scan, then the re-evaluation
        scans = server.cli_json("jobs", "list", "--kind", "scan.image", "--output", "json")["jobs"]
        assert len(scans) == 2
        # The fixtures' import queued one too (nothing to re-evaluate then).
        wait_for(lambda: True if reevaluations_done(server) == 2 else None, timeout=60)

        withdrawn = import_records(server, tmp_path / "withdrawn.json", new_advisory(withdrawn=True))
        assert (withdrawn["withdrawn"], withdrawn["reevaluationQueued"]) == (1, True)
        closed = receiver.wait_for("scan.finding.closed", NEW_ADVISORY)
        assert closed["data"]["repository-name"] == "live/app"
        assert names(ecr, "live/app") == before
        wait_for(lambda: True if reevaluations_done(server) == 3 else None, timeout=60)
        [detail] = ecr.describe_images(repositoryName="live/app")["imageDetails"]
        assert detail["imageScanStatus"]["status"] == "COMPLETE"
        assert "HIGH" in detail["imageScanFindingsSummary"]["findingSeverityCounts"]
    finally:
        server.stop()


def test_an_image_past_its_rescan_duration_expires_and_is_no_longer_re_evaluated(
    tmp_path: Path, skopeo: Cli
) -> None:
    server = start_server(tmp_path / "data", env={**FAST_JOBS, "STRONGROOM_SCAN_RESCAN_DURATION": "DAYS_14"})
    try:
        server.cli("vulndb", "import", str(osv.RECORDS_DIR))
        ecr = aws_client(server, "ecr")
        ecr.put_registry_scanning_configuration(scanType="ENHANCED", rules=[rule("CONTINUOUS_SCAN", "*")])
        push(skopeo, server, layout(tmp_path / "old", OTHER_APP), "team/old:v1")
        push(skopeo, server, layout(tmp_path / "new", APP), "team/new:v1")
        for repository in ("team/old", "team/new"):
            finished_scan(ecr, repository, "v1")
        # team/old was pushed 15 days ago, as far as the store knows (the server's clock is the system's).
        with sqlite3.connect(server.data_dir / "strongroom.db") as conn:
            long_ago = (datetime.now(UTC) - timedelta(days=15)).strftime("%Y-%m-%d %H:%M:%S.%f")
            conn.execute(
                "UPDATE manifests SET created_at = ? WHERE repository_id = "
                "(SELECT id FROM repositories WHERE name = 'team/old')",
                (long_ago,),
            )

        import_records(server, tmp_path / "new.json", new_advisory())
        wait_for(lambda: True if reevaluations_done(server) == 2 else None, timeout=90)
        old = ecr.describe_image_scan_findings(repositoryName="team/old", imageId={"imageTag": "v1"})
        assert old["imageScanStatus"]["status"] == "SCAN_ELIGIBILITY_EXPIRED"
        assert "DAYS_14" in old["imageScanStatus"]["description"]
        assert NEW_ADVISORY not in {
            f.get("title", "").split(" ")[0] for f in old["imageScanFindings"].get("enhancedFindings", [])
        }
        [detail] = ecr.describe_images(repositoryName="team/old")["imageDetails"]
        assert detail["imageScanStatus"]["status"] == "SCAN_ELIGIBILITY_EXPIRED"
        assert NEW_ADVISORY in names(ecr, "team/new")
    finally:
        server.stop()
