"""Inventory of layers built in the tests: every cataloger, every compression, whiteouts."""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from strongroom.analysis.inventory import Inventory, analyse_layer, merge
from strongroom.analysis.layers import LayerError
from strongroom.analysis.packages.model import Kind, OsRelease
from support import builds, models
from support import layers as img
from support.tools import require

VENV_SITE = Path(__import__("packaging").__file__).parents[1]


def spool(stream: object) -> io.BytesIO:
    return io.BytesIO(stream.read())  # type: ignore[attr-defined]


def inventory(*layers: bytes) -> Inventory:
    return merge([(f"sha256:{i}", analyse_layer(io.BytesIO(data), spool)) for i, data in enumerate(layers)])


def found(inv: Inventory) -> set[tuple[str, str, str, str, str]]:
    return {
        (p.package.kind, p.package.name, p.package.version, p.package.source_name, p.package.source_version)
        for p in inv.packages
    }


def test_dpkg_status_installed_packages_with_their_sources() -> None:
    inv = inventory(
        img.layer({"var/lib/dpkg/status": img.DPKG_STATUS, "etc/os-release": img.DEBIAN_OS_RELEASE})
    )
    assert found(inv) == {
        (Kind.DEB, "libc6", "2.36-9+deb12u4", "glibc", "2.36-9+deb12u4"),
        (Kind.DEB, "libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
        (Kind.DEB, "bash", "5.2.15-2+b2", "bash", "5.2.15-2"),
        (Kind.DEB, "openssh-client", "1:9.2p1-2+deb12u2", "openssh", "1:9.2p1-2+deb12u2"),
        (Kind.DEB, "tzdata", "2024a-0+deb12u1", "tzdata", "2024a-0+deb12u1"),
    }
    assert inv.os_release == OsRelease("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm")


def test_distroless_status_d_files() -> None:
    stanza = b"Package: libssl3\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n"
    inv = inventory(
        img.layer(
            {"var/lib/dpkg/status.d/libssl3": stanza, "var/lib/dpkg/status.d/libssl3.md5sums": b"x  y\n"}
        )
    )
    assert found(inv) == {(Kind.DEB, "libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2")}


def test_apk_installed_database() -> None:
    inv = inventory(
        img.layer({"lib/apk/db/installed": img.APK_INSTALLED, "etc/os-release": img.ALPINE_OS_RELEASE})
    )
    assert found(inv) == {
        (Kind.APK, "musl", "1.2.4_git20230717-r4", "musl", "1.2.4_git20230717-r4"),
        (Kind.APK, "libcrypto3", "3.1.4-r5", "openssl", "3.1.4-r5"),
        (Kind.APK, "busybox", "1.36.1-r15", "busybox", "1.36.1-r15"),
    }
    assert inv.os_release is not None and (inv.os_release.id, inv.os_release.version_id) == (
        "alpine",
        "3.19.1",
    )


def real_dist_info(name: str) -> dict[str, bytes]:
    """A dist-info directory copied from this test's own virtual environment."""
    (directory,) = VENV_SITE.glob(f"{name}-*.dist-info")
    return {f"usr/lib/python3/dist-packages/{directory.name}/METADATA": (directory / "METADATA").read_bytes()}


def test_python_dist_info_copied_from_the_venv_and_egg_info() -> None:
    import packaging
    import sqlalchemy

    files = {**real_dist_info("packaging"), **real_dist_info("sqlalchemy")}
    files["opt/app/legacy_thing.egg-info"] = b"Metadata-Version: 1.1\nName: Legacy_Thing\nVersion: 0.9\n"
    inv = inventory(img.layer(files))
    assert found(inv) == {
        (Kind.PYPI, "packaging", packaging.__version__, "", ""),
        (Kind.PYPI, "sqlalchemy", sqlalchemy.__version__, "", ""),
        (Kind.PYPI, "legacy-thing", "0.9", "", ""),
    }


MINIMIST = b'{"name": "minimist", "version": "1.2.5"}'


def test_npm_packages_nested_and_scoped() -> None:
    inv = inventory(
        img.layer(
            {
                "app/node_modules/lodash/package.json": b'{"name": "lodash", "version": "4.17.20"}',
                "app/node_modules/@babel/core/package.json": b'{"name": "@babel/core", "version": "7.22.0"}',
                "app/node_modules/x/node_modules/minimist/package.json": MINIMIST,
                "app/node_modules/lodash/fp/package.json": b'{"name": "not-a-package", "version": "1"}',
                "app/package.json": b'{"name": "my-app", "version": "1.0.0"}',
            }
        )
    )
    assert {(name, version) for _, name, version, _, _ in found(inv)} == {
        ("lodash", "4.17.20"),
        ("@babel/core", "7.22.0"),
        ("minimist", "1.2.5"),
    }


def test_java_archives_with_nested_jars() -> None:
    def jar(members: dict[str, bytes]) -> bytes:
        return models.zip_of(members)

    yaml = b"groupId=org.yaml\nartifactId=snakeyaml\nversion=1.33\n"
    inner = jar({"META-INF/maven/org.yaml/snakeyaml/pom.properties": yaml})
    app = b"#c\nversion=2.0\ngroupId=com.example\nartifactId=app\n"
    outer = jar(
        {
            "META-INF/maven/com.example/app/pom.properties": app,
            "BOOT-INF/lib/snakeyaml-1.33.jar": inner,
        }
    )
    inv = inventory(img.layer({"app/app.jar": outer}))
    assert {(name, version) for _, name, version, _, _ in found(inv)} == {
        ("com.example:app", "2.0"),
        ("org.yaml:snakeyaml", "1.33"),
    }


def test_a_jar_without_pom_properties_is_named_by_its_manifest() -> None:
    manifest = (
        b"Manifest-Version: 1.0\r\nImplementation-Title: commons-text\r\n"
        b"Implementation-Vendor-Id: org.apache.commons\r\nImplementation-Version: 1.9\r\n"
        b"Bundle-Description: Apache Commons Text is a library focused on algorithms work\r\n"
        b" ing on strings.\r\n\r\nName: org/apache/commons/text/\r\nImplementation-Title: other\r\n"
    )
    osgi = b"Bundle-SymbolicName: org.yaml.snakeyaml;singleton:=true\nBundle-Version: 1.33\n"
    anonymous = b"Manifest-Version: 1.0\nCreated-By: 17 (Oracle)\n"
    inv = inventory(
        img.layer(
            {
                "app/commons-text.jar": models.zip_of({"META-INF/MANIFEST.MF": manifest}),
                "app/snakeyaml.jar": models.zip_of({"META-INF/MANIFEST.MF": osgi}),
                "app/anonymous.jar": models.zip_of({"META-INF/MANIFEST.MF": anonymous}),
            }
        )
    )
    assert {(name, version) for _, name, version, _, _ in found(inv)} == {
        ("org.apache.commons:commons-text", "1.9"),
        ("org.yaml:snakeyaml", "1.33"),
    }


def test_rpmdb_sqlite_written_by_rpm(tmp_path: Path) -> None:
    require("rpm")
    database = builds.rpmdb(
        tmp_path, [("openssl-libs", "3.0.7", "24.el9", 1), ("zlib", "1.2.11", "40.el9", None)]
    )
    inv = inventory(img.layer({"var/lib/rpm/rpmdb.sqlite": database}))
    assert found(inv) == {
        (Kind.RPM, "openssl-libs", "1:3.0.7-24.el9", "openssl-libs", "1:3.0.7-24.el9"),
        (Kind.RPM, "zlib", "1.2.11-40.el9", "zlib", "1.2.11-40.el9"),
    }


def test_go_binary_build_info(tmp_path: Path) -> None:
    require("go")
    binary = builds.go_binary(tmp_path)
    version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout
    inv = inventory(img.layer({"usr/local/bin/hello": binary}, executable=("usr/local/bin/hello",)))
    assert found(inv) == {(Kind.GOLANG, "stdlib", version.strip().removeprefix("go"), "", "")}


@pytest.mark.parametrize("compression", ["gzip", "zstd", None])
def test_every_layer_compression_gives_the_same_inventory(compression: str | None) -> None:
    inv = inventory(img.layer({"lib/apk/db/installed": img.APK_INSTALLED}, compression=compression))
    assert len(inv.packages) == 3


def test_whiteouts_and_opaque_directories_hide_lower_layers() -> None:
    base = img.layer(
        {
            **real_dist_info("packaging"),
            **real_dist_info("sqlalchemy"),
            "app/node_modules/lodash/package.json": b'{"name": "lodash", "version": "4.17.20"}',
            "var/lib/dpkg/status": img.DPKG_STATUS,
        }
    )
    (packaging_path,) = [p for p in real_dist_info("packaging")]
    upper = img.layer(
        {"app/node_modules/left-pad/package.json": b'{"name": "left-pad", "version": "1.3.0"}'},
        whiteouts=(packaging_path.rsplit("/", 1)[0],),
        opaque=("app/node_modules",),
    )
    top = img.layer(
        {"var/lib/dpkg/status": b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13\n"}
    )
    names = {name for _, name, _, _, _ in found(inventory(base, upper, top))}
    assert names == {"sqlalchemy", "left-pad", "zlib1g"}


def test_model_files_in_layers_are_found_and_hidden_by_whiteouts() -> None:
    evil = models.call("os", "system")
    base = img.layer({"models/a.bin": evil, "models/b/weights.pt": models.torch_zip(evil)})
    assert {path for path, _ in [(f.path, f) for _, f in inventory(base).models]} == {
        "models/a.bin",
        "models/b/weights.pt!archive/data.pkl",
    }
    upper = img.layer({}, whiteouts=("models/b",))
    assert [f.path for _, f in inventory(base, upper).models] == ["models/a.bin"]
    replaced = img.layer({"models/a.bin": models.torch_zip(models.torch_state_dict_pickle({"w": (2,)})[0])})
    assert [f.path for _, f in inventory(base, upper, replaced).models] == []


def test_a_decompression_bomb_layer_fails_with_the_reason() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("zeros")
        info.size = 64 * 1024 * 1024
        archive.addfile(info, io.BytesIO(bytes(info.size)))
    bomb = gzip.compress(raw.getvalue(), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    from strongroom.analysis.inventory import InventoryLimits

    with pytest.raises(LayerError, match="decompresses to more than"):
        analyse_layer(io.BytesIO(bomb), spool, InventoryLimits(max_layer_bytes=8 * 1024 * 1024))


def test_a_layer_that_is_not_a_tar_stream_is_an_error() -> None:
    with pytest.raises(LayerError):
        analyse_layer(io.BytesIO(gzip.compress(b"not a tar" * 1000)), spool)


def test_paths_climbing_out_are_ignored() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("../../var/lib/dpkg/status")
        info.size = len(img.DPKG_STATUS)
        archive.addfile(info, io.BytesIO(img.DPKG_STATUS))
    assert inventory(raw.getvalue()).packages == []
