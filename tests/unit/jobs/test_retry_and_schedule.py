"""Backoff delays and periodic slots: pure arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strongroom.jobs.retry import RetryPolicy
from strongroom.jobs.schedule import Periodic

POLICY = RetryPolicy(timedelta(seconds=10), cap=timedelta(minutes=5))


@pytest.mark.parametrize(
    ("attempts", "random", "expected"),
    [
        (1, 0.0, 5.0),  # half the base at the least
        (1, 0.999999, 10.0),  # the whole base at the most
        (2, 0.0, 10.0),
        (3, 0.5, 30.0),  # 40 s ceiling, three quarters of it
        (6, 0.999999, 300.0),  # 320 s ceiling, capped
        (500, 0.0, 150.0),  # huge attempt counts stay within range
    ],
)
def test_backoff_doubles_with_jitter_up_to_the_cap(attempts: int, random: float, expected: float) -> None:
    delay = POLICY.delay(attempts, lambda: random)
    assert delay.total_seconds() == pytest.approx(expected, abs=1e-3)


def test_one_job_per_slot_with_a_key_every_scheduler_agrees_on() -> None:
    hourly = Periodic("lifecycle.apply", timedelta(hours=1))
    at = datetime(2026, 12, 4, 15, 42, 7, tzinfo=UTC)
    job = hourly.job_for(at)
    assert job.run_at == datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    assert job.idempotency_key == hourly.job_for(at.replace(minute=59)).idempotency_key
    assert job.idempotency_key != hourly.job_for(at + timedelta(hours=1)).idempotency_key
    half_second = Periodic("uploads.expire", timedelta(seconds=0.5))
    assert half_second.job_for(at).run_at == at.replace(microsecond=0)
    assert half_second.job_for(at + timedelta(seconds=0.6)).run_at == at + timedelta(seconds=0.5)
