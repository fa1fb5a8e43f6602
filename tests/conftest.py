from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.server import RunningServer, start_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """A real strongroom process with its own data directory, stopped after the test."""
    running = start_server(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real strongroom process for a whole test module (tests must not depend on order)."""
    running = start_server(tmp_path_factory.mktemp("shared") / "data")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
