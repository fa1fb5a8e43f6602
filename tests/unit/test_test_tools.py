"""What ``make test`` does before pytest and around it: finding, installing and opting out
of the tools the tests drive (support/tools.py), and the throwaway PostgreSQL cluster
(support/databases.py)."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from strongroom.metadata.engine import create_engine
from support import tools
from support.databases import throwaway_cluster
from support.tools import Part


def _fake_apt_get(bin_dir: Path, log: Path) -> None:
    """An ``apt-get`` that records its arguments and, on install, puts the wanted tool on PATH."""
    script = bin_dir / "apt-get"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        f'if [ "$1" = install ]; then printf "#!/bin/sh\\n" > {bin_dir}/sr-fake-tool; '
        f"chmod +x {bin_dir}/sr-fake-tool; fi\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def one_missing_part(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv(tools.SKIP_VARIABLE, raising=False)
    part = Part("fake", ("sr-fake-tool",), ("sr-fake-package",), "a tool no machine has")
    monkeypatch.setattr(tools, "PARTS", {"fake": part})
    return bin_dir


def test_as_root_a_missing_part_is_installed_with_apt_get(
    one_missing_part: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "apt-get.log"
    _fake_apt_get(one_missing_part, log)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert tools.install_missing() == 0
    assert log.read_text().splitlines() == [
        "update -qq",
        "install -y --no-install-recommends sr-fake-package -qq",
    ]
    assert "installing fake" in capsys.readouterr().out
    assert tools.find_executable("sr-fake-tool") == str(one_missing_part / "sr-fake-tool")


def test_as_another_user_it_prints_the_one_command_and_stops(
    one_missing_part: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert tools.install_missing() == 1
    out = capsys.readouterr().out
    assert "sudo apt-get install -y --no-install-recommends sr-fake-package" in out
    assert f"{tools.SKIP_VARIABLE}=fake make test" in out


def test_an_opted_out_part_is_neither_installed_nor_required(
    one_missing_part: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(tools.SKIP_VARIABLE, "fake")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert tools.install_missing() == 0
    with pytest.raises(pytest.skip.Exception, match="opted out"):
        tools.require("fake")


def test_a_missing_required_part_fails_naming_it_and_the_opt_out(one_missing_part: Path) -> None:
    with pytest.raises(pytest.fail.Exception) as failure:
        tools.require("fake")
    message = str(failure.value)
    assert "'fake'" in message
    assert "sr-fake-tool" in message
    assert f"{tools.SKIP_VARIABLE}=fake" in message


def test_an_unknown_name_in_the_opt_out_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tools.SKIP_VARIABLE, "podman,postgress")
    with pytest.raises(pytest.UsageError, match="postgress"):
        tools.opted_out()


def test_postgresql_server_programs_are_found_off_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian installs initdb and pg_ctl under /usr/lib/postgresql/<major>/bin, not on PATH."""
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not installed:
        tools.require("postgres")  # fails, naming the part: make test installs it
    monkeypatch.setenv("PATH", "/nonexistent")
    assert tools.find_executable("initdb") == str(installed[-1])


@pytest.mark.postgres
def test_the_throwaway_cluster_answers_then_is_gone() -> None:
    with throwaway_cluster() as url:
        parsed = sa.make_url(url)
        assert parsed.host == "127.0.0.1"
        assert parsed.port != 5432  # never the machine's own server
        engine = create_engine(url)
        with engine.connect() as connection:
            directory = connection.execute(sa.text("SHOW data_directory")).scalar_one()
        engine.dispose()
        assert Path(directory).is_dir()
    assert not Path(directory).exists()
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", parsed.port))
