"""Creating SQLAlchemy engines for the supported backends, and migrating them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

_MIGRATIONS = Path(__file__).parent / "migrations"

POOL_SIZE = 8
"""Connections per process. The store runs at most this many units of work at once,
so connections are reused, never opened and closed per request (an overflow
connection is discarded on return, and opening one costs more than most queries)."""


def create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg"))
        return sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=0, pool_pre_ping=True)
    raise ValueError(f"unsupported database: {parsed.get_backend_name()} (use sqlite or postgresql)")


def _sqlite_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=POOL_SIZE, max_overflow=0
    )

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling is broken).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a process crash loses nothing committed; power loss may lose
        # the last transactions but never corrupts.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        # Writers take the write lock up front, so two writers never deadlock upgrading.
        writing = connection.get_execution_options().get("writing", False)
        # Straight to the driver (in autocommit mode, see above): through exec_driver_sql,
        # SQLAlchemy's statement machinery cost more CPU than the BEGIN itself.
        driver = connection.connection.driver_connection
        assert driver is not None  # a checked-out connection always has one
        driver.execute("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision.

    Alembic (with Mako and Pygments, about 12 MB per process) is imported here, not at
    module level: only ``strongroom migrate`` and the start of ``serve`` migrate, never a
    server worker."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
