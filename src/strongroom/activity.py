"""When this host's server last began answering a request, for background work to yield to.

The server's HTTP workers note each request here; the job runner asks whether one began
in the last moments and, if so, paces itself (strongroom.jobs.runner). The note is one
``double`` (``time.monotonic()``, the same clock in every process of a host) in a small
file-backed shared mapping beside the database: every process of the server, and a
``strongroom jobs run`` started on the same host, opens the same file by its path. Noting
is a store into shared memory, well under a microsecond; the file is never synced (a
value lost to a crash only means no pacing for a moment).
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from pathlib import Path

ACTIVITY_FILE = "activity"
"""Its name in the data directory."""

_FORMAT = struct.Struct("=d")


class Activity:
    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_size < _FORMAT.size:
                os.ftruncate(fd, _FORMAT.size)
            self._map = mmap.mmap(fd, _FORMAT.size)
        finally:
            os.close(fd)

    def note_request(self) -> None:
        _FORMAT.pack_into(self._map, 0, time.monotonic())

    def busy(self, within: float) -> bool:
        """Whether a request began in the last ``within`` seconds."""
        last: float = _FORMAT.unpack_from(self._map, 0)[0]
        return time.monotonic() - last < within

    def close(self) -> None:
        self._map.close()
