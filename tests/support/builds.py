"""Real evidence built by real tools: an rpmdb.sqlite written by Debian's ``rpm``, the same
headers in a Berkeley DB hash written by Berkeley DB's own ``db_load``, and a Go binary
built by Debian's ``golang-go``. Tests using them skip where the tool is absent.

No tool here writes rpm's "ndb" format (Debian builds rpm without it: ``rpm --showrc``
lists ``sqlite bdb_ro dummy``). ``tests/fixtures/rpm-ndb`` holds one written by rpm's own
ndb code (and the script that made it); :func:`rpmdb_ndb` lays headers out the same way,
as rpm's ``lib/backend/ndb/rpmpkg.c`` writes them, for tests that need other contents or
damage.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import subprocess
import zlib
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
    connection = sqlite3.connect(database / "rpmdb.sqlite")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return (database / "rpmdb.sqlite").read_bytes()


def rpm_headers(directory: Path) -> list[tuple[int, bytes]]:
    """The ``(package number, header blob)`` pairs of the database :func:`rpmdb` wrote."""
    connection = sqlite3.connect(directory / "db" / "rpmdb.sqlite")
    try:
        rows = connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
    finally:
        connection.close()
    return [(number, bytes(blob)) for number, blob in rows]


def rpmdb_bdb(
    directory: Path, headers: list[tuple[int, bytes]], page_size: int = 4096, big_endian: bool = False
) -> Path:
    """A directory holding ``Packages``, the Berkeley DB hash rpm < 4.16 kept: keys are
    package numbers (host order, as rpm wrote them), values the header blobs, and key 0
    rpm's counter of the last number given out. ``rpm --dbpath DIR --define
    '_db_backend bdb_ro'`` reads it back."""
    order = ">" if big_endian else "<"
    records = [(0, struct.pack(order + "I", max(number for number, _ in headers))), *headers]
    dump = ["VERSION=3", "format=bytevalue", "type=hash", f"db_pagesize={page_size}"]
    dump += [f"db_lorder={4321 if big_endian else 1234}", "HEADER=END"]
    for number, value in records:
        dump += [" " + struct.pack(order + "I", number).hex(), " " + value.hex()]
    dump.append("DATA=END")
    target = directory / f"bdb-{page_size}-{'be' if big_endian else 'le'}"
    target.mkdir()
    load = shutil.which("db5.3_load") or "db_load"
    subprocess.run([load, str(target / "Packages")], input="\n".join(dump) + "\n", text=True, check=True)
    return target


_NDB_PAGE, _NDB_BLOCK = 4096, 16


def rpmdb_ndb(headers: list[tuple[int, bytes]], free_slots: int = 1) -> bytes:
    """``Packages.db`` in rpm's ndb layout (rpmpkg.c): a 32-byte header (``RpmP``, version 0,
    generation, slot pages, next package index: rpmpkgWriteHeader), pages of 16-byte slots
    (``Slot``, package index, block offset, block count: rpmpkgWriteslot; a free slot has
    offset 0: rpmpkgWriteEmptySlotpage), as many 4 KiB pages as the slots need, then one
    blob per package from the first block after the slot pages (``BlbS``, index,
    generation, length, the header, zero pad, then Adler-32 of all that, the length and
    ``BlbE``: rpmpkgWriteBlob). ``free_slots`` free slots come first, as after a package
    was erased."""
    slot_pages = -(-(2 + free_slots + len(headers)) // (_NDB_PAGE // 16))  # the header takes two slots
    slots = [b"Slot" + bytes(12)] * free_slots
    blobs = b""
    block = slot_pages * _NDB_PAGE // _NDB_BLOCK
    for number, header in headers:
        count = -(-(16 + len(header) + 12) // _NDB_BLOCK)
        head = b"BlbS" + struct.pack("<III", number, 1, len(header))
        body = head + header + bytes(count * _NDB_BLOCK - 16 - len(header) - 12)
        blobs += body + struct.pack("<II", zlib.adler32(body), len(header)) + b"BlbE"
        slots.append(b"Slot" + struct.pack("<III", number, block, count))
        block += count
    next_index = max((number for number, _ in headers), default=0) + 1
    area = b"RpmP" + struct.pack("<IIII", 0, len(headers) + 1, slot_pages, next_index) + bytes(12)
    area += b"".join(slots)
    area += (b"Slot" + bytes(12)) * ((slot_pages * _NDB_PAGE - len(area)) // 16)
    assert len(area) == slot_pages * _NDB_PAGE
    return area + blobs


def go_binary(directory: Path, goos: str = "linux") -> bytes:
    """A standard-library-only program built with the local Go toolchain (no downloads);
    ``goos="windows"`` cross-compiles a Windows executable."""
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
        "GOOS": goos,
        "GOARCH": "amd64",
    }
    subprocess.run(
        ["go", "build", "-o", str(directory / "hello-bin"), "."],
        cwd=source,
        env=env,
        check=True,
        capture_output=True,
    )
    return (directory / "hello-bin").read_bytes()
