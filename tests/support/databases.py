"""The PostgreSQL the metadata tests also run against."""

from __future__ import annotations

import os

import pytest


def postgres_url() -> str | None:
    """``STRONGROOM_TEST_DATABASE_URL``; under ``CI=true`` its absence fails the run."""
    url = os.environ.get("STRONGROOM_TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but STRONGROOM_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI")
    return None
