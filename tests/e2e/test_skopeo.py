"""skopeo (containers/image) against a real Strongroom process.

Images are OCI layouts written by ``support.images``; skopeo pushes them, reads them back,
lists, inspects and deletes them. Content is compared byte for byte: a registry may not
rewrite a manifest or a blob.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest

from support.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    Image,
    ImageIndex,
    OciLayout,
    build_image,
    build_index,
    read_tar,
    sha256_digest,
)
from support.server import RunningServer

if TYPE_CHECKING:
    from e2e.conftest import Cli

pytestmark = pytest.mark.e2e

REPO = "team/project/model"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ACCEPT_ALL = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))


def docker_ref(server: RunningServer, repository: str, reference: str) -> str:
    separator = "@" if reference.startswith("sha256:") else ":"
    return f"docker://{server.registry}/{repository}{separator}{reference}"


def creds(server: RunningServer) -> str:
    return f"{server.user}:{server.password}"


def push(
    skopeo: Cli, server: RunningServer, layout: OciLayout, tag: str, repository: str, *flags: str
) -> None:
    skopeo.run(
        "copy", "--all", "--quiet", "--dest-tls-verify=false", "--dest-creds", creds(server), *flags,
        f"oci:{layout.path}:{tag}", docker_ref(server, repository, tag),
    )  # fmt: skip


def pull(skopeo: Cli, server: RunningServer, repository: str, tag: str, layout_path: Path) -> OciLayout:
    skopeo.run(
        "copy", "--all", "--quiet", "--preserve-digests", "--src-tls-verify=false",
        "--src-creds", creds(server),
        docker_ref(server, repository, tag), f"oci:{layout_path}:{tag}",
    )  # fmt: skip
    return OciLayout(layout_path)


def source_layout(tmp_path: Path, **tags: Image | ImageIndex) -> OciLayout:
    """An OCI layout at ``<tmp_path>/source`` holding ``tags``."""
    layout = OciLayout.create(tmp_path / "source")
    for tag, image in tags.items():
        layout.add(tag, image)
    return layout


def test_oci_layout_round_trip_is_byte_identical(
    shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    rng = random.Random(1)
    image, index = build_image(rng), build_index(rng)
    source = source_layout(tmp_path, single=image, multi=index)

    for tag in ("single", "multi"):
        push(skopeo, shared_server, source, tag, REPO, "--preserve-digests")
    copied = tmp_path / "copied"
    for tag in ("single", "multi"):
        pull(skopeo, shared_server, REPO, tag, copied)
    result = OciLayout(copied)

    for tag, pushed in (("single", image), ("multi", index)):
        descriptor = result.descriptor(tag)
        assert descriptor["digest"] == pushed.manifest.digest
        assert descriptor["mediaType"] == pushed.manifest.media_type
        assert descriptor["size"] == pushed.manifest.size
    assert result.blob_digests() == source.blob_digests()
    for digest in source.blob_digests():
        data = result.read_blob(digest)
        assert sha256_digest(data) == digest
        assert data == source.read_blob(digest), f"blob {digest} differs after the round trip"

    with shared_server.client() as http:
        served = http.get(f"/v2/{REPO}/manifests/multi", headers={"Accept": ACCEPT_ALL})
    assert served.status_code == 200
    assert served.headers["content-type"] == OCI_INDEX
    assert served.headers["docker-content-digest"] == index.index.digest
    assert served.content == index.index.data


def test_inspect_raw_is_byte_identical_and_list_tags_lists_every_tag(
    shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    repository = "team/inspect/model"
    rng = random.Random(2)
    image, index = build_image(rng, layers=1), build_index(rng)
    source = source_layout(tmp_path, v1=image, v2=image, multi=index)
    for tag in ("v1", "v2", "multi"):
        push(skopeo, shared_server, source, tag, repository)
    options = ("--tls-verify=false", "--creds", creds(shared_server))

    for tag, pushed in (("v1", image), ("multi", index)):
        raw = skopeo.run("inspect", "--raw", *options, docker_ref(shared_server, repository, tag))
        assert raw.stdout.encode() == pushed.manifest.data
    by_digest = skopeo.output(
        "inspect", "--raw", *options, docker_ref(shared_server, repository, image.manifest.digest)
    )
    assert by_digest.encode() == image.manifest.data

    details = json.loads(skopeo.output("inspect", *options, docker_ref(shared_server, repository, "v2")))
    assert details["Digest"] == image.manifest.digest
    assert details["Layers"] == [layer.digest for layer in image.layers]
    assert details["Architecture"] == "amd64"

    listed = json.loads(
        skopeo.output("list-tags", *options, f"docker://{shared_server.registry}/{repository}")
    )
    assert listed["Repository"] == f"{shared_server.registry}/{repository}"
    assert sorted(listed["Tags"]) == ["multi", "v1", "v2"]


def test_docker_schema2_copy_is_served_with_the_docker_media_type(
    shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    repository = "team/docker-format/app"
    image = build_image(random.Random(3))
    source = source_layout(tmp_path, v1=image)
    push(skopeo, shared_server, source, "v1", repository, "--format", "v2s2")

    with shared_server.client() as http:
        served = http.get(f"/v2/{repository}/manifests/v1", headers={"Accept": ACCEPT_ALL})
        head = http.head(f"/v2/{repository}/manifests/v1", headers={"Accept": ACCEPT_ALL})
    assert served.status_code == 200
    assert served.headers["content-type"] == DOCKER_MANIFEST
    assert served.headers["docker-content-digest"] == sha256_digest(served.content)
    manifest = served.json()
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == DOCKER_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [DOCKER_LAYER_GZIP] * len(image.layers)
    # Converting the manifest format re-labels blobs; it must not re-compress them.
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.digest for layer in image.layers]

    assert head.status_code == 200
    assert head.headers["content-type"] == DOCKER_MANIFEST
    assert head.headers["docker-content-digest"] == served.headers["docker-content-digest"]
    assert int(head.headers["content-length"]) == len(served.content)

    raw = skopeo.output(
        "inspect", "--raw", "--tls-verify=false", "--creds", creds(shared_server),
        docker_ref(shared_server, repository, "v1"),
    )  # fmt: skip
    assert raw.encode() == served.content


def test_docker_manifest_list_copy_is_served_with_the_docker_media_types(
    shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    repository = "team/docker-format/multi"
    index = build_index(random.Random(31))
    source = source_layout(tmp_path, multi=index)
    push(skopeo, shared_server, source, "multi", repository, "--format", "v2s2")

    with shared_server.client() as http:
        served = http.get(f"/v2/{repository}/manifests/multi", headers={"Accept": ACCEPT_ALL})
        assert served.status_code == 200
        assert served.headers["content-type"] == DOCKER_MANIFEST_LIST
        manifest_list = served.json()
        assert manifest_list["mediaType"] == DOCKER_MANIFEST_LIST
        platforms = [entry["platform"] for entry in manifest_list["manifests"]]
        assert platforms == [dict(image.platform) for image in index.images]
        for entry, image in zip(manifest_list["manifests"], index.images, strict=True):
            assert entry["mediaType"] == DOCKER_MANIFEST
            child = http.get(f"/v2/{repository}/manifests/{entry['digest']}", headers={"Accept": ACCEPT_ALL})
            assert child.status_code == 200
            assert child.headers["content-type"] == DOCKER_MANIFEST
            assert sha256_digest(child.content) == entry["digest"]
            assert len(child.content) == entry["size"]
            layers = [layer["digest"] for layer in child.json()["layers"]]
            assert layers == [layer.digest for layer in image.layers]


def test_registry_to_registry_copy_mounts_every_blob(
    shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    image = build_image(random.Random(32))
    push(skopeo, shared_server, source_layout(tmp_path, v1=image), "v1", "team/mount/source")
    auth = ("--src-creds", creds(shared_server), "--dest-creds", creds(shared_server))

    copied = skopeo.run(
        "--debug", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", *auth,
        docker_ref(shared_server, "team/mount/source", "v1"),
        docker_ref(shared_server, "team/mount/target", "v1"),
    )  # fmt: skip

    # containers/image logs each accepted mount (POST ?mount=&from= answered 201) at debug level.
    # It mounts layers only; the config it uploads again.
    assert copied.stderr.count("mount OK") == len(image.layers), copied.stderr
    with shared_server.client() as http:
        manifest = http.get("/v2/team/mount/target/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert manifest.content == image.manifest.data
        for blob in (image.config, *image.layers):
            served = http.get(f"/v2/team/mount/target/blobs/{blob.digest}")
            assert served.status_code == 200
            assert served.content == blob.data


def test_zstd_layers_keep_their_media_type_and_content(
    shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    repository = "team/zstd/model"
    image = build_image(random.Random(33))
    push(skopeo, shared_server, source_layout(tmp_path, v1=image), "v1", repository,
         "--dest-compress-format", "zstd")  # fmt: skip

    with shared_server.client() as http:
        manifest = http.get(f"/v2/{repository}/manifests/v1", headers={"Accept": OCI_MANIFEST}).json()
        layers = [http.get(f"/v2/{repository}/blobs/{layer['digest']}") for layer in manifest["layers"]]
    assert [layer["mediaType"] for layer in manifest["layers"]] == [OCI_LAYER_ZSTD] * len(image.layers)
    for descriptor, served in zip(manifest["layers"], layers, strict=True):
        assert served.status_code == 200
        assert sha256_digest(served.content) == descriptor["digest"]
        assert served.content.startswith(ZSTD_MAGIC)
    # Read back through skopeo, decompressed to plain tar, the files are the ones built.
    out = tmp_path / "decompressed"
    skopeo.run(
        "copy", "--quiet", "--src-tls-verify=false", "--src-creds", creds(shared_server), "--dest-decompress",
        docker_ref(shared_server, repository, "v1"), f"dir:{out}",
    )  # fmt: skip
    pulled = json.loads((out / "manifest.json").read_bytes())
    files: dict[str, bytes] = {}
    for layer in pulled["layers"]:
        files.update(read_tar((out / layer["digest"].split(":", 1)[1]).read_bytes()))
    assert files == image.files


def test_delete_by_digest_then_the_manifest_is_gone(
    shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    repository = "team/delete/model"
    keep, doomed = build_image(random.Random(41), layers=1), build_image(random.Random(42), layers=1)
    source = source_layout(tmp_path, keep=keep, doomed=doomed)
    push(skopeo, shared_server, source, "keep", repository)
    push(skopeo, shared_server, source, "doomed", repository)
    options = ("--tls-verify=false", "--creds", creds(shared_server))

    skopeo.run("delete", *options, docker_ref(shared_server, repository, doomed.manifest.digest))

    with shared_server.client() as http:
        by_digest = http.get(f"/v2/{repository}/manifests/{doomed.manifest.digest}")
        by_tag = http.get(f"/v2/{repository}/manifests/doomed")
        kept = http.get(f"/v2/{repository}/manifests/keep", headers={"Accept": ACCEPT_ALL})
    assert by_digest.status_code == 404
    assert by_digest.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert by_tag.status_code == 404, "deleting a manifest by digest must remove the tags pointing at it"
    assert kept.status_code == 200
    assert kept.content == keep.manifest.data

    skopeo.fails("inspect", "--raw", *options, docker_ref(shared_server, repository, doomed.manifest.digest))
    listed = json.loads(
        skopeo.output("list-tags", *options, f"docker://{shared_server.registry}/{repository}")
    )
    assert listed["Tags"] == ["keep"]


def test_login_checks_the_password_and_the_auth_file_then_works(
    shared_server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    authfile = tmp_path / "login" / "auth.json"
    login = ("login", "--tls-verify=false", "--authfile", str(authfile))

    rejected = skopeo.fails(*login, "--username", shared_server.user, "--password", "wrong-password",
                            shared_server.registry)  # fmt: skip
    assert "invalid username/password" in rejected.stderr  # containers/image: the registry said 401
    assert not authfile.exists() or shared_server.registry not in json.loads(authfile.read_text())["auths"]

    skopeo.run(*login, "--username", shared_server.user, "--password-stdin", shared_server.registry,
               stdin=shared_server.password + "\n")  # fmt: skip
    assert shared_server.registry in json.loads(authfile.read_text())["auths"]

    repository = "team/login/model"
    image = build_image(random.Random(5), layers=1)
    source = source_layout(tmp_path, v1=image)
    skopeo.run(
        "copy", "--quiet", "--dest-tls-verify=false", "--authfile", str(authfile),
        f"oci:{source.path}:v1", docker_ref(shared_server, repository, "v1"),
    )  # fmt: skip
    listed = skopeo.output("list-tags", "--tls-verify=false", "--authfile", str(authfile),
                           f"docker://{shared_server.registry}/{repository}")  # fmt: skip
    assert json.loads(listed)["Tags"] == ["v1"]

    anonymous = skopeo.fails("list-tags", "--tls-verify=false", "--no-creds",
                             f"docker://{shared_server.registry}/{repository}")  # fmt: skip
    assert "invalid username/password" in anonymous.stderr


def test_catalog_lists_pushed_repositories_page_by_page(
    server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    repositories = ["alpha", "team/a/model", "team/b/model", "team/b/model-2", "zeta/x"]
    source = source_layout(tmp_path, v1=build_image(random.Random(6), layers=1))
    for repository in repositories:
        push(skopeo, server, source, "v1", repository)

    with server.client() as http:
        everything = http.get("/v2/_catalog")
        assert everything.status_code == 200
        assert everything.json()["repositories"] == sorted(repositories)
        assert "link" not in everything.headers

        pages: list[list[str]] = []
        url: str | None = "/v2/_catalog?n=2"
        for _ in range(len(repositories) + 1):
            if url is None:
                break
            page = http.get(url)
            assert page.status_code == 200
            pages.append(page.json()["repositories"])
            url = _next_link(page.headers.get("link"))
        else:
            pytest.fail(f"catalog pagination did not end: {pages}")
    assert pages == [sorted(repositories)[0:2], sorted(repositories)[2:4], sorted(repositories)[4:]]


def _next_link(header: str | None) -> str | None:
    """The target of ``Link: <url>; rel="next"``, checked to keep ``n``."""
    if header is None:
        return None
    target, _, rel = header.partition(";")
    assert rel.strip() == 'rel="next"', header
    url = target.strip().removeprefix("<").removesuffix(">")
    query = parse_qs(urlsplit(url).query)
    assert query["n"] == ["2"], header
    assert urlsplit(url).path == "/v2/_catalog", header
    return url
