"""Running the ASGI app under granian (chosen by measurement: see docs/adr/0002)."""

from __future__ import annotations

from functools import partial
from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops
from granian.log import LogLevels

from strongroom.app import create_app
from strongroom.settings import Settings


def _load_app(settings: Settings, _target: str) -> Any:
    """Runs in each worker process: the app builds its services at startup."""
    return create_app(settings)


def run_server(settings: Settings) -> None:
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
