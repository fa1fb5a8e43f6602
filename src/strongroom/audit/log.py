"""Audit events and the service that records, queries, exports and verifies them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal, Protocol, TypeAlias, get_args

from strongroom.audit.chain import ChainRow, ChainVerifier, VerifyResult, canonical_json, timestamp

JsonValue: TypeAlias = "bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
Decision = Literal["allow", "deny"]

ANONYMOUS = "anonymous"
"""The principal of a request that carried no credentials."""

RECORD_VERSION = 1
PAGE = 500

# Defence in depth: a detail key that names one of these is a bug waiting to leak a
# credential into a log kept forever.
_SECRET_WORDS = (
    "secret",
    "password",
    "passwd",
    "token",
    "authorization",
    "credential",
    "cookie",
    "privatekey",
)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Who did what to which resource, from where, and whether it was allowed."""

    time: datetime
    principal: str
    """The caller's ARN, or ``"anonymous"``."""
    action: str
    """An IAM action: ``ecr:PutImage``, ``iam:CreateUser``…"""
    resource: str
    """The resource ARN (``*`` for actions on no resource)."""
    source_ip: str | None
    decision: Decision
    detail: Mapping[str, JsonValue] = field(default_factory=dict)
    """JSON-able facts: status code, digest, tag, the deciding statement. Never credentials."""
    _record: str = field(init=False, repr=False, compare=False)
    """The canonical record, encoded once (what is hashed and stored)."""

    def __post_init__(self) -> None:
        if self.decision not in get_args(Decision):
            raise ValueError(f"decision must be allow or deny, not {self.decision!r}")
        _refuse_secrets(self.detail)
        object.__setattr__(self, "detail", MappingProxyType(dict(self.detail)))
        # Encoded now: fails here, not when recording, if time is naive or detail not JSON.
        object.__setattr__(self, "_record", self._encode())

    def to_record(self) -> str:
        return self._record

    def _encode(self) -> str:
        return canonical_json(
            {
                "v": RECORD_VERSION,
                "time": timestamp(self.time),
                "principal": self.principal,
                "action": self.action,
                "resource": self.resource,
                "source_ip": self.source_ip,
                "decision": self.decision,
                "detail": dict(self.detail),
            }
        )

    @classmethod
    def from_record(cls, record: str) -> AuditEvent:
        value = json.loads(record)
        return cls(
            time=datetime.fromisoformat(value["time"]),
            principal=value["principal"],
            action=value["action"],
            resource=value["resource"],
            source_ip=value["source_ip"],
            decision=value["decision"],
            detail=value["detail"],
        )


def _refuse_secrets(detail: object) -> None:
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            folded = str(key).lower().replace("_", "").replace("-", "")
            if any(word in folded for word in _SECRET_WORDS):
                raise ValueError(f"audit detail must not hold credentials: {key!r}")
            _refuse_secrets(value)
    elif isinstance(detail, list | tuple):
        for item in detail:
            _refuse_secrets(item)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An event as stored: its place in the chain and its hash."""

    seq: int
    hash: str
    event: AuditEvent


class AuditAppender(Protocol):
    async def append(self, at: datetime, record: str) -> tuple[int, str]:
        """Chain ``record`` after the last event, atomically; return its seq and hash."""
        ...

    def carrying(
        self, at: datetime, record: str
    ) -> AbstractContextManager[Callable[[], tuple[int, str] | None]]:
        """While open, chain ``record`` in the transaction of the request's effect, if
        it makes one; the function yielded tells its seq and hash once committed."""
        ...


class AuditReader(Protocol):
    async def rows(
        self, after_seq: int = 0, limit: int = PAGE, contains: Sequence[str] = ()
    ) -> list[ChainRow]:
        """Rows with ``seq > after_seq`` in seq order. ``contains``: substrings every
        returned record has (a coarse filter: it may let extra rows through, never
        drop a matching one)."""
        ...


class AuditStore(AuditAppender, AuditReader, Protocol):
    pass


class AuditRecorder(Protocol):
    """The role request handling needs."""

    async def record(self, event: AuditEvent) -> AuditEntry: ...


class TextSink(Protocol):
    def write(self, text: str, /) -> Awaitable[object]: ...


@dataclass(frozen=True, slots=True)
class _Filter:
    principal: str | None = None
    action: str | None = None
    decision: Decision | None = None

    def fields(self) -> dict[str, str]:
        wanted = {"principal": self.principal, "action": self.action, "decision": self.decision}
        return {key: value for key, value in wanted.items() if value is not None}

    def substrings(self) -> list[str]:
        # Canonical JSON spells a top-level field exactly so; the match is re-checked on
        # the parsed record because a nested detail key could spell it too.
        return [f"{canonical_json(key)}:{canonical_json(value)}" for key, value in self.fields().items()]

    def matches(self, record: Mapping[str, object]) -> bool:
        return all(record.get(key) == value for key, value in self.fields().items())


class AuditLog:
    def __init__(self, store: AuditStore) -> None:
        self._store = store

    async def record(self, event: AuditEvent) -> AuditEntry:
        seq, digest = await self._store.append(event.time, event.to_record())
        return AuditEntry(seq, digest, event)

    @contextmanager
    def carrying(self, event: AuditEvent) -> Iterator[Callable[[], AuditEntry | None]]:
        """Record ``event`` with the effect of the request running inside: in the same
        transaction as the manifest it stores or the blob it links, so the two commit
        together or not at all, in one transaction instead of two. The function yielded
        gives the entry once that transaction committed; None if none did (the request
        made no effect, failed, or made one that carries nothing; or the store carries
        nothing, as on PostgreSQL): then record it with :meth:`record` if it should be."""
        with self._store.carrying(event.time, event.to_record()) as appended:

            def entry() -> AuditEntry | None:
                chained = appended()
                return None if chained is None else AuditEntry(*chained, event)

            yield entry

    async def query(
        self,
        since_seq: int | None = None,
        principal: str | None = None,
        action: str | None = None,
        decision: Decision | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Events after ``since_seq`` (oldest first) matching every filter given."""
        entries: list[AuditEntry] = []
        async for row in self._matching(since_seq, _Filter(principal, action, decision)):
            entries.append(AuditEntry(row.seq, row.hash, AuditEvent.from_record(row.record)))
            if len(entries) >= limit:
                break
        return entries

    async def export_jsonl(
        self,
        sink: TextSink,
        since_seq: int | None = None,
        principal: str | None = None,
        action: str | None = None,
        decision: Decision | None = None,
    ) -> int:
        """Write matching events as JSON lines ``{"seq", "prev_hash", "hash", "event"}``;
        return how many. ``canonical_json(line["event"])`` is the hashed record, so an
        export can be verified away from the database."""
        count = 0
        lines: list[str] = []
        async for row in self._matching(since_seq, _Filter(principal, action, decision)):
            event = json.loads(row.record)
            lines.append(
                canonical_json({"seq": row.seq, "prev_hash": row.prev_hash, "hash": row.hash, "event": event})
            )
            count += 1
            if len(lines) >= PAGE:
                await sink.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            await sink.write("\n".join(lines) + "\n")
        return count

    async def verify(self, expect_head: str | None = None) -> VerifyResult:
        """Check the whole chain; with ``expect_head`` (a head recorded earlier), also
        that no event up to it was cut from the end."""
        verifier = ChainVerifier(expect_head)
        after = 0
        while page := await self._store.rows(after, PAGE):
            for row in page:
                verifier.feed(row)
            after = page[-1].seq
        return verifier.result()

    async def _matching(self, since_seq: int | None, wanted: _Filter) -> AsyncIterator[ChainRow]:
        after = since_seq or 0
        substrings = wanted.substrings()
        while page := await self._store.rows(after, PAGE, substrings):
            for row in page:
                if wanted.matches(json.loads(row.record)):
                    yield row
            after = page[-1].seq
