"""The databases the metadata contract tests run against: SQLite in the test's
directory, and the PostgreSQL named by ``STRONGROOM_TEST_DATABASE_URL``, where each
test gets a schema of its own (so test runs never see each other's tables)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from strongroom.metadata.engine import create_engine


def postgres_url() -> str | None:
    """``STRONGROOM_TEST_DATABASE_URL``; under ``CI=true`` its absence fails the run."""
    url = os.environ.get("STRONGROOM_TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but STRONGROOM_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI")
    return None


@contextmanager
def isolated_database_url(kind: str, directory: Path) -> Iterator[str]:
    """A URL to an empty database of ``kind`` (``sqlite`` or ``postgresql``)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'meta.db'}"
        return
    base = postgres_url()
    if base is None:
        pytest.skip("STRONGROOM_TEST_DATABASE_URL not set")
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
