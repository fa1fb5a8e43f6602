"""Failed sign-ins, aggregated, so that someone guessing cannot grow the audit log by one
event per guess (issue 9 §2.7).

The first failure of a (source address, claimed identity) pair opens a window and is
recorded in full at once; further failures of that pair within ``window`` seconds are
only counted, and when the window closes one event records how many there were, from
when to when. At most ``capacity`` windows are open at a time; failures beyond that are
counted in one shared window (source and identity ``*``), so the log grows by at most
about ``2 * (capacity + 1)`` events per window whatever the attacker sends.

Pure bookkeeping: callers record the events it returns (``note`` on each failure,
``due`` periodically so the last windows are written even when the failures stop).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from strongroom.audit.log import ANONYMOUS, AuditEvent, JsonValue

OVERFLOW = ("*", "*")


@dataclass(slots=True)
class _Window:
    opened: datetime
    action: str
    resource: str
    last: datetime
    repeated: int = 0


class SignInFailures:
    def __init__(self, window: timedelta = timedelta(minutes=1), capacity: int = 256) -> None:
        self._window = window
        self._capacity = capacity
        self._open: OrderedDict[tuple[str, str], _Window] = OrderedDict()

    def note(
        self, now: datetime, source: str | None, claimed: str, action: str, resource: str, message: str
    ) -> list[AuditEvent]:
        """A failure: the events to record now (its own if it opens a window, and the
        summaries of windows that have closed)."""
        closed = self.due(now)
        key = (source or "", claimed[:128])
        if key not in self._open and len(self._open) >= self._capacity:
            key = OVERFLOW
        window = self._open.get(key)
        if window is not None:
            window.repeated += 1
            window.last = now
            return closed
        self._open[key] = _Window(now, action, resource, now)
        detail: dict[str, JsonValue] = {
            "message": message,
            "claimed": key[1],
            "aggregated_for_seconds": self._seconds,
        }
        return [*closed, AuditEvent(now, ANONYMOUS, action, resource, source, "deny", detail)]

    def due(self, now: datetime) -> list[AuditEvent]:
        """Summaries of the windows that have closed by ``now`` (and had repeats)."""
        events = []
        while self._open:
            key, window = next(iter(self._open.items()))
            if now - window.opened < self._window:
                break
            del self._open[key]
            if window.repeated:
                events.append(self._summary(key, window))
        return events

    def _summary(self, key: tuple[str, str], window: _Window) -> AuditEvent:
        source, claimed = key
        detail: dict[str, JsonValue] = {
            "message": f"{window.repeated} more failed sign-ins",
            "claimed": claimed,
            "repeated": window.repeated,
            "first": window.opened.isoformat(),
            "last": window.last.isoformat(),
        }
        source_ip = source or None
        return AuditEvent(window.last, ANONYMOUS, window.action, window.resource, source_ip, "deny", detail)

    @property
    def _seconds(self) -> int:
        return int(self._window.total_seconds())
