"""The command line imports a command's module only when that command runs: the model
commands (client-side, over HTTP) start without the server's modules."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from strongroom.cli.main import main
try:
    main([{args}], standalone_mode=False)
finally:
    server = ("sqlalchemy", "strongroom.services", "strongroom.metadata.sql")
    heavy = sorted(m for m in server if m in sys.modules)
    print("HEAVY", heavy)
"""


@pytest.mark.parametrize("args", [["model", "--help"], ["model", "push", "--help"]])
def test_client_side_commands_start_without_the_server(args: list[str]) -> None:
    code = PROBE.format(args=", ".join(repr(a) for a in args))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in result.stdout, result.stdout[-500:]


def test_every_command_still_loads() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "strongroom", "--help"], capture_output=True, text=True, check=True
    )
    for name in (
        "account",
        "iam",
        "repo",
        "model",
        "lineage",
        "scan",
        "vulndb",
        "gc",
        "serve",
        "replication",
    ):
        assert f"  {name} " in result.stdout, name
