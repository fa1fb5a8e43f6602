"""The C library calls the server needs that Python's ``os`` does not offer, through
``ctypes`` (the process's own symbols: no library is loaded). Each is only an
optimisation: where the call does not exist (not Linux, not glibc) it does nothing and
returns False, and the caller goes on as before."""

from __future__ import annotations

import ctypes
import sys
from typing import Any

SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writing dirty pages not already under writeback
M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3


def _function(name: str, argtypes: list[Any]) -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):  # a C library without it
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _function("sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint])
_MALLOPT = _function("mallopt", [ctypes.c_int, ctypes.c_int])


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Start writing bytes ``offset`` to ``offset + length`` of ``fd`` to disk without
    waiting (``sync_file_range`` with ``SYNC_FILE_RANGE_WRITE``, as PostgreSQL's
    ``pg_flush_data`` and RocksDB's ``bytes_per_sync`` do). It makes nothing durable: an
    ``fsync`` still must. Returns whether the kernel accepted (False where unsupported, or
    refused, e.g. on a pipe)."""
    if _SYNC_FILE_RANGE is None or length <= 0:
        return False
    return bool(_SYNC_FILE_RANGE(fd, offset, length, SYNC_FILE_RANGE_WRITE) == 0)


def set_malloc_thresholds(mmap_threshold: int, trim_threshold: int) -> bool:
    """glibc's ``mallopt``: allocations from ``mmap_threshold`` bytes up get their own
    mapping (returned to the system when freed); smaller ones come from the heap, which is
    given back only while more than ``trim_threshold`` bytes at its top are free. Returns
    whether both were set (False without glibc)."""
    if _MALLOPT is None:
        return False
    mmap_set = bool(_MALLOPT(M_MMAP_THRESHOLD, mmap_threshold))
    trim_set = bool(_MALLOPT(M_TRIM_THRESHOLD, trim_threshold))
    return mmap_set and trim_set
