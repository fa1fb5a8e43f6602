from __future__ import annotations

import pytest

from strongroom.auth.throttle import LoginThrottle, ThrottlePolicy, attempt_keys
from strongroom.errors import TooManyRequests


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_are_slowed_then_refused_then_forgiven() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(ThrottlePolicy(slow_after=2, refuse_after=5, window=60, lockout=100), clock)
    delays = [throttle.failed("credential:ci", "address:10.0.0.1") for _ in range(4)]
    assert delays[:2] == [0.0, 0.0]
    assert 0 < delays[2] < delays[3] <= 5
    throttle.check("credential:ci")  # 4 failures: still allowed
    throttle.failed("credential:ci", "address:10.0.0.1")
    with pytest.raises(TooManyRequests) as refused:
        throttle.check("credential:ci")
    assert refused.value.retry_after == pytest.approx(100)
    with pytest.raises(TooManyRequests):
        throttle.check("credential:other", "address:10.0.0.1")  # the address is locked too
    throttle.check("credential:other", "address:10.0.0.2")
    clock.now += 101
    throttle.check("credential:ci", "address:10.0.0.1")


def test_old_failures_leave_the_window_and_success_clears() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(ThrottlePolicy(slow_after=1, refuse_after=3, window=10, lockout=50), clock)
    throttle.failed("credential:ci")
    throttle.failed("credential:ci")
    clock.now += 11
    assert throttle.failed("credential:ci") == 0.0  # the first two expired
    throttle.succeeded("credential:ci")
    throttle.failed("credential:ci")
    throttle.failed("credential:ci")
    throttle.check("credential:ci")


def test_capacity_is_bounded() -> None:
    throttle = LoginThrottle(ThrottlePolicy(), FakeClock(), capacity=10)
    for n in range(100):
        throttle.failed(f"address:{n}")
    assert len(throttle._records) == 10


def test_failures_count_against_the_address_and_the_attempt_never_the_credential_alone() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(ThrottlePolicy(slow_after=1, refuse_after=2, window=60, lockout=100), clock)
    guessing = attempt_keys("10.0.0.1", "AKIAVICTIM0000000001")
    for _ in range(2):
        throttle.failed(*guessing)
    with pytest.raises(TooManyRequests):
        throttle.check(*guessing)
    throttle.check(*attempt_keys("10.0.0.2", "AKIAVICTIM0000000001"))  # the owner, elsewhere
    assert all("10.0.0.1" in key for key in guessing)
