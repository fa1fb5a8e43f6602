from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from support.databases import isolated_database_url
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty SQLite database, then an empty PostgreSQL schema: contract tests run on both."""
    with isolated_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The database at ``database_url``, migrated to the current schema."""
    engine = create_engine(database_url)
    migrate(engine)
    migrate(engine)  # migrating twice is harmless
    database = Database(engine)
    try:
        yield database
    finally:
        database.close()
