"""A server process reuses the memory a request freed: pushing 1 MiB blobs does not fault
fresh pages in for every request (server.keep_freed_memory; without it, 190-230 faults
per push were measured)."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.scans import put_blob
from support.server import start_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

PUSHES = 40
REPOSITORY = "memory/blobs"
PAGES_PER_MIB = 1024 * 1024 // mmap.PAGESIZE


def _session_faults(session: int) -> int:
    """Minor page faults of every process in the server's session (its workers, the job
    process), from /proc/<pid>/stat."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[3]) == session:  # state ppid pgrp session ...
            total += int(fields[7])  # ... tty_nr tpgid flags minflt
    return total


def _thresholds_can_be_set() -> bool:
    """Whether the server's call succeeds here (it needs glibc), asked of a new process so
    that this one's allocator is left as it is."""
    probe = (
        "import sys; from strongroom.cli.server import keep_freed_memory; sys.exit(not keep_freed_memory())"
    )
    return subprocess.run([sys.executable, "-c", probe], check=False, timeout=60).returncode == 0


def test_pushes_of_1_mib_do_not_fault_in_fresh_memory_each_time(tmp_path: Path) -> None:
    if not _thresholds_can_be_set():
        pytest.skip("mallopt is glibc's: the server cannot set its thresholds here")
    server = start_server(tmp_path / "data", args=["--workers", "1"])
    try:
        with server.client() as client:
            for _ in range(10):  # the heap grows to what a push needs, once
                put_blob(client, REPOSITORY, os.urandom(1024 * 1024))
            blobs = [os.urandom(1024 * 1024) for _ in range(PUSHES)]
            before = _session_faults(server.process.pid)
            for data in blobs:
                put_blob(client, REPOSITORY, data)
            per_push = (_session_faults(server.process.pid) - before) / PUSHES
    finally:
        server.stop()
    # glibc's default thresholds faulted most of a MiB's pages in again per push (~225 of
    # 256 pages of 4 KiB); with the server's thresholds, 2-5
    assert per_push < PAGES_PER_MIB / 6, f"{per_push:.0f} page faults per 1 MiB push"
