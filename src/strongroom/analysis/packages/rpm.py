"""RPM's package database, one header blob per package, in the three forms rpm writes:

- ``rpmdb.sqlite`` (rpm >= 4.16: RHEL 9, Fedora, Amazon Linux 2023), opened from memory;
- ``Packages``, a Berkeley DB hash (RHEL/CentOS 7 and 8, Amazon Linux 2), see ``berkeleydb``;
- ``Packages.db``, rpm's own "ndb" (SUSE 15), see ``ndb``.

A header blob is ``il`` and ``dl`` (big-endian u32), ``il`` index entries of (tag, type,
offset, count), then ``dl`` bytes of data; all three forms share its parser. A database
that is there but cannot be read raises ``UnreadableEvidence``: "unreadable" is not "empty".
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable

from strongroom.analysis.packages import berkeleydb, ndb
from strongroom.analysis.packages.model import Kind, Package, UnreadableEvidence

_NAME, _VERSION, _RELEASE, _EPOCH, _ARCH, _SOURCERPM = 1000, 1001, 1002, 1003, 1022, 1044
_INT32, _STRING, _I18NSTRING = 4, 6, 9
_MAX_ENTRIES = 100_000
_MAX_HEADER = 64 * 1024 * 1024
"""rpm's own ceiling for one header (``headerImport``'s 256 MiB is for the whole region);
the largest real ones, kernel-devel's file lists, are a few MiB."""


class RpmHeaderError(ValueError):
    pass


def parse_rpmdb_sqlite(path: str, data: bytes) -> list[Package]:
    if data[:16] != b"SQLite format 3\0" or len(data) < 100:
        # (an empty file would also make ``deserialize`` raise MemoryError)
        raise UnreadableEvidence("not an sqlite database")
    # rpm keeps the database in WAL mode, which an in-memory copy cannot open;
    # bytes 18-19 set to 1 say "rollback journal" (the -wal file is not read).
    data = data[:18] + b"\x01\x01" + data[20:]
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(data)
        rows = connection.execute("SELECT blob FROM Packages").fetchall()
    except sqlite3.DatabaseError as error:
        raise UnreadableEvidence(f"not a readable rpm sqlite database: {error}") from None
    finally:
        connection.close()
    return _packages(path, (bytes(blob) for (blob,) in rows))


def parse_rpmdb_bdb(path: str, data: bytes) -> list[Package]:
    """``var/lib/rpm/Packages``: every value of the hash is a header (key 0, rpm's
    record counter, and other non-headers are skipped by the header parser)."""
    try:
        return _packages(path, berkeleydb.hash_values(data, _MAX_HEADER))
    except berkeleydb.BerkeleyDbError as error:
        raise UnreadableEvidence(f"not a readable rpm Berkeley DB: {error}") from None


def parse_rpmdb_ndb(path: str, data: bytes) -> list[Package]:
    try:
        return _packages(path, ndb.blobs(data, _MAX_HEADER))
    except ndb.NdbError as error:
        raise UnreadableEvidence(f"not a readable rpm ndb database: {error}") from None


def _packages(path: str, blobs: Iterable[bytes]) -> list[Package]:
    packages = []
    for blob in blobs:
        try:
            tags = read_header(blob)
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
