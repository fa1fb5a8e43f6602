"""The databases the metadata contract tests run against: SQLite in the test's directory,
and PostgreSQL, where each test gets a schema of its own (so tests never see each other's
tables).

The PostgreSQL server is the one ``STRONGROOM_TEST_DATABASE_URL`` names, or else a throwaway
cluster this run makes (``initdb`` into a temporary directory, ``pg_ctl`` on a free port of
127.0.0.1, stopped and deleted at the end). Whatever server happens to answer on 5432 is
never used unless the URL names it.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from strongroom.metadata.engine import create_engine
from support.tools import require

URL_VARIABLE = "STRONGROOM_TEST_DATABASE_URL"
CLUSTER_USERS = ("postgres", "nobody")
"""initdb refuses to run as root: as root the cluster belongs to the first of these."""
START_TIMEOUT = 60


def configured_url() -> str | None:
    return os.environ.get(URL_VARIABLE) or None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _cluster_owner() -> pwd.struct_passwd | None:
    """Who runs the cluster: nobody in particular unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in CLUSTER_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(f"running as root and none of the users {CLUSTER_USERS} exists to own PostgreSQL")


def _run_as(owner: pwd.struct_passwd | None, command: list[str]) -> None:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=START_TIMEOUT, check=False,
        user=None if owner is None else owner.pw_uid,
        group=None if owner is None else owner.pw_gid,
        extra_groups=None if owner is None else [],
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"$ {' '.join(command)}\nexit {result.returncode}\n{result.stdout}{result.stderr}")


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """A new PostgreSQL cluster on a free port of 127.0.0.1, trusting local connections,
    without fsync (its data dies with the run); yields its URL."""
    initdb, pg_ctl = require("postgres", "initdb"), require("postgres", "pg_ctl")
    owner = _cluster_owner()
    # Not under pytest's tmp_path (or a root-only TMPDIR): 0700 parents would keep the
    # cluster's owner out. Short, too: the socket's path must fit in 107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="strongroom-pg-", dir="/tmp" if owner else None))
    data = directory / "data"
    if owner is not None:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    options = f"-h 127.0.0.1 -p {port} -k {directory} -F -c max_connections=200"
    try:
        _run_as(owner, [initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        _run_as(owner, [pg_ctl, "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "start"])
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run_as(owner, [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of the PostgreSQL the tests use: the configured one, or a throwaway cluster."""
    url = configured_url()
    if url is not None:
        yield url
        return
    with throwaway_cluster() as url:
        yield url


@contextmanager
def isolated_schema(base: str) -> Iterator[str]:
    """A URL to a new, empty schema of the PostgreSQL at ``base``, dropped afterwards."""
    schema = f"test_{secrets.token_hex(8)}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def isolated_database_url(kind: str, directory: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of ``kind``: SQLite in ``directory``, or a schema of its own on the
    run's PostgreSQL (the session's ``postgres_base_url`` fixture)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'meta.db'}"
        return
    with isolated_schema(request.getfixturevalue("postgres_base_url")) as url:
        yield url
