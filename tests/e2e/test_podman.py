"""podman against a real Strongroom process: login, push, remove, pull, compare content.

The image comes from ``podman import`` of a rootfs tarball built from generated files, one of
them 30 MiB of random data so the layer cannot compress and the push streams a large PATCH.
podman keeps its images in a private vfs store per test (see ``conftest.podman``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.images import random_files, read_tar, sha256_digest, write_rootfs_tarball
from support.server import RunningServer

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
LARGE_FILE = "opt/model/weights.bin"


def rootfs_files(rng: random.Random, large_size: int) -> dict[str, bytes]:
    files = random_files(rng, "srv/data", count=4, size=3000)
    files["etc/strongroom-e2e/release"] = b"strongroom e2e rootfs\n"
    files[LARGE_FILE] = rng.randbytes(large_size)
    return files


def import_image(podman: Cli, tmp_path: Path, files: dict[str, bytes], name: str) -> str:
    tarball = write_rootfs_tarball(tmp_path / "rootfs.tar", files)
    podman.run("import", "--quiet", str(tarball), name)
    return name


def saved_files(podman: Cli, image: str, directory: Path) -> dict[str, bytes]:
    """The regular files of a single-layer image, read back from ``podman save``."""
    podman.run("save", "--quiet", "--format", "oci-dir", "-o", str(directory), image, timeout=120)
    index = json.loads((directory / "index.json").read_bytes())
    manifest = json.loads(_blob(directory, index["manifests"][0]["digest"]))
    assert len(manifest["layers"]) == 1, manifest
    return read_tar(_blob(directory, manifest["layers"][0]["digest"]))


def _blob(layout: Path, digest: str) -> bytes:
    algorithm, hex_digest = digest.split(":", 1)
    return (layout / "blobs" / algorithm / hex_digest).read_bytes()


def test_push_remove_pull_keeps_digest_and_content(
    shared_server: RunningServer, podman: Cli, tmp_path: Path
) -> None:
    files = rootfs_files(random.Random(7), large_size=30 * MiB)
    local = import_image(podman, tmp_path, files, "localhost/e2e/rootfs:v1")
    remote = f"{shared_server.registry}/team/podman/rootfs:v1"
    digest_file = tmp_path / "pushed.digest"
    creds = f"{shared_server.user}:{shared_server.password}"

    podman.run(
        "push", "--quiet", "--tls-verify=false", "--creds", creds, "--digestfile", str(digest_file),
        local, f"docker://{remote}",
        timeout=120,
    )  # fmt: skip
    pushed_digest = digest_file.read_text().strip()

    with shared_server.client() as http:
        head = http.head("/v2/team/podman/rootfs/manifests/v1", headers={"Accept": "*/*"})
        assert head.status_code == 200
        assert head.headers["docker-content-digest"] == pushed_digest
        manifest = http.get(f"/v2/team/podman/rootfs/manifests/{pushed_digest}", headers={"Accept": "*/*"})
        assert sha256_digest(manifest.content) == pushed_digest
        (layer,) = manifest.json()["layers"]
        assert layer["size"] > 30 * MiB, "random data should not compress"
        blob = http.get(f"/v2/team/podman/rootfs/blobs/{layer['digest']}")
    assert blob.status_code == 200
    assert sha256_digest(blob.content) == layer["digest"]
    assert read_tar(blob.content) == files

    podman.run("rmi", "--force", local)
    assert podman.output("images", "--quiet") == ""

    podman.run("pull", "--quiet", "--tls-verify=false", "--creds", creds, remote, timeout=120)
    inspected = json.loads(podman.output("image", "inspect", remote))[0]
    assert inspected["Digest"] == pushed_digest
    assert f"{shared_server.registry}/team/podman/rootfs@{pushed_digest}" in inspected["RepoDigests"]
    assert saved_files(podman, remote, tmp_path / "saved") == files


def test_login_rejects_a_wrong_password_and_the_auth_file_then_serves_pushes(
    shared_server: RunningServer, podman: Cli, tmp_path: Path
) -> None:
    authfile = tmp_path / "podman-auth.json"
    login = ("login", "--tls-verify=false", "--authfile", str(authfile), "--username", shared_server.user)

    rejected = podman.fails(*login, "--password", "not-the-password", shared_server.registry)
    assert "invalid username/password" in rejected.stderr
    assert not authfile.exists() or shared_server.registry not in json.loads(authfile.read_text())["auths"]

    podman.run(*login, "--password-stdin", shared_server.registry, stdin=shared_server.password + "\n")
    assert shared_server.registry in json.loads(authfile.read_text())["auths"]

    files = rootfs_files(random.Random(8), large_size=64 * 1024)
    local = import_image(podman, tmp_path, files, "localhost/e2e/login:v1")
    remote = f"{shared_server.registry}/team/podman/login:v1"
    podman.run("push", "--quiet", "--tls-verify=false", "--authfile", str(authfile), local, remote)
    podman.run("rmi", "--force", local)
    podman.run("pull", "--quiet", "--tls-verify=false", "--authfile", str(authfile), remote)
    assert saved_files(podman, remote, tmp_path / "saved") == files

    podman.run("logout", "--authfile", str(authfile), shared_server.registry)
    podman.run("rmi", "--force", remote)
    refused = podman.fails("pull", "--quiet", "--tls-verify=false", "--authfile", str(authfile), remote)
    assert "unauthorized" in refused.stderr.lower() or "authentication required" in refused.stderr.lower()
