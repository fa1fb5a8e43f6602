"""The server's job runners, in a process of their own beside the HTTP workers.

Jobs (scans, lineage detection, replication, webhook deliveries, housekeeping) used to run
inside each HTTP worker, on its event loop and under its GIL: a burst of pushes queued
a job each, and the reads that followed waited behind them (regbench's c=1 reads fell to
0.4-0.55x the reference registry; docs/adr/0022-job-process.md). So ``strongroom serve``
forks one job process after it has loaded the application (sharing those pages) and
before granian forks the HTTP workers, which then run no jobs. The job process runs at
a lower CPU priority (:data:`JOB_NICENESS`): background work takes what the requests
leave, and all of it when they leave everything. Scan analysis runs in child processes
of its own (strongroom.scanning.isolation), so one job process still uses every core.

The process is supervised: if it dies other than by being told to stop, another is
started (after a back-off); it stops itself if the server's process goes away (SIGKILL),
and :meth:`JobProcess.stop` ends it when the server stops.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading

import anyio

from strongroom.services import build_job_runner, build_services
from strongroom.settings import Settings

JOB_NICENESS = 10
"""Added to the job process's niceness: the HTTP workers come first on a busy machine."""
PARENT_CHECK_SECONDS = 1.0
RESPAWN_BACKOFF_SECONDS = (1.0, 30.0)
"""The first and the longest wait before a job process that died is replaced."""

logger = logging.getLogger("strongroom.jobs")


async def run_until_signalled(settings: Settings, concurrency: int, parent: int | None = None) -> None:
    """Run the job runners until SIGTERM or SIGINT, or until the process ``parent`` is
    gone; running jobs finish or go back to the queue."""
    services = await build_services(settings, writes_on_loop=True)
    try:
        runner = build_job_runner(services, concurrency)
        async with anyio.create_task_group() as tasks:

            async def stop_on_signal() -> None:
                # Received until the end: a second SIGTERM (the process group's, then the
                # server's own) must not kill the process while it gives jobs back.
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        runner.stop()

            async def stop_when_orphaned() -> None:
                while True:  # no event tells of a parent's death: ask the kernel
                    await anyio.sleep(PARENT_CHECK_SECONDS)
                    if os.getppid() != parent:
                        break
                logger.warning("the server process %s is gone: stopping the job runner", parent)
                runner.stop()

            tasks.start_soon(stop_on_signal)
            if parent is not None:
                tasks.start_soon(stop_when_orphaned)
            logger.info("job runner %s started", runner.owner)
            await runner.run()
            tasks.cancel_scope.cancel()
    finally:
        services.close()


def _main(settings: Settings, parent: int) -> None:
    os.nice(JOB_NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # whatever the parent had installed
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    anyio.run(run_until_signalled, settings, settings.job_concurrency, parent)


class JobProcess:
    """One supervised job process (see the module's text)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("fork")
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> None:
        self._spawn()
        threading.Thread(target=self._supervise, name="strongroom-job-process", daemon=True).start()

    def stop(self, grace_seconds: float) -> None:
        """SIGTERM, then SIGKILL after ``grace_seconds`` (the runner's own grace, plus a margin)."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            process.join(grace_seconds)
        if process.is_alive():
            logger.warning("the job process did not stop within %.0f s: killing it", grace_seconds)
            process.kill()
            process.join()

    def _spawn(self) -> None:
        process = self._context.Process(
            target=_main, args=(self._settings, os.getpid()), name="strongroom-jobs", daemon=False
        )
        process.start()
        self._process = process

    def _supervise(self) -> None:
        wait, longest = RESPAWN_BACKOFF_SECONDS
        while True:
            process = self._process
            assert process is not None
            process.join()
            if self._stopping.wait(wait):  # a Ctrl-C reaches the process group: no alarm then
                return
            logger.error("the job process exited with status %s: starting another", process.exitcode)
            wait = min(wait * 2, longest)
            with self._lock:
                if self._stopping.is_set():
                    return
                self._spawn()
