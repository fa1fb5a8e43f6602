"""Running the ASGI app under granian (chosen by measurement: see docs/adr/0002)."""

from __future__ import annotations

import gc
import os
import shutil
from functools import partial
from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops
from granian.log import LogLevels

from strongroom.settings import PROMETHEUS_MULTIPROCESS_ENV, Settings


def _load_app(settings: Settings, _target: str) -> Any:
    """Runs in each worker process: the app builds its services at startup."""
    from strongroom.app import create_app

    return create_app(settings)


def prepare_multiprocess_dir(settings: Settings) -> None:
    """Empty the metrics directory (a previous run's files would carry its counts over)
    and name it to prometheus-client, which reads it when first imported: so this runs
    before the application is imported, and before workers start (api/metrics.py)."""
    directory = settings.resolved_metrics_dir
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ[PROMETHEUS_MULTIPROCESS_ENV] = str(directory)


def preload_application() -> None:
    """Import the application in the serving process, before granian forks its workers
    (the ``fork`` start method, Linux's default before Python 3.14), and freeze what exists
    by then: the workers share those pages with this process instead of each importing a
    copy of its own, and the garbage collector of a worker never writes to the frozen
    objects (a collection that visits an object writes its header, and the page is copied).
    Measured in docs/adr/0017-memory.md."""
    import strongroom.app  # noqa: F401  (imported for its side effect: the modules are loaded)

    gc.collect()
    gc.freeze()


def run_server(settings: Settings) -> None:
    # Everything the server and its workers create (the database, blobs, uploads, metrics
    # files) is theirs alone: the data directory holds secrets and other tenants' images.
    os.umask(0o077)
    prepare_multiprocess_dir(settings)
    preload_application()
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
    server.serve(target_loader=partial(_load_app, settings))
