"""Go build information in both layouts: inline strings (Go >= 1.18, a real binary built by the
installed Go) and pointers (Go 1.13-1.17, built from Go's documented layout), each checked
against what ``go version -m`` reads from the same file."""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.analysis.inventory import analyse_layer
from strongroom.analysis.packages import golang
from strongroom.analysis.packages.model import Kind
from support import builds
from support import gobinaries as gob
from support import layers as img
from support.tools import require

BODY = (
    "path\texample.com/server\n"
    "mod\texample.com/server\tv1.4.0\th1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    "dep\tgolang.org/x/text\tv0.3.5\th1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=\n"
    "dep\tgithub.com/gorilla/mux\tv1.8.0\n"
    "=>\tgithub.com/fork/mux\tv1.8.1\th1:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC=\n"
)
EXPECTED = {
    ("stdlib", "1.16.15"),
    ("example.com/server", "1.4.0"),
    ("golang.org/x/text", "0.3.5"),
    ("github.com/fork/mux", "1.8.1"),
}


def ours(binary: bytes) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in golang.read_build_info("bin/server", io.BytesIO(binary))}


def go_version_m(binary: bytes, directory: Path) -> set[tuple[str, str]]:
    """What Go's debug/buildinfo reads from the file, as packages (replacements applied)."""
    require("go")
    path = directory / "exe"
    path.write_bytes(binary)
    path.chmod(0o755)
    env = {**os.environ, "GOCACHE": str(directory / "cache"), "GOPROXY": "off", "GOFLAGS": ""}
    out = subprocess.run(["go", "version", "-m", str(path)], capture_output=True, text=True, env=env).stdout
    lines = out.splitlines()
    assert lines, f"go version -m read nothing from {path}"
    found = {("stdlib", lines[0].split(": ", 1)[1].removeprefix("go"))}
    last: tuple[str, str] | None = None
    for line in lines[1:]:
        fields = line.strip("\t").split("\t")
        if fields[0] in ("mod", "dep") and fields[2] != "(devel)":
            last = (fields[1], fields[2].removeprefix("v"))
            found.add(last)
        elif fields[0] == "=>" and last is not None:
            found.discard(last)
            found.add((fields[1], fields[2].removeprefix("v")))
    return found


@pytest.mark.parametrize(
    ("wide", "big_endian", "decoy"),
    [(True, False, False), (True, False, True), (False, True, False), (False, False, True)],
)
def test_pre_118_layout_read_as_go_reads_it(
    tmp_path: Path, wide: bool, big_endian: bool, decoy: bool
) -> None:
    binary = gob.elf_with_old_build_info(
        "go1.16.15", gob.modinfo(BODY), wide=wide, big_endian=big_endian, decoy=decoy
    )
    assert ours(binary) == go_version_m(binary, tmp_path) == EXPECTED


@pytest.mark.parametrize("wide", [True, False])
def test_pre_118_windows_executable_read_as_go_reads_it(tmp_path: Path, wide: bool) -> None:
    binary = gob.pe_with_old_build_info("go1.16.15", gob.modinfo(BODY), wide=wide)
    assert ours(binary) == go_version_m(binary, tmp_path) == EXPECTED


def test_a_real_binary_in_both_layouts(tmp_path: Path) -> None:
    require("go")
    binary = builds.go_binary(tmp_path)
    version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout
    stdlib = ("stdlib", version.strip().removeprefix("go"))
    assert ours(binary) == go_version_m(binary, tmp_path) == {stdlib}
    body = "path\tex.com/h\nmod\tex.com/h\tv0.1.0\t\ndep\tgolang.org/x/mod\tv0.5.1\n"
    old = gob.to_old_layout(binary, body)
    assert old[: len(binary) // 2] == binary[: len(binary) // 2]  # rewritten in place
    assert (
        ours(old)
        == go_version_m(old, tmp_path)
        == {stdlib, ("ex.com/h", "0.1.0"), ("golang.org/x/mod", "0.5.1")}
    )


def test_a_real_windows_binary_in_both_layouts(tmp_path: Path) -> None:
    require("go")
    binary = builds.go_binary(tmp_path, goos="windows")
    assert binary[:2] == b"MZ"
    version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout
    stdlib = ("stdlib", version.strip().removeprefix("go"))
    assert ours(binary) == go_version_m(binary, tmp_path) == {stdlib}
    old = gob.to_old_layout(binary, "path\tex.com/h\nmod\tex.com/h\tv0.2.0\t\n")
    assert ours(old) == go_version_m(old, tmp_path) == {stdlib, ("ex.com/h", "0.2.0")}


def test_strings_further_back_than_the_look_back_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The strings of an old binary sit before its header; past the window they are gone,
    and the binary gives nothing rather than a wrong answer or an error."""
    binary = gob.elf_with_old_build_info("go1.16.15", gob.modinfo(BODY))
    monkeypatch.setattr(golang, "_CHUNK", 256)
    monkeypatch.setattr(golang, "LOOK_BACK", 8 * 1024)
    assert ours(binary) == EXPECTED
    monkeypatch.setattr(golang, "LOOK_BACK", 1024)
    assert ours(binary) == set()


def test_the_magic_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    binary = gob.elf_with_old_build_info("go1.16.15", gob.modinfo(BODY), decoy=True)
    for chunk in (7, 13, 14, 15, 16, 100):
        monkeypatch.setattr(golang, "_CHUNK", chunk)
        assert ours(binary) == EXPECTED, chunk


@pytest.mark.parametrize(
    "damage",
    [
        lambda b, at: b[:at] + b"\xff" * 32 + b[at + 32 :],  # absurd pointers
        lambda b, at: b[: at + 32] + b"\xff" * 32 + b[at + 64 :],  # absurd string headers
        lambda b, at: (
            b[: at + 32] + (at + 0x400000).to_bytes(8, "little") * 4 + b[at + 64 :]
        ),  # self pointers
        lambda b, at: b[: at + 14] + b"\x03\x00" + b[at + 16 :],  # pointer size 3
        lambda b, at: b[: at + 14] + b"\x08\x05" + b[at + 16 :],  # unknown flags
        lambda b, at: b[: at + 40],  # truncated after the header
        lambda b, at: b[:32],  # no program headers
    ],
)
def test_damaged_old_binaries_give_nothing_promptly(damage: object) -> None:
    binary = gob.elf_with_old_build_info("go1.16.15", gob.modinfo(BODY))
    at = binary.index(gob.MAGIC)
    started = time.monotonic()
    found = ours(damage(binary, at))  # type: ignore[operator]
    assert time.monotonic() - started < 1
    assert found <= EXPECTED  # never a made-up package
    assert ("example.com/server", "1.4.0") not in found or ("stdlib", "1.16.15") in found


def test_new_layout_with_an_absurd_string_length() -> None:
    blob = gob.MAGIC + b"\x08\x02" + bytes(16) + b"\xff\xff\xff\xff\x0f" + b"go1.21"
    assert ours(bytes(blob)) == set()


def test_a_windows_go_executable_in_a_layer() -> None:
    binary = gob.pe_with_old_build_info("go1.16.15", gob.modinfo(BODY))
    layer = analyse_layer(io.BytesIO(img.layer({"Files/app/server.exe": binary})), io.BytesIO)
    assert {(p.name, p.version) for p in layer.packages["Files/app/server.exe"]} == EXPECTED


def test_an_old_go_binary_in_a_layer() -> None:
    binary = gob.elf_with_old_build_info("go1.16.15", gob.modinfo(BODY))
    layer = analyse_layer(
        io.BytesIO(img.layer({"usr/bin/server": binary}, executable=("usr/bin/server",))), io.BytesIO
    )
    assert {(p.kind, p.name, p.version) for p in layer.packages["usr/bin/server"]} == {
        (Kind.GOLANG, name, version) for name, version in EXPECTED
    }


SEEDS = [
    gob.elf_with_old_build_info("go1.16.15", gob.modinfo(BODY)),
    gob.elf_with_old_build_info("go1.16.15", gob.modinfo(BODY), wide=False, big_endian=True, decoy=True),
    gob.pe_with_old_build_info("go1.16.15", gob.modinfo(BODY)),
]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_damaged_binaries_never_raise(data: st.DataObject) -> None:
    changed = bytearray(data.draw(st.sampled_from(SEEDS)))
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(changed) - 8))
        changed[position : position + 8] = data.draw(st.binary(min_size=8, max_size=8))
    found = ours(bytes(changed[: data.draw(st.integers(0, len(changed)))]))
    assert all(isinstance(name, str) and isinstance(version, str) for name, version in found)
