"""Creating SQLAlchemy engines for the supported backends, and migrating them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from strongroom.errors import InvalidRequest

_MIGRATIONS = Path(__file__).parent / "migrations"

POOL_SIZE = 8
"""Connections per process. The store runs at most this many units of work at once,
so connections are reused, never opened and closed per request (an overflow
connection is discarded on return, and opening one costs more than most queries)."""


class TextInvalid(InvalidRequest):
    """Text holding U+0000, which PostgreSQL cannot store or compare (and SQLite is made
    to refuse too, so both stores answer alike)."""


def create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg"))
        engine = sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=0, pool_pre_ping=True)
    else:
        raise ValueError(f"unsupported database: {parsed.get_backend_name()} (use sqlite or postgresql)")
    sa.event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


WAL_KEPT_BYTES = 256 * (4096 + 24) + 32
"""What of its WAL file a SQLite database file keeps when the WAL restarts from its
beginning (``journal_size_limit``: the first commit after the restart truncates the file
to this size, or to what the WAL holds if more): 256 pages of 4 KiB with their frame
headers. Past this size, the file's size is what the WAL holds, which
:class:`~strongroom.metadata.wal.WalCheckpoints` reads to copy it back early."""

BUSY_TIMEOUT_MS = 30_000
"""How long a pooled connection waits for SQLite's locks (the loop's never waits)."""


def _refuse_nul(
    _conn: sa.Connection, _cursor: Any, _statement: str, parameters: Any, _context: Any, executemany: bool
) -> None:
    """Every text a client sends (a tag value, a pagination marker, a description) may end
    up as a statement parameter; one holding NUL is the client's error, refused here for
    every front door at once, rather than PostgreSQL's DataError (a 500)."""
    for row in parameters if executemany else (parameters,):
        for value in row.values() if isinstance(row, dict) else row or ():
            if isinstance(value, str) and "\x00" in value:
                raise TextInvalid("text must not contain the NUL character (U+0000)")


def sqlite_file(url: sa.URL) -> str | None:
    """The file a SQLite URL names; None for another backend, an in-memory database or a
    ``file:`` URI."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else database


def _sqlite_engine(url: str) -> sa.Engine:
    if database := sqlite_file(sa.make_url(url)):
        _private_file(Path(database))
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        pool_size=POOL_SIZE,
        max_overflow=0,
    )
    _configure_sqlite(engine, busy_timeout_ms=BUSY_TIMEOUT_MS)
    return engine


def loop_reader(engine: sa.Engine) -> sa.Engine | None:
    """For a SQLite file, a second engine of one connection, for the small reads and writes
    the event loop runs itself (:meth:`Database.read`, ``Database.write(small=True)``). Its
    connection is outside the pool, so the loop never waits for a pooled connection, and it
    never waits on a lock either: its busy timeout is 0, and work that finds the database
    locked goes to a thread instead. Its commits never checkpoint (``wal_autocheckpoint``
    0): ``Database`` has that done in a thread (:mod:`strongroom.metadata.wal`).
    None for PostgreSQL (every statement is a round trip over the network: the loop must
    not wait on it) and for an in-memory database (a second engine would open another)."""
    if sqlite_file(engine.url) is None:
        return None
    reader = sa.create_engine(
        engine.url, connect_args={"check_same_thread": False, "timeout": 0}, poolclass=sa.pool.StaticPool
    )
    _configure_sqlite(reader, busy_timeout_ms=0, autocheckpoint=False)
    sa.event.listen(reader, "before_cursor_execute", _refuse_nul)
    return reader


def _configure_sqlite(engine: sa.Engine, *, busy_timeout_ms: int, autocheckpoint: bool = True) -> None:
    """``autocheckpoint`` False: the connection's commits never checkpoint (it writes on the
    event loop, which must not wait on a checkpoint's fsyncs; ``Database`` checkpoints
    for it in a thread)."""

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling is broken).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a process crash loses nothing committed; power loss may lose
        # the last transactions but never corrupts.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        if sqlite_file(engine.url) is not None:
            cursor.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES:d}")
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


def _private_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would use the umask, usually
    0644), and make an older one private: it holds every policy and user. SQLite gives
    its ``-wal`` and ``-shm`` files the database file's mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for existing in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if existing.stat().st_mode & 0o077:
                existing.chmod(0o600)


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
