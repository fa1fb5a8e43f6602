"""Real evidence built by real tools: an rpmdb.sqlite written by Debian's ``rpm`` and a Go
binary built by Debian's ``golang-go``. Tests using them skip where the tool is absent."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

HAVE_RPM = shutil.which("rpmbuild") is not None and shutil.which("rpm") is not None
HAVE_GO = shutil.which("go") is not None

_SPEC = """Name: {name}
Version: {version}
Release: {release}
{epoch}Summary: test package
License: MIT
BuildArch: noarch
%description
test package
%files
"""


def rpmdb(
    directory: Path, packages: list[tuple[str, str, str, int | None]], subpackage: str | None = None
) -> bytes:
    """An rpmdb.sqlite holding ``(name, version, release, epoch)`` packages (no files); with
    ``subpackage``, each also builds ``<name>-<subpackage>`` from the same source rpm."""
    top = directory / "rpmbuild"
    (top / "SPECS").mkdir(parents=True)
    database = directory / "db"
    database.mkdir()
    subprocess.run(["rpm", "--dbpath", str(database), "--initdb"], check=True, capture_output=True)
    for name, version, release, epoch in packages:
        spec = top / "SPECS" / f"{name}.spec"
        text = _SPEC.format(
            name=name, version=version, release=release, epoch=f"Epoch: {epoch}\n" if epoch else ""
        )
        if subpackage:
            text += (
                f"%package {subpackage}\nSummary: sub\n%description {subpackage}\nsub\n%files {subpackage}\n"
            )
        spec.write_text(text)
        subprocess.run(
            ["rpmbuild", "--define", f"_topdir {top}", "-bb", str(spec)], check=True, capture_output=True
        )
    rpms = sorted(str(p) for p in (top / "RPMS").rglob("*.rpm"))
    subprocess.run(
        ["rpm", "--dbpath", str(database), "--justdb", "--nodeps", "--noscripts", "-i", *rpms],
        check=True,
        capture_output=True,
    )
    # Fold the write-ahead log into the file, as an image build leaves it.
    import sqlite3

    connection = sqlite3.connect(database / "rpmdb.sqlite")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return (database / "rpmdb.sqlite").read_bytes()


def go_binary(directory: Path) -> bytes:
    """A standard-library-only program built with the local Go toolchain (no downloads)."""
    source = directory / "hello"
    source.mkdir()
    (source / "go.mod").write_text("module example.com/hello\n\ngo 1.19\n")
    (source / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n')
    env = {
        **os.environ,
        "GOCACHE": str(directory / "cache"),
        "GOPATH": str(directory / "gopath"),
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "CGO_ENABLED": "0",
    }
    subprocess.run(
        ["go", "build", "-o", str(directory / "hello-bin"), "."],
        cwd=source,
        env=env,
        check=True,
        capture_output=True,
    )
    return (directory / "hello-bin").read_bytes()
