"""Failed sign-ins are aggregated per address and claimed identity, in bounded windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from strongroom.audit.sign_ins import SignInFailures

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=1)


def fail(failures: SignInFailures, at: datetime, source: str = "10.0.0.1", claimed: str = "ci") -> list[str]:
    events = failures.note(at, source, claimed, "ecr:BatchGetImage", "*", "invalid username or password")
    return [str(event.detail["message"]) for event in events]


def test_a_window_records_the_first_failure_then_one_count() -> None:
    failures = SignInFailures(WINDOW)
    assert fail(failures, T0) == ["invalid username or password"]
    assert all(fail(failures, T0 + timedelta(seconds=n)) == [] for n in range(1, 40))
    assert failures.due(T0 + timedelta(seconds=59)) == []
    (summary,) = failures.due(T0 + WINDOW)
    assert summary.detail["repeated"] == 39
    assert summary.detail["first"] == T0.isoformat()
    assert summary.detail["last"] == (T0 + timedelta(seconds=39)).isoformat()
    assert (summary.source_ip, summary.decision, summary.principal) == ("10.0.0.1", "deny", "anonymous")
    assert fail(failures, T0 + 2 * WINDOW) == ["invalid username or password"]  # a new window


def test_each_address_and_identity_has_its_own_window_and_a_lone_failure_no_summary() -> None:
    failures = SignInFailures(WINDOW)
    assert len(fail(failures, T0, "10.0.0.1", "ci")) == 1
    assert len(fail(failures, T0, "10.0.0.2", "ci")) == 1
    assert len(fail(failures, T0, "10.0.0.1", "admin")) == 1
    closing = fail(failures, T0 + WINDOW, "10.0.0.9", "x")  # closes the others as it opens
    assert closing == ["invalid username or password"]


def test_the_log_grows_by_a_bounded_number_of_events_whatever_is_sent() -> None:
    failures = SignInFailures(WINDOW, capacity=10)
    recorded = sum(len(fail(failures, T0, f"10.0.{n // 250}.{n % 250}", f"user{n}")) for n in range(5000))
    recorded += len(failures.due(T0 + WINDOW))
    assert recorded == 10 + 1 + 1  # ten windows, the shared overflow window, its count
    overflow = failures.note(T0 + 2 * WINDOW, "10.9.9.9", "new", "a", "*", "m")
    assert overflow[-1].detail["claimed"] == "new"  # windows free again once closed
