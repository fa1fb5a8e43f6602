"""Taking the writers' ``flock`` (``Database``) for an event loop: tried there without
blocking, else waited for in a thread, and released on the loop. A task cancelled while
the thread still waits (``Task.cancel()``, which anyio's shielding does not stop) must not
leave the lock to be taken by a thread nobody waits for any more: the thread that finds
its claim abandoned lets go of the lock itself."""

from __future__ import annotations

import fcntl
import threading


class FlockClaim:
    """One claim on an exclusive ``flock`` of ``fd``: :meth:`try_take` on the loop, or
    :meth:`take` in a thread; :meth:`give_back` always, in a ``finally``."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._state = threading.Lock()
        self._held = False
        self._abandoned = False

    def try_take(self) -> bool:
        """Take the lock if it is free, without waiting."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._held = True
        return True

    def take(self) -> None:
        """Wait for the lock (in a thread)."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        with self._state:
            if self._abandoned:  # the waiting task is gone: nobody will give it back
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                return
            self._held = True

    def give_back(self) -> None:
        """Release the lock if this claim holds it; a thread still waiting for it will
        release it as soon as it has it."""
        with self._state:
            self._abandoned = True
            held, self._held = self._held, False
        if held:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
