"""Running the ASGI app under granian (chosen by measurement: see docs/adr/0002)."""

from __future__ import annotations

import gc
import os
import shutil
import threading
from functools import partial
from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops
from granian.log import LogLevels

from strongroom.cli.job_process import JobProcess
from strongroom.libc import set_malloc_thresholds
from strongroom.settings import PROMETHEUS_MULTIPROCESS_ENV, Settings

JOB_STOP_MARGIN_SECONDS = 5.0

MALLOC_MMAP_THRESHOLD = 4 * 1024 * 1024
MALLOC_TRIM_THRESHOLD = 8 * 1024 * 1024


def _load_app(settings: Settings, _target: str) -> Any:
    """Runs in each worker process: the app builds its services at startup."""
    from strongroom.app import create_app

    keep_freed_memory()  # inherited when granian forks; a worker it spawns starts without it

    return create_app(settings)


def prepare_multiprocess_dir(settings: Settings) -> None:
    """Empty the metrics directory (a previous run's files would carry its counts over)
    and name it to prometheus-client, which reads it when first imported: so this runs
    before the application is imported, and before workers start (api/metrics.py)."""
    directory = settings.resolved_metrics_dir
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ[PROMETHEUS_MULTIPROCESS_ENV] = str(directory)


def preload_application(settings: Settings) -> None:
    """Import the application in the serving process before granian forks its workers
    (the ``fork`` start method, Linux's default before Python 3.14), so the workers share
    those pages with this process instead of each importing a copy of its own.

    The services are built once here and closed: that does a first start's lazy work
    (SQLAlchemy's dialect and pool set-up, the first statements), which in a worker had
    copied about 10 MB of the pages it shares with this process. The ECR service models
    are loaded once for every worker. Then everything is frozen: the garbage collector of
    a worker never visits these objects, and so never writes to their pages. Measured in
    docs/adr/0017-memory.md."""
    import anyio

    from strongroom.api.ecr.model import service_apis
    from strongroom.app import create_app  # noqa: F401  (loads every module a worker runs)
    from strongroom.services import build_services

    async def warm_up() -> None:
        (await build_services(settings)).close()

    # Nothing of it may cross the fork: the services are closed, asyncio's own loop (not
    # uvloop, which keeps a pipe open for the process) is closed, and anyio's worker
    # threads, told to stop when the loop ends, are waited for.
    anyio.run(warm_up)
    service_apis()  # the ECR models (0.75 MB, 36 ms): shared, and no worker's first call waits
    for thread in threading.enumerate():
        if thread is not threading.main_thread():
            thread.join(timeout=10)  # bounded: a stuck thread must not stop the server
    gc.collect()
    gc.freeze()


def keep_freed_memory() -> bool:
    """Let this process and those it forks reuse the memory a request freed, rather than
    hand it back to the system and fault it in again for the next request.

    A request's body arrives as new ``bytes`` objects of 256-420 KiB, and a pull reads
    1 MiB at a time. glibc's default (a threshold that adapts to what was freed) mapped and
    unmapped most of them: about 190 page faults per 1 MiB push, against about 30 for
    the reference registry, which reuses its buffers. A fault costs more than its page's
    zeroing in a virtual machine that gives freed memory back to its host: touching such
    memory again was measured at 2.5 ms per MiB. With allocations under 4 MiB from the heap
    and up to 8 MiB of free heap kept, a push faults 2-5 times (tests/e2e/test_server_memory.py);
    bigger allocations (argon2's 64 MiB while it verifies a password) still go back at once.

    Each glibc arena (a worker's threads use up to 8 per core) may keep up to 8 MiB free
    at its top, in practice what it held at its peak (a batch of about 1.4 MiB, a 1 MiB
    read): a worker after bursts of 1 MiB pushes and 4 MiB pulls measured 103 MB against
    100 without. Returns whether the thresholds were set (not without glibc)."""
    return set_malloc_thresholds(MALLOC_MMAP_THRESHOLD, MALLOC_TRIM_THRESHOLD)


def run_server(settings: Settings) -> None:
    # Everything the server and its workers create (the database, blobs, uploads, metrics
    # files) is theirs alone: the data directory holds secrets and other tenants' images.
    os.umask(0o077)
    keep_freed_memory()
    prepare_multiprocess_dir(settings)
    preload_application(settings)
    jobs = JobProcess(settings) if settings.jobs else None
    if jobs is not None:
        jobs.start()  # forked now: after the preload, before granian's threads and workers
    workers = settings.model_copy(update={"jobs": False})  # the job process runs them
    try:
        _serve(settings, workers)
    finally:
        if jobs is not None:
            jobs.stop(settings.job_shutdown_grace_seconds + JOB_STOP_MARGIN_SECONDS)


def _serve(settings: Settings, workers: Settings) -> None:
    server = Granian(
        "strongroom.app:create_app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        loop=Loops.uvloop,
        http=HTTPModes.auto,
        log_level=LogLevels(settings.log_level),
        log_access=False,
        ssl_cert=settings.tls_cert,
        ssl_key=settings.tls_key,
        respawn_failed_workers=True,
    )
    server.serve(target_loader=partial(_load_app, workers))
