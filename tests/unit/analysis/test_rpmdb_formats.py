"""rpm's older package databases: the Berkeley DB hash ``Packages`` (CentOS 7, Amazon Linux 2)
and SUSE's ndb ``Packages.db``, read through the same header parser as ``rpmdb.sqlite``.

The Berkeley DB fixtures are written by Berkeley DB's ``db_load`` and checked against what
``rpm -qa`` reads from the same file with its ``bdb_ro`` backend. The ndb fixture follows
rpm's rpmpkg.c (see ``support.builds.rpmdb_ndb``), as no tool here writes that format.
"""

from __future__ import annotations

import contextlib
import io
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom.analysis.inventory import analyse_layer, merge
from strongroom.analysis.packages import rpm
from strongroom.analysis.packages.model import Kind, Package, UnreadableEvidence
from support import builds
from support import layers as img
from support.tools import require

PACKAGES = [
    ("openssl-libs", "1.0.2k", "26.el7_9", 1),
    ("zlib", "1.2.7", "21.el7_9", None),
    ("bash", "4.2.46", "35.el7_9", None),
]
Found = set[tuple[str, str, str, str]]


@pytest.fixture(scope="module")
def headers(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, bytes]]:
    require("rpm")
    directory = tmp_path_factory.mktemp("rpm")
    builds.rpmdb(directory, PACKAGES, subpackage="devel")
    return builds.rpm_headers(directory)


def listed(packages: list[Package]) -> Found:
    return {(p.name, p.version, p.arch, p.source_name) for p in packages}


def rpm_query(dbpath: Path) -> Found:
    """What rpm itself lists from a Berkeley DB ``Packages`` (its read-only backend)."""
    out = subprocess.run(
        [
            "rpm", "-qa", "--dbpath", str(dbpath), "--define", "_db_backend bdb_ro",
            "--qf", "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n",
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = {tuple(line.split("\t")) for line in out.splitlines()}
    return {(name, evr, arch, source.rsplit("-", 2)[0]) for name, evr, arch, source in rows}


def expected() -> Found:
    found: Found = set()
    for name, version, release, epoch in PACKAGES:
        evr = f"{epoch}:{version}-{release}" if epoch else f"{version}-{release}"
        found |= {(name, evr, "noarch", name), (f"{name}-devel", evr, "noarch", name)}
    return found


@pytest.mark.parametrize(("page_size", "big_endian"), [(4096, False), (512, False), (1024, True)])
def test_berkeley_db_packages_list_what_rpm_lists(
    headers: list[tuple[int, bytes]], tmp_path: Path, page_size: int, big_endian: bool
) -> None:
    """512-byte pages put every header on a chain of overflow pages; 4096 holds some inline."""
    require("berkeleydb")
    directory = builds.rpmdb_bdb(tmp_path, headers, page_size, big_endian)
    ours = rpm.parse_rpmdb_bdb("var/lib/rpm/Packages", (directory / "Packages").read_bytes())
    assert listed(ours) == rpm_query(directory) == expected()
    assert len(ours) == len(headers)
    assert {p.epoch for p in ours if p.name.startswith("openssl")} == {1}


def test_ndb_packages_list_what_the_sqlite_database_lists(headers: list[tuple[int, bytes]]) -> None:
    from_sqlite = rpm._packages("p", (blob for _, blob in headers))
    ours = rpm.parse_rpmdb_ndb("usr/lib/sysimage/rpm/Packages.db", builds.rpmdb_ndb(headers))
    assert listed(ours) == listed(from_sqlite) == expected()
    assert len(ours) == len(headers)


NDB_FIXTURE = Path(__file__).parents[2] / "fixtures" / "rpm-ndb"


def test_an_ndb_database_written_by_rpms_own_code() -> None:
    """rpm 4.18's ndb code wrote it, with a package erased (see the fixture's README)."""
    data = (NDB_FIXTURE / "Packages.db").read_bytes()
    lines = (NDB_FIXTURE / "packages.txt").read_text().splitlines()
    ours = rpm.parse_rpmdb_ndb("usr/lib/sysimage/rpm/Packages.db", data)
    assert sorted((p.name, p.version, p.arch) for p in ours) == sorted(
        tuple(line.split("\t")) for line in lines
    )
    assert {p.source_name for p in ours} == {"openssl-libs", "zlib", "bash"}


def test_ndb_with_several_slot_pages(headers: list[tuple[int, bytes]]) -> None:
    """A full SUSE system has a thousand packages: four slot pages."""
    many = [(number, headers[number % len(headers)][1]) for number in range(1, 1001)]
    database = builds.rpmdb_ndb(many, free_slots=20)
    assert int.from_bytes(database[12:16], "little") == 4
    assert len(rpm.parse_rpmdb_ndb("p", database)) == 1000


def test_a_layer_with_each_database_under_each_directory(
    headers: list[tuple[int, bytes]], tmp_path: Path
) -> None:
    require("berkeleydb")
    bdb = (builds.rpmdb_bdb(tmp_path, headers) / "Packages").read_bytes()
    ndb = builds.rpmdb_ndb(headers)
    for path, data in [
        ("var/lib/rpm/Packages", bdb),
        ("usr/lib/sysimage/rpm/Packages", bdb),
        ("usr/lib/sysimage/rpm/Packages.db", ndb),
        ("var/lib/rpm/Packages.db", ndb),
    ]:
        layer = analyse_layer(io.BytesIO(img.layer({path: data})), io.BytesIO)
        assert not layer.problems
        assert {(p.kind, p.path) for p in layer.packages[path]} == {(Kind.RPM, path)}
        assert listed(layer.packages[path]) == expected()


# Hostile and damaged databases: each is "unreadable" (a problem of the layer), promptly.


def unreadable(parse: Callable[[str, bytes], list[Package]], data: bytes) -> str:
    started = time.monotonic()
    with pytest.raises(UnreadableEvidence) as error:
        parse("p", data)
    assert time.monotonic() - started < 2
    return str(error.value)


def bdb_file(headers: list[tuple[int, bytes]], tmp_path: Path, page_size: int = 512) -> bytearray:
    require("berkeleydb")
    return bytearray((builds.rpmdb_bdb(tmp_path, headers, page_size) / "Packages").read_bytes())


def overflow_pages(data: bytearray, page_size: int) -> list[int]:
    return [n for n in range(1, len(data) // page_size) if data[n * page_size + 25] == 7]


def test_bdb_overflow_chain_that_loops(headers: list[tuple[int, bytes]], tmp_path: Path) -> None:
    data = bdb_file(headers, tmp_path)
    page = next(n for n in overflow_pages(data, 512) if struct.unpack_from("<I", data, n * 512 + 16)[0])
    struct.pack_into("<I", data, page * 512 + 16, page)  # next page: itself
    assert "twice" in unreadable(rpm.parse_rpmdb_bdb, bytes(data))


def test_bdb_overflow_chain_past_the_end(headers: list[tuple[int, bytes]], tmp_path: Path) -> None:
    data = bdb_file(headers, tmp_path)
    page = overflow_pages(data, 512)[0]
    struct.pack_into("<I", data, page * 512 + 16, 0xFFFFFFF0)
    assert "past the end" in unreadable(rpm.parse_rpmdb_bdb, bytes(data))


def test_bdb_truncated_file(headers: list[tuple[int, bytes]], tmp_path: Path) -> None:
    data = bdb_file(headers, tmp_path)
    unreadable(rpm.parse_rpmdb_bdb, bytes(data[: len(data) // 2]))


def test_bdb_absurd_sizes(headers: list[tuple[int, bytes]], tmp_path: Path) -> None:
    data = bdb_file(headers, tmp_path)
    for offset, value, fmt in [(20, 3000, "<I"), (32, 0xFFFFFFFF, "<I")]:  # page size, last page
        changed = bytearray(data)
        struct.pack_into(fmt, changed, offset, value)
        if offset == 20:
            unreadable(rpm.parse_rpmdb_bdb, bytes(changed))
        else:
            assert listed(rpm.parse_rpmdb_bdb("p", bytes(changed))) == expected()  # pages come from the size
    base, item = next(
        (n * 512, item)
        for n in range(1, len(data) // 512)
        if data[n * 512 + 25] == 13
        for index in range(1, struct.unpack_from("<H", data, n * 512 + 20)[0], 2)
        if data[n * 512 + (item := struct.unpack_from("<H", data, n * 512 + 26 + 2 * index)[0])] == 3
    )  # a hash page and, on it, a value held on overflow pages
    changed = bytearray(data)
    struct.pack_into("<H", changed, base + 20, 0xFFFF)  # entries
    assert "more entries" in unreadable(rpm.parse_rpmdb_bdb, bytes(changed))
    changed = bytearray(data)
    struct.pack_into("<I", changed, base + item + 8, 0x7FFFFFFF)  # the value's length
    assert "more than" in unreadable(rpm.parse_rpmdb_bdb, bytes(changed))


def test_not_a_database_at_all() -> None:
    for parse in (rpm.parse_rpmdb_bdb, rpm.parse_rpmdb_ndb, rpm.parse_rpmdb_sqlite):
        unreadable(parse, b"")
        unreadable(parse, bytes(8192))


def test_ndb_hostile(headers: list[tuple[int, bytes]]) -> None:
    data = bytearray(builds.rpmdb_ndb(headers))
    first = 32 + 16  # the first used slot, after one free one
    cases: list[tuple[int, int, str]] = [
        (12, 0xFFFFFFFF, "do not fit"),  # slot pages
        (12, 0, "do not fit"),
        (first + 8, 0x0FFFFFFF, "past the end"),  # block offset
        (first + 8, 3, "slot area"),
        (first + 12, 0x0FFFFFFF, "past the end"),  # block count
        (first + 12, 2, "not what its blocks hold"),
        (first + 4, 77, "does not start a blob"),  # package index
        (4096 + 12, 0x7FFFFFFF, "not what its blocks hold"),  # the first blob's length
        (4096 + 40, 0x41414141, "checksum"),  # a byte of the first header
        (4, 1, "version"),
    ]
    for offset, value, message in cases:
        changed = bytearray(data)
        struct.pack_into("<I", changed, offset, value)
        assert message in unreadable(rpm.parse_rpmdb_ndb, bytes(changed)), (offset, value)
    unreadable(rpm.parse_rpmdb_ndb, bytes(data[: len(data) - 100]))


def test_an_unreadable_database_is_a_problem_of_its_layer() -> None:
    layer = analyse_layer(io.BytesIO(img.layer({"var/lib/rpm/Packages": bytes(4096)})), io.BytesIO)
    assert layer.packages == {}
    assert layer.problems == [
        "var/lib/rpm/Packages: unreadable: not a readable rpm Berkeley DB: not a Berkeley DB hash database"
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_databases_give_packages_or_unreadable(
    headers: list[tuple[int, bytes]], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    seeds = _seeds(headers, tmp_path_factory)
    parse, seed = data.draw(st.sampled_from(seeds))
    changed = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(changed) - 4))
        changed[position : position + 4] = data.draw(st.binary(min_size=4, max_size=4))
    cut = data.draw(st.integers(0, len(changed)))
    with contextlib.suppress(UnreadableEvidence):
        assert isinstance(parse("p", bytes(changed[:cut] if data.draw(st.booleans()) else changed)), list)


_seed_cache: list[tuple[Callable[[str, bytes], list[Package]], bytes]] = []


def _seeds(
    headers: list[tuple[int, bytes]], factory: pytest.TempPathFactory
) -> list[tuple[Callable[[str, bytes], list[Package]], bytes]]:
    if not _seed_cache:
        require("berkeleydb")
        bdb = builds.rpmdb_bdb(factory.mktemp("seed"), headers, 512) / "Packages"
        _seed_cache.append((rpm.parse_rpmdb_ndb, (NDB_FIXTURE / "Packages.db").read_bytes()))
        _seed_cache.extend(
            [(rpm.parse_rpmdb_bdb, bdb.read_bytes()), (rpm.parse_rpmdb_ndb, builds.rpmdb_ndb(headers))]
        )
    return _seed_cache


def test_a_problem_stays_with_the_file_a_container_would_see() -> None:
    broken = img.layer({"var/lib/rpm/Packages": bytes(4096)})
    layers = [("sha256:base", analyse_layer(io.BytesIO(broken), io.BytesIO))]
    assert [layer for layer, _ in merge(layers).problems] == ["sha256:base"]
    deleted = img.layer({}, whiteouts=("var/lib/rpm/Packages",))
    layers.append(("sha256:top", analyse_layer(io.BytesIO(deleted), io.BytesIO)))
    assert merge(layers).problems == []


def test_bdb_items_sharing_one_chain_do_not_multiply_the_work(
    headers: list[tuple[int, bytes]], tmp_path: Path
) -> None:
    """Pages outside one chain rewritten as hash pages full of items all pointing at it:
    the values would add up to many times the file."""
    data = bdb_file(headers, tmp_path)
    first = overflow_pages(data, 512)[0]
    chain, number = [], first
    while number:
        chain.append(number)
        number = struct.unpack_from("<I", data, number * 512 + 16)[0]
    length = sum(struct.unpack_from("<H", data, n * 512 + 22)[0] for n in chain)
    for number in range(1, len(data) // 512):
        if number not in chain:
            base, end, pairs = number * 512, 512, 22
            data[base + 20 : base + 26] = struct.pack("<HHBB", 2 * pairs, 0, 0, 13)
            for pair in range(pairs):
                key, value = end - 5, end - 17
                data[base + key : base + end] = b"\x01" + struct.pack("<I", pair)
                data[base + value : base + key] = b"\x03" + bytes(3) + struct.pack("<II", first, length)
                struct.pack_into("<HH", data, base + 26 + 4 * pair, key, value)
                end = value
    assert "more than the file" in unreadable(rpm.parse_rpmdb_bdb, bytes(data))


def test_ndb_slots_sharing_one_blob_do_not_multiply_the_work(headers: list[tuple[int, bytes]]) -> None:
    data = bytearray(builds.rpmdb_ndb(headers))
    first = data[48:64]
    for slot in range(64, 4096, 16):  # every slot, free ones too, points at the first blob
        data[slot : slot + 16] = first
    assert "more than the file" in unreadable(rpm.parse_rpmdb_ndb, bytes(data))
