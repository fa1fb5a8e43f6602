from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from support.databases import isolated_database_url, postgres_server
from support.server import RunningServer, start_server
from support.tools import SKIP_VARIABLE, absent_optional_tools, opted_out, skip_if_opted_out


def pytest_configure(config: pytest.Config) -> None:
    opted_out()  # an unknown name in STRONGROOM_TEST_SKIP stops the run before it starts


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per optional tool that was absent, with the tests that did not run for it, and
    one per required part opted out (pytest's own -ra lines list those skips)."""
    lines = [
        f"optional {tool} absent: did not run {', '.join(tests)}"
        for tool, tests in sorted(absent_optional_tools().items())
    ]
    lines += [f"required {part} opted out by {SKIP_VARIABLE}: its tests were skipped" for part in opted_out()]
    if lines:
        terminalreporter.section("tools not used in this run")
        for line in lines:
            terminalreporter.write_line(line)


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


@pytest.fixture(scope="session")
def postgres_base_url() -> Iterator[str]:
    """``STRONGROOM_TEST_DATABASE_URL``, or a throwaway cluster started for this run."""
    skip_if_opted_out("postgres")
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty SQLite database, then an empty PostgreSQL schema: contract tests run on both."""
    with isolated_database_url(request.param, tmp_path, request) as url:
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
