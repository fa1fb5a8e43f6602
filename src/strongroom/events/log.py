"""Reading the event log: an account's recent events, a page at a time; the page token
(a time and an id) is shared with other lists kept in time order."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from strongroom.errors import InvalidRequest
from strongroom.events.catalogue import CATALOGUE
from strongroom.metadata.events import Event, SqlEventStore

MAX_PAGE = 1000


class EventLog:
    def __init__(self, store: SqlEventStore) -> None:
        self._store = store

    async def page(
        self,
        account_id: str | None,
        *,
        since: datetime | None,
        type: str | None,
        next_token: str | None,
        limit: int,
    ) -> tuple[list[Event], str | None]:
        """Events oldest first and the token of the next page (None on the last)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"maxResults must be from 1 to {MAX_PAGE}")
        after = decode_page_token(next_token) if next_token else None
        found = await self._store.find(
            since=since, type=type, account_id=account_id, after=after, limit=limit
        )
        token = encode_page_token(found[-1].at, found[-1].id) if len(found) == limit else None
        return found, token


def encode_page_token(at: datetime, item_id: str) -> str:
    """The token of the page after the item of this time and id."""
    # Unpadded: a token is a query parameter value, and "=" there trips up some signers.
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{item_id}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        at, event_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|", 1)
        when = datetime.fromisoformat(at)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("invalid nextToken") from None
    if when.tzinfo is None:
        raise InvalidRequest("invalid nextToken")
    return when, event_id


def event_document(event: Event) -> dict[str, object]:
    """An event as ``/admin/v1/events`` and ``strongroom events list`` show it."""
    return {
        "id": event.id,
        "type": event.type,
        "cloudEventsType": CATALOGUE[event.type].cloudevents_type if event.type in CATALOGUE else None,
        "time": event.at.isoformat(),
        "account": event.account_id,
        "subject": event.subject,
        "data": event.data,
    }
