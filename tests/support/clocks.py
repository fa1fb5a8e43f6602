"""A clock tests move by hand (the ``Clock`` protocol of ``strongroom.clock``)."""

from __future__ import annotations

from datetime import datetime, timedelta


class SteppedClock:
    """Stands still at ``start`` until the test advances it."""

    def __init__(self, start: datetime) -> None:
        self.time = start

    def now(self) -> datetime:
        return self.time

    def advance(self, delta: timedelta) -> None:
        self.time += delta
