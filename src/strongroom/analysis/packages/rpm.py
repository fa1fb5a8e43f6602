"""RPM's database in its sqlite form (``rpmdb.sqlite``): one header blob per package.

A header blob is ``il`` and ``dl`` (big-endian u32), ``il`` index entries of (tag, type,
offset, count), then ``dl`` bytes of data. The database is opened from memory; BDB and
NDB databases are not read yet.
"""

from __future__ import annotations

import sqlite3
import struct

from strongroom.analysis.packages.model import Kind, Package

_NAME, _VERSION, _RELEASE, _EPOCH, _ARCH, _SOURCERPM = 1000, 1001, 1002, 1003, 1022, 1044
_INT32, _STRING, _I18NSTRING = 4, 6, 9
_MAX_ENTRIES = 100_000


class RpmHeaderError(ValueError):
    pass


def parse_rpmdb_sqlite(path: str, data: bytes) -> list[Package]:
    if data[:16] == b"SQLite format 3\0" and len(data) > 20:
        # rpm keeps the database in WAL mode, which an in-memory copy cannot open;
        # bytes 18-19 set to 1 say "rollback journal" (the -wal file is not read).
        data = data[:18] + b"\x01\x01" + data[20:]
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(data)
        rows = connection.execute("SELECT blob FROM Packages").fetchall()
    except sqlite3.DatabaseError:
        return []
    finally:
        connection.close()
    packages = []
    for (blob,) in rows:
        try:
            tags = read_header(bytes(blob))
        except (RpmHeaderError, struct.error):
            continue
        package = _package(path, tags)
        if package is not None:
            packages.append(package)
    return packages


def read_header(blob: bytes) -> dict[int, str | int]:
    """The tags a package needs, from one header blob."""
    index_count, data_length = struct.unpack_from(">II", blob, 0)
    if index_count > _MAX_ENTRIES or 8 + index_count * 16 + data_length > len(blob):
        raise RpmHeaderError("header is larger than its blob")
    store = 8 + index_count * 16
    tags: dict[int, str | int] = {}
    for number in range(index_count):
        tag, kind, offset, _count = struct.unpack_from(">IIiI", blob, 8 + number * 16)
        if tag not in (_NAME, _VERSION, _RELEASE, _EPOCH, _ARCH, _SOURCERPM):
            continue
        if not 0 <= offset < data_length:
            raise RpmHeaderError(f"tag {tag} points outside the data")
        start = store + offset
        if kind == _INT32:
            tags[tag] = struct.unpack_from(">i", blob, start)[0]
        elif kind in (_STRING, _I18NSTRING):
            end = blob.find(b"\0", start, store + data_length)
            if end < 0:
                raise RpmHeaderError(f"tag {tag} is not terminated")
            tags[tag] = blob[start:end].decode("utf-8", "replace")
    return tags


def _package(path: str, tags: dict[int, str | int]) -> Package | None:
    name, version, release = tags.get(_NAME), tags.get(_VERSION), tags.get(_RELEASE)
    if not isinstance(name, str) or not isinstance(version, str) or name == "gpg-pubkey":
        return None
    epoch = tags.get(_EPOCH)
    evr = f"{version}-{release}" if isinstance(release, str) and release else version
    if isinstance(epoch, int) and epoch > 0:
        evr = f"{epoch}:{evr}"
    source_name = ""
    source = tags.get(_SOURCERPM)
    if isinstance(source, str) and source.endswith(".src.rpm"):
        # name-version-release.src.rpm: the name is everything before the last two dashes.
        source_name = source[: -len(".src.rpm")].rsplit("-", 2)[0]
    arch = tags.get(_ARCH)
    return Package(
        Kind.RPM,
        name,
        evr,
        path,
        arch=arch if isinstance(arch, str) else "",
        source_name=source_name,
        source_version=evr if source_name else "",
        epoch=epoch if isinstance(epoch, int) else None,
    )
