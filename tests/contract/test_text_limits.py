"""Text a store cannot keep is refused alike by SQLite and PostgreSQL: a parameter holding
NUL is the client's error (``TextInvalid``, a 4xx at every front door), never
PostgreSQL's DataError (a 500) or, on SQLite, a row PostgreSQL could not hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from strongroom.errors import InvalidRequest
from strongroom.metadata.database import Database
from strongroom.metadata.engine import TextInvalid
from strongroom.metadata.sql import SqlMetadataStore

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


async def test_nul_in_a_lookup_or_a_marker_is_refused(database: Database) -> None:
    store = SqlMetadataStore(database)
    await store.create_default_account(ACCOUNT, NOW)
    await store.ensure_repository(ACCOUNT, "team/app", NOW)
    with pytest.raises(TextInvalid):
        await store.get_repository(ACCOUNT, "team/\x00app")
    with pytest.raises(TextInvalid) as caught:
        await store.list_tags(ACCOUNT, "team/app", "\x00", 10)
    assert isinstance(caught.value, InvalidRequest)
    assert await store.list_tags(ACCOUNT, "team/app", None, 10) == []  # the store still answers
