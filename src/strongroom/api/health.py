"""``/healthz`` (the process answers) and ``/readyz`` (it can reach its stores)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from strongroom.services import Services

logger = logging.getLogger("strongroom.health")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    checks: dict[str, str] = {}
    for name, check in (("metadata", services.metadata.ping), ("blobs", services.blob_store.check_writable)):
        try:
            await check()
            checks[name] = "ok"
        except Exception as error:  # any failure means "not ready"; say which
            logger.warning("readiness check %s failed: %s", name, error)
            checks[name] = "failing"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
    )
