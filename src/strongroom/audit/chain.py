"""The hash chain over audit records: canonical JSON, links, verification. Pure.

Each row is ``(seq, at, record, prev_hash, hash)`` with::

    hash(1) = sha256("000…000" + "\\n" + record(1))      # GENESIS: 64 zeros
    hash(n) = sha256(hash(n-1) + "\\n" + record(n))

``at`` repeats the record's ``time`` so the table can be indexed by it; verification
checks that the two agree. Verification reads rows in ``seq`` order, once, in constant
memory, and names the first row that breaks the chain and why.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

GENESIS = "0" * 64
"""The ``prev_hash`` of the first event."""

Breakage = Literal["altered", "broken_link", "deleted", "reordered", "truncated"]


def canonical_json(value: object) -> str:
    """One text per value: sorted keys, no whitespace, ASCII only (so that no database,
    driver or editor can re-encode it without changing its bytes), no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def timestamp(moment: datetime) -> str:
    """An event's time as the record spells it: UTC, microseconds, ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def link(prev_hash: str, record: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{record}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainRow:
    seq: int
    at: datetime
    record: str
    prev_hash: str
    hash: str


def seal(seq: int, at: datetime, record: str, prev_hash: str) -> ChainRow:
    """The row that appends ``record`` after the event whose hash is ``prev_hash``."""
    return ChainRow(seq, at, record, prev_hash, link(prev_hash, record))


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    events: int
    """Rows read."""
    head: str
    """The hash of the last row verified (``GENESIS`` for an empty log)."""
    broken_seq: int | None = None
    reason: Breakage | None = None
    explanation: str | None = None

    def as_json(self) -> dict[str, object]:
        if self.ok:
            return {"ok": True, "events": self.events, "head": self.head}
        return {
            "ok": False,
            "events": self.events,
            "broken_seq": self.broken_seq,
            "reason": self.reason,
            "explanation": self.explanation,
            "verified_head": self.head,
        }


@dataclass(frozen=True, slots=True)
class _Fault:
    seq: int | None
    reason: Breakage
    explanation: str


class ChainVerifier:
    """Feed rows in the order read; ask for the result at the end.

    After the first fault the verifier keeps reading only to explain it better: a seq
    missing at its place but read later, or a row whose ``prev_hash`` is the hash of a
    later row, means rows were reordered rather than deleted or forged; an expected head
    that never appears means the tail was cut off."""

    def __init__(self, expect_head: str | None = None) -> None:
        self._events = 0
        self._last_seq = 0
        self._head = GENESIS
        self._fault: _Fault | None = None
        self._moved_after: str | None = None
        self._missing: tuple[int, int] | None = None  # (seq not seen, seq read in its place)
        self._expect_head = expect_head
        self._head_seen = expect_head in (None, GENESIS)

    def feed(self, row: ChainRow) -> None:
        self._events += 1
        if row.hash == self._expect_head:
            self._head_seen = True
        if self._fault is not None:
            if self._missing is not None and row.seq == self._missing[0]:
                early, late = self._missing[1], row.seq
                self._fault = _Fault(early, "reordered", f"seq {early} comes before seq {late}")
                self._missing = None
            if self._moved_after is not None and row.hash == self._moved_after:
                self._fault = _Fault(
                    self._fault.seq, "reordered", f"seq {self._fault.seq} follows an event stored after it"
                )
                self._moved_after = None
            return
        self._fault = self._check(row)
        if self._fault is None:
            self._last_seq, self._head = row.seq, row.hash
        elif self._fault.reason == "broken_link":
            self._moved_after = row.prev_hash
        elif self._fault.reason == "deleted":
            self._missing = (self._last_seq + 1, row.seq)

    def result(self) -> VerifyResult:
        fault = self._fault
        if fault is None and not self._head_seen:
            fault = _Fault(
                None,
                "truncated",
                f"the expected head {self._expect_head} is not in the log: events were removed",
            )
        if fault is None:
            return VerifyResult(True, self._events, self._head)
        return VerifyResult(False, self._events, self._head, fault.seq, fault.reason, fault.explanation)

    def _check(self, row: ChainRow) -> _Fault | None:
        expected = self._last_seq + 1
        if row.seq < expected:
            return _Fault(row.seq, "reordered", f"seq {row.seq} comes after seq {self._last_seq}")
        if row.seq > expected:
            missing = str(expected) if row.seq == expected + 1 else f"{expected}..{row.seq - 1}"
            return _Fault(expected, "deleted", f"seq {missing} missing: event(s) deleted")
        if link(row.prev_hash, row.record) != row.hash:
            return _Fault(row.seq, "altered", "the record does not match its hash: it was changed")
        if row.prev_hash != self._head:
            return _Fault(
                row.seq,
                "broken_link",
                f"prev_hash is not the hash of seq {self._last_seq}: "
                "that event was rewritten, or this one forged",
            )
        if _record_time(row.record) != timestamp(row.at):
            return _Fault(row.seq, "altered", "the at column disagrees with the record's time")
        return None


def _record_time(record: str) -> object:
    try:
        parsed = json.loads(record)
    except ValueError:
        return None
    return parsed.get("time") if isinstance(parsed, dict) else None


def verify_chain(rows: Iterable[ChainRow], *, expect_head: str | None = None) -> VerifyResult:
    verifier = ChainVerifier(expect_head)
    for row in rows:
        verifier.feed(row)
    return verifier.result()
