"""``strongroom serve --help`` states the worker default the settings apply (issue 10 §3.10)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from strongroom.cli.main import main
from strongroom.settings import Settings


@pytest.mark.parametrize(("cores", "workers"), [(None, 1), (1, 1), (2, 2), (8, 8), (64, 8)])
def test_one_worker_per_core_at_most_8(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, workers: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert Settings().workers == workers


def test_serve_help_says_what_the_default_is() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if "--workers" in line]
    assert "one per CPU core, at most 8" in line
    assert "default 1" not in line
