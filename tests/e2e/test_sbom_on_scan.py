"""The SBOM as an OCI referrer of the scanned image, end to end: an image pushed with
skopeo to a repository that scans on push gets one CycloneDX referrer, found through
the referrers API (with and without the artifactType filter) and pulled with oras-py;
the SBOM is not scanned itself; a re-scan leaves exactly one; deleting the image
deletes it (ADR 0016)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import oras.client
import pytest

from e2e.conftest import Cli
from strongroom.metadata.scans import REGISTRY_SBOM
from support import layers as img
from support import osv
from support.aws import aws_client
from support.images import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from support.scans import APP, BASE, finished_scan, layout, push, put_blob, put_manifest, wait_for
from support.server import RunningServer

pytestmark = pytest.mark.e2e

CYCLONEDX = "application/vnd.cyclonedx+json"
EMPTY = {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2}


@pytest.fixture
def ecr(server: RunningServer) -> Any:
    server.cli("vulndb", "import", str(osv.RECORDS_DIR))
    return aws_client(server, "ecr")


def referrers(http: httpx.Client, name: str, digest: str, **params: str) -> httpx.Response:
    response = http.get(f"/v2/{name}/referrers/{digest}", params=params)
    assert response.status_code == 200, response.text
    return response


def sboms(http: httpx.Client, name: str, digest: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = referrers(http, name, digest).json()["manifests"]
    return [m for m in found if m.get("artifactType") == CYCLONEDX]


def pull(server: RunningServer, target: str, directory: Path) -> dict[str, Any]:
    client = oras.client.OrasClient(hostname=server.registry, insecure=True, auth_backend="basic")
    client.login(
        server.user, server.password, hostname=server.registry, config_path=str(directory / "config.json")
    )
    [path] = client.pull(target=target, outdir=str(directory / "pulled"))
    assert Path(path).name == "sbom.cyclonedx.json"
    document: dict[str, Any] = json.loads(Path(path).read_text())
    return document


def test_a_scanned_image_gets_one_cyclonedx_referrer_that_oras_pulls(
    server: RunningServer, ecr: Any, skopeo: Cli, tmp_path: Path
) -> None:
    ecr.create_repository(repositoryName="team/app", imageScanningConfiguration={"scanOnPush": True})
    push(skopeo, server, layout(tmp_path / "app", APP), "team/app:v1")
    assert finished_scan(ecr, "team/app", "v1")["imageScanStatus"]["status"] == "COMPLETE"
    [image] = ecr.describe_images(repositoryName="team/app", imageIds=[{"imageTag": "v1"}])["imageDetails"]
    digest = image["imageDigest"]

    with httpx.Client(base_url=server.url, auth=server.auth) as http:
        unfiltered = referrers(http, "team/app", digest)
        assert "OCI-Filters-Applied" not in unfiltered.headers
        [sbom] = unfiltered.json()["manifests"]
        assert sbom["artifactType"] == CYCLONEDX
        assert sbom["mediaType"] == OCI_MANIFEST
        assert sbom["annotations"]["dev.strongroom.scan.analyser-version"]
        assert sbom["annotations"]["org.opencontainers.image.created"].endswith("Z")
        filtered = referrers(http, "team/app", digest, artifactType=CYCLONEDX)
        assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
        assert filtered.json()["manifests"] == [sbom]
        assert (
            referrers(http, "team/app", digest, artifactType="application/vnd.example").json()["manifests"]
            == []
        )

        manifest = http.get(
            f"/v2/team/app/manifests/{sbom['digest']}", headers={"Accept": OCI_MANIFEST}
        ).json()
        assert manifest["subject"]["digest"] == digest
        assert {k: manifest["config"][k] for k in EMPTY} == EMPTY
        assert [layer["mediaType"] for layer in manifest["layers"]] == [CYCLONEDX]
        # The SBOM is untagged, recorded as scanned when stored (it is not scanned itself:
        # it holds what the image's scan found), and has no SBOM of its own.
        assert http.get("/v2/team/app/tags/list").json()["tags"] == ["v1"]
        assert referrers(http, "team/app", sbom["digest"]).json()["manifests"] == []
    scanned = ecr.describe_image_scan_findings(
        repositoryName="team/app", imageId={"imageDigest": sbom["digest"]}
    )
    assert scanned["imageScanStatus"] == {"status": "COMPLETE", "description": REGISTRY_SBOM}
    assert scanned["imageScanFindings"].get("findings", []) == []

    document = pull(server, f"{server.registry}/team/app@{sbom['digest']}", tmp_path)
    assert document["bomFormat"] == "CycloneDX"
    assert document["metadata"]["component"]["name"] == f"team/app@{digest}"
    purls = {component["purl"] for component in document["components"]}
    assert "pkg:npm/lodash@4.17.20" in purls
    assert any(p.startswith("pkg:deb/debian/libc6@2.36-9%2Bdeb12u4") for p in purls)
    assert any(p.startswith("pkg:deb/debian/openssh-client@") for p in purls)

    exported = [json.loads(line)["event"] for line in server.cli("audit", "export").stdout.splitlines()]
    pushed = [
        e for e in exported if e["action"] == "ecr:PutImage" and e["detail"].get("digest") == sbom["digest"]
    ]
    assert [e["principal"] for e in pushed] == ["strongroom:scanner"]


def test_a_rescan_leaves_one_sbom_and_deleting_the_image_deletes_it(
    server: RunningServer, ecr: Any, skopeo: Cli, tmp_path: Path
) -> None:
    ecr.create_repository(repositoryName="team/app", imageScanningConfiguration={"scanOnPush": True})
    push(skopeo, server, layout(tmp_path / "app", APP), "team/app:v1")
    finished_scan(ecr, "team/app", "v1")
    [image] = ecr.describe_images(repositoryName="team/app", imageIds=[{"imageTag": "v1"}])["imageDetails"]
    digest = image["imageDigest"]

    with httpx.Client(base_url=server.url, auth=server.auth) as http:
        [first] = sboms(http, "team/app", digest)
        # An SBOM the registry made with an older analyser: the re-scan must replace it.
        subject = http.get(f"/v2/team/app/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
        old = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": CYCLONEDX,
            "config": {**put_blob(http, "team/app", b"{}"), "mediaType": EMPTY["mediaType"]},
            "layers": [{**put_blob(http, "team/app", b'{"bomFormat": "CycloneDX"}'), "mediaType": CYCLONEDX}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(subject.content)},
            "annotations": {
                "dev.strongroom.sbom.created-by": "strongroom-scan",
                "dev.strongroom.scan.analyser-version": "0",
            },
        }
        put_manifest(http, "team/app", old)
        # A client's own SBOM referrer: never touched by the registry.
        theirs = {**old, "annotations": {"org.opencontainers.image.title": "client sbom"}}
        client_digest = put_manifest(http, "team/app", theirs)
        assert len(sboms(http, "team/app", digest)) == 3

        ecr.start_image_scan(repositoryName="team/app", imageId={"imageTag": "v1"})
        finished_scan(ecr, "team/app", "v1")
        after = sboms(http, "team/app", digest)
        # The same inventory gives the same SBOM, kept as it was; the older one is gone.
        assert sorted(m["digest"] for m in after) == sorted([first["digest"], client_digest])

        assert http.delete(f"/v2/team/app/manifests/{digest}").status_code == 202

        def pruned() -> bool | None:
            gone = http.get(f"/v2/team/app/manifests/{first['digest']}", headers={"Accept": OCI_MANIFEST})
            return True if gone.status_code == 404 else None

        wait_for(pruned, timeout=60)
        left = http.get(f"/v2/team/app/manifests/{client_digest}", headers={"Accept": OCI_MANIFEST})
        assert left.status_code == 200  # the client's referrer stays, as any orphan referrer does


def test_an_index_gets_one_sbom_per_platform_manifest_and_none_of_its_own(
    server: RunningServer, ecr: Any
) -> None:
    name = "multi/app"
    ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": True})
    platforms = []
    with httpx.Client(base_url=server.url, auth=server.auth) as http:
        layers = [
            {"mediaType": img.media_type("gzip"), **put_blob(http, name, BASE)},
            {"mediaType": img.media_type("zstd"), **put_blob(http, name, APP)},
        ]
        for architecture in ("amd64", "arm64"):
            config = json.dumps({"architecture": architecture, "os": "linux", "rootfs": {"type": "layers"}})
            manifest = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **put_blob(http, name, config.encode())},
                "layers": layers,
            }
            digest = put_manifest(http, name, manifest)
            size = len(json.dumps(manifest).encode())
            platform = {"os": "linux", "architecture": architecture}
            platforms.append(
                {"mediaType": OCI_MANIFEST, "digest": digest, "size": size, "platform": platform}
            )
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": platforms}).encode()
        stored = http.put(f"/v2/{name}/manifests/v1", content=index, headers={"Content-Type": OCI_INDEX})
        assert stored.status_code == 201, stored.text

        # Each platform is scanned twice (its own push, then the index's): still one SBOM each.
        def all_scanned() -> bool | None:
            events = server.cli_json("events", "list", "--type", "scan.complete", "--output", "json")[
                "events"
            ]
            return True if len(events) == 3 else None

        wait_for(all_scanned)
        assert finished_scan(ecr, name, "v1")["imageScanStatus"]["status"] == "COMPLETE"
        for platform in platforms:
            [sbom] = sboms(http, name, platform["digest"])
            manifest = http.get(
                f"/v2/{name}/manifests/{sbom['digest']}", headers={"Accept": OCI_MANIFEST}
            ).json()
            assert manifest["subject"] == {k: platform[k] for k in ("mediaType", "digest", "size")}
        assert sboms(http, name, stored.headers["docker-content-digest"]) == []
