"""The ``probe`` job kind: a job that records each run to a file, so tests can count
what the queue really ran across processes and crashes.

Registered only when the ``job_probe_file`` setting names a file (the test suite sets
it); then every pushed image also queues a probe job. A run appends ``start`` when it
begins and ``done`` when it ends, one JSON line each (``O_APPEND``, so lines from
several processes never interleave). A payload may ask it to sleep (``seconds``) or to
fail its first attempts (``fail_attempts``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import anyio.to_thread

from strongroom.metadata.jobs import Job

PROBE = "probe"


class ProbeJob:
    def __init__(self, path: Path) -> None:
        self._path = path

    async def __call__(self, job: Job) -> None:
        await self._record("start", job)
        await anyio.sleep(float(job.payload.get("seconds", 0)))
        if job.attempts <= int(job.payload.get("fail_attempts", 0)):
            raise RuntimeError(f"the probe was asked to fail attempt {job.attempts}")
        await self._record("done", job)

    async def _record(self, step: str, job: Job) -> None:
        line = json.dumps(
            {
                "step": step,
                "job": job.id,
                "key": job.idempotency_key,
                "attempt": job.attempts,
                "pid": os.getpid(),
            }
        )
        await anyio.to_thread.run_sync(self._append, line + "\n")

    def _append(self, line: str) -> None:
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
