"""The hash chain (audit/chain.py) and the event record (audit/log.py), without a database."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.audit.chain import GENESIS, ChainRow, canonical_json, seal, verify_chain
from strongroom.audit.log import ANONYMOUS, AuditEvent

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ALICE = "arn:aws:iam::123456789012:user/alice"
REPO = "arn:aws:ecr:us-east-1:123456789012:repository/ml/model"


def event(n: int, **changes: object) -> AuditEvent:
    base = AuditEvent(
        time=T0 + timedelta(seconds=n),
        principal=ALICE,
        action="ecr:PutImage",
        resource=REPO,
        source_ip="192.0.2.7",
        decision="allow",
        detail={"status": 201, "tag": f"v{n}", "digest": "sha256:" + "ab" * 32},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def chain(events: list[AuditEvent]) -> list[ChainRow]:
    rows: list[ChainRow] = []
    for seq, item in enumerate(events, start=1):
        rows.append(seal(seq, item.time, item.to_record(), rows[-1].hash if rows else GENESIS))
    return rows


def five() -> list[ChainRow]:
    return chain([event(n) for n in range(5)])


def test_canonical_json_is_one_text_per_value() -> None:
    assert canonical_json({"b": [1, "é"], "a": None}) == '{"a":null,"b":[1,"\\u00e9"]}'
    with pytest.raises(ValueError, match="Out of range float"):
        canonical_json({"x": float("nan")})


def test_links_follow_the_documented_formula() -> None:
    rows = five()
    assert rows[0].prev_hash == GENESIS == "0" * 64
    assert rows[0].hash == hashlib.sha256(f"{GENESIS}\n{rows[0].record}".encode()).hexdigest()
    assert all(row.prev_hash == before.hash for before, row in itertools.pairwise(rows))


def test_event_round_trips_through_its_record() -> None:
    original = event(3, principal=ANONYMOUS, decision="deny", source_ip=None, detail={"n": [1, {"x": "ü"}]})
    record = original.to_record()
    assert record.isascii()
    assert AuditEvent.from_record(record) == original
    assert canonical_json(json.loads(record)) == record  # exports re-canonicalise to the hashed text


def test_intact_chain_verifies() -> None:
    rows = five()
    result = verify_chain(rows)
    assert (result.ok, result.events, result.head) == (True, 5, rows[-1].hash)
    assert result.as_json() == {"ok": True, "events": 5, "head": rows[-1].hash}
    assert verify_chain([]).as_json() == {"ok": True, "events": 0, "head": GENESIS}


def test_altered_record_is_detected() -> None:
    rows = five()
    forged = rows[2].record.replace('"allow"', '"deny"')
    rows[2] = dataclasses.replace(rows[2], record=forged)
    result = verify_chain(rows)
    assert (result.ok, result.broken_seq, result.reason) == (False, 3, "altered")
    assert result.head == rows[1].hash


def test_rehashed_forgery_breaks_the_next_link() -> None:
    rows = five()
    forged = rows[2].record.replace('"allow"', '"deny"')
    rows[2] = seal(3, rows[2].at, forged, rows[2].prev_hash)
    result = verify_chain(rows)
    assert (result.broken_seq, result.reason) == (4, "broken_link")


def test_deleted_row_is_a_gap() -> None:
    rows = five()
    del rows[2]
    result = verify_chain(rows)
    assert (result.ok, result.broken_seq, result.reason) == (False, 3, "deleted")
    first_gone = verify_chain(five()[1:])
    assert (first_gone.broken_seq, first_gone.reason) == (1, "deleted")


def test_renumbered_deletion_breaks_the_link() -> None:
    rows = five()
    del rows[2]
    rows = [dataclasses.replace(row, seq=seq) for seq, row in enumerate(rows, start=1)]
    assert (verify_chain(rows).broken_seq, verify_chain(rows).reason) == (3, "broken_link")


def test_reordered_rows_are_detected() -> None:
    rows = five()
    rows[1], rows[2] = rows[2], rows[1]  # an export with lines swapped
    assert (verify_chain(rows).broken_seq, verify_chain(rows).reason) == (3, "reordered")
    swapped = five()  # contents swapped, seq kept (an UPDATE of seq in the database)
    swapped[1], swapped[2] = (
        dataclasses.replace(swapped[2], seq=2),
        dataclasses.replace(swapped[1], seq=3),
    )
    result = verify_chain(swapped)
    assert (result.broken_seq, result.reason) == (2, "reordered")


def test_at_column_must_match_the_record_time() -> None:
    rows = five()
    rows[4] = dataclasses.replace(rows[4], at=rows[4].at + timedelta(days=1))
    assert (verify_chain(rows).broken_seq, verify_chain(rows).reason) == (5, "altered")


def test_truncated_tail_is_detected_against_an_expected_head() -> None:
    rows = five()
    head = rows[-1].hash
    assert verify_chain(rows, expect_head=head).ok
    assert verify_chain(chain([event(n) for n in range(8)]), expect_head=head).ok  # the log grew since
    truncated = verify_chain(rows[:-1], expect_head=head)
    assert (truncated.ok, truncated.broken_seq, truncated.reason) == (False, None, "truncated")
    assert verify_chain(rows[:-1]).ok  # without an anchor the chain alone cannot tell


def test_events_refuse_credentials_and_bad_values() -> None:
    for key in ("secret_access_key", "Password", "session-token", "Authorization"):
        with pytest.raises(ValueError, match="credentials"):
            event(0, detail={"request": {key: "x"}})
    with pytest.raises(ValueError, match="decision"):
        event(0, decision="maybe")
    with pytest.raises(ValueError, match="naive"):
        event(0, time=datetime(2026, 1, 1))
    with pytest.raises(TypeError):
        event(0, detail={"when": T0})


records = st.lists(
    st.builds(
        lambda n, principal, action, detail: event(n, principal=principal, action=action, detail=detail),
        st.integers(0, 10**6),
        st.text(max_size=40),
        st.sampled_from(["ecr:PutImage", "iam:CreateUser", "ecr:BatchGetImage"]),
        st.dictionaries(st.text(alphabet="abcdefgh", max_size=8), st.text() | st.integers(), max_size=4),
    ),
    min_size=1,
    max_size=6,
)


@given(records, st.data())
def test_any_single_byte_change_to_any_record_is_detected(
    events: list[AuditEvent], data: st.DataObject
) -> None:
    rows = chain(events)
    index = data.draw(st.integers(0, len(rows) - 1))
    raw = bytearray(rows[index].record.encode("ascii"))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[position]))
    rows[index] = dataclasses.replace(rows[index], record=raw.decode("latin-1"))  # bytes ↔ text one to one
    result = verify_chain(rows)
    assert (result.ok, result.broken_seq, result.reason) == (False, index + 1, "altered")
