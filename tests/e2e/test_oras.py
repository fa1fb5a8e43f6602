"""oras-py against a real Strongroom process: artifacts, subjects and the referrers API.

oras-py 0.2.43's ``push()`` takes ``subject=`` but has no artifact-type argument, so
:class:`ArtifactRegistry` adds the top-level ``artifactType`` the way oras-go does. The
referrers index is then read over plain HTTP, where its exact headers can be checked.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oras.oci
import oras.provider
import pytest
import requests

from support.images import OCI_INDEX, OCI_MANIFEST, sha256_digest
from support.server import RunningServer

pytestmark = pytest.mark.e2e

MODEL_TYPE = "application/vnd.strongroom.model.v1"
MODEL_CONFIG = "application/vnd.strongroom.model.config.v1+json"
SIGNATURE_TYPE = "application/vnd.strongroom.signature.v1"
SBOM_CONFIG = "application/vnd.strongroom.sbom.config.v1+json"
"""The SBOM sets no artifactType: the referrers API must report its config media type."""
NO_SUCH_DIGEST = "sha256:" + "0" * 64


class ArtifactRegistry(oras.provider.Registry):  # type: ignore[misc]
    """oras-py's Registry, plus an ``artifactType`` for the next manifest it pushes."""

    artifact_type: str | None = None

    def upload_manifest(self, manifest: dict[str, Any], container: Any) -> requests.Response:
        if self.artifact_type is not None:
            manifest = {**manifest, "artifactType": self.artifact_type}
        response: requests.Response = super().upload_manifest(manifest, container)
        return response

    def push_artifact(self, target: str, artifact_type: str | None, **kwargs: Any) -> requests.Response:
        self.artifact_type = artifact_type
        try:
            response: requests.Response = self.push(
                target, disable_path_validation=True, quiet=True, **kwargs
            )
        finally:
            self.artifact_type = None
        assert response.status_code == 201, f"manifest PUT: {response.status_code} {response.text}"
        return response


@pytest.fixture
def registry(shared_server: RunningServer, tmp_path: Path) -> Iterator[ArtifactRegistry]:
    client = ArtifactRegistry(hostname=shared_server.registry, insecure=True, auth_backend="basic")
    # oras-py's login only records the credentials (in our private docker config); it sends nothing.
    client.login(
        shared_server.user,
        shared_server.password,
        hostname=shared_server.registry,
        config_path=str(tmp_path / "docker-config.json"),
    )
    try:
        yield client
    finally:
        client.session.close()


def write_files(directory: Path, rng: random.Random) -> dict[str, bytes]:
    directory.mkdir(parents=True)
    files = {
        "model.safetensors": rng.randbytes(300_000),
        "tokenizer.json": json.dumps({"vocab": {f"tok{i}": i for i in range(200)}}).encode(),
        "README.md": b"# e2e model\n\nMade by tests/e2e/test_oras.py.\n",
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return files


def push_model(registry: ArtifactRegistry, target: str, tmp_path: Path, seed: int) -> dict[str, bytes]:
    files = write_files(tmp_path / "model", random.Random(seed))
    config = tmp_path / "model-config.json"
    config.write_text(json.dumps({"framework": "e2e", "parameters": 75_000}))
    registry.push_artifact(
        target,
        MODEL_TYPE,
        files=[str(tmp_path / "model" / name) for name in files],
        manifest_config=f"{config}:{MODEL_CONFIG}",
        manifest_annotations={"org.opencontainers.image.title": "e2e model"},
        # Chunked: POST, one PATCH per 64 KiB with Content-Range, then PUT.
        do_chunked=True,
        chunk_size=64 * 1024,
    )
    return files


def test_push_then_pull_artifact_round_trip(
    registry: ArtifactRegistry, shared_server: RunningServer, tmp_path: Path
) -> None:
    target = f"{shared_server.registry}/team/oras/roundtrip:v1"
    files = push_model(registry, target, tmp_path, seed=11)

    manifest = registry.get_manifest(target)
    assert manifest["artifactType"] == MODEL_TYPE
    assert manifest["config"]["mediaType"] == MODEL_CONFIG
    titles = [layer["annotations"]["org.opencontainers.image.title"] for layer in manifest["layers"]]
    assert sorted(titles) == sorted(files)

    pulled = registry.pull(target, outdir=str(tmp_path / "pulled"))
    assert sorted(Path(path).name for path in pulled) == sorted(files)
    for name, data in files.items():
        assert (tmp_path / "pulled" / name).read_bytes() == data, name


def test_wrong_password_cannot_push(shared_server: RunningServer, tmp_path: Path) -> None:
    client = ArtifactRegistry(hostname=shared_server.registry, insecure=True, auth_backend="basic")
    client.auth.set_basic_auth(shared_server.user, "wrong-password")
    (tmp_path / "file.txt").write_text("nope")
    with pytest.raises(ValueError, match="session url"):
        client.push(
            f"{shared_server.registry}/team/oras/denied:v1",
            files=[str(tmp_path / "file.txt")],
            disable_path_validation=True,
            quiet=True,
        )
    with shared_server.client() as http:
        assert http.get("/v2/team/oras/denied/tags/list").status_code == 404


def test_referrers_list_artifacts_pushed_with_a_subject(
    registry: ArtifactRegistry, shared_server: RunningServer, tmp_path: Path
) -> None:
    repository = "team/oras/referred"
    base = f"{shared_server.registry}/{repository}"
    push_model(registry, f"{base}:model", tmp_path, seed=12)
    with shared_server.client() as http:
        served = http.get(f"/v2/{repository}/manifests/model", headers={"Accept": OCI_MANIFEST})
    subject = oras.oci.Subject(OCI_MANIFEST, sha256_digest(served.content), len(served.content))

    signature_file = tmp_path / "model.sig"
    signature_file.write_bytes(random.Random(13).randbytes(256))
    signature_annotations = {"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "e2e.kind": "sig"}
    signed = registry.push_artifact(
        f"{base}:signature",
        SIGNATURE_TYPE,
        files=[str(signature_file)],
        manifest_annotations=signature_annotations,
        subject=subject,
    )
    sbom_config = tmp_path / "sbom-config.json"
    sbom_config.write_text('{"format": "spdx"}')
    sbom_file = tmp_path / "sbom.spdx.json"
    sbom_file.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "packages": []}))
    sbom_annotations = {"e2e.kind": "sbom"}
    sbomed = registry.push_artifact(
        f"{base}:sbom",
        None,
        files=[str(sbom_file)],
        manifest_config=f"{sbom_config}:{SBOM_CONFIG}",
        manifest_annotations=sbom_annotations,
        subject=subject,
    )

    assert signed.headers["OCI-Subject"] == subject.digest
    assert sbomed.headers["OCI-Subject"] == subject.digest
    expected = {
        SIGNATURE_TYPE: _descriptor(
            shared_server, repository, "signature", SIGNATURE_TYPE, signature_annotations
        ),
        SBOM_CONFIG: _descriptor(shared_server, repository, "sbom", SBOM_CONFIG, sbom_annotations),
    }
    assert signed.headers["Docker-Content-Digest"] == expected[SIGNATURE_TYPE]["digest"]

    with shared_server.client() as http:
        everything = http.get(f"/v2/{repository}/referrers/{subject.digest}")
        signatures = http.get(
            f"/v2/{repository}/referrers/{subject.digest}", params={"artifactType": SIGNATURE_TYPE}
        )
        sboms = http.get(f"/v2/{repository}/referrers/{subject.digest}", params={"artifactType": SBOM_CONFIG})
        nothing = http.get(f"/v2/{repository}/referrers/{subject.digest}", params={"artifactType": "x/none"})
        unknown_subject = http.get(f"/v2/{repository}/referrers/{NO_SUCH_DIGEST}")

    assert _referrers(everything) == sorted(expected.values(), key=lambda d: d["digest"])
    assert "oci-filters-applied" not in everything.headers
    assert _referrers(signatures) == [expected[SIGNATURE_TYPE]]
    assert signatures.headers["OCI-Filters-Applied"] == "artifactType"
    assert _referrers(sboms) == [expected[SBOM_CONFIG]]
    assert _referrers(nothing) == []
    assert nothing.headers["OCI-Filters-Applied"] == "artifactType"
    assert _referrers(unknown_subject) == []

    # What a verifier does next: pull the referrer it discovered, by digest.
    pulled = registry.pull(f"{base}@{expected[SIGNATURE_TYPE]['digest']}", outdir=str(tmp_path / "verify"))
    assert [Path(path).read_bytes() for path in pulled] == [signature_file.read_bytes()]


def _descriptor(
    server: RunningServer, repository: str, tag: str, artifact_type: str, annotations: dict[str, str]
) -> dict[str, Any]:
    """The referrers entry expected for the manifest tagged ``tag`` (spec §8.2), from its served bytes."""
    with server.client() as http:
        manifest = http.get(f"/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    assert manifest.status_code == 200
    return {
        "mediaType": OCI_MANIFEST,
        "digest": sha256_digest(manifest.content),
        "size": len(manifest.content),
        "artifactType": artifact_type,
        "annotations": annotations,
    }


def _referrers(response: Any) -> list[dict[str, Any]]:
    """The manifests of a referrers response, checked to be a proper image index."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == OCI_INDEX  # oras-go compares the raw header
    index = response.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    return sorted(index["manifests"], key=lambda d: d["digest"])
