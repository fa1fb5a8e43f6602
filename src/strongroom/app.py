"""The ASGI application: one port for every front door (DESIGN §2)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from strongroom.api.aws import aws_post
from strongroom.api.download import DOWNLOAD_PATH, download_blob
from strongroom.api.health import healthz, readyz
from strongroom.api.home import home
from strongroom.api.middleware import RegistryHeaders
from strongroom.api.oci.errors import plain_error
from strongroom.api.oci.routes import ROUTES
from strongroom.api.oci.routing import starlette_routes
from strongroom.api.requests import record_closed_sign_in_failures
from strongroom.api.token import token
from strongroom.jobs.lifecycle import lifecycle_loop
from strongroom.services import Services, build_services
from strongroom.settings import Settings

logger = logging.getLogger("strongroom")
SIGN_IN_WINDOW_CHECK_SECONDS = 10


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """The application. Without ``services`` they are built when the app starts
    (once per worker process) and closed when it stops."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = services is None
        app.state.services = await build_services(settings) if own else services
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_sweep, app.state.services)
            tasks.start_soon(lifecycle_loop, app.state.services)
            tasks.start_soon(_close_sign_in_windows, app.state.services)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
        if own:
            app.state.services.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, include_in_schema=False),
            Route("/readyz", readyz, include_in_schema=False),
            Route("/token", token, methods=["GET", "POST"], include_in_schema=False),
            Route("/", home, methods=["GET"], include_in_schema=False),
            Route("/", aws_post, methods=["POST"], include_in_schema=False),
            Route(DOWNLOAD_PATH, download_blob, methods=["GET"], include_in_schema=False),
            *starlette_routes(ROUTES),
        ],
        middleware=[Middleware(RegistryHeaders)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unrouted requests: OCI error JSON under ``/v2/``, plain JSON elsewhere."""
    assert isinstance(exc, HTTPException)
    head = request.method == "HEAD"
    if request.url.path.startswith("/v2"):
        code = "UNSUPPORTED" if exc.status_code == 405 else "NAME_UNKNOWN"
        message = "method not allowed" if exc.status_code == 405 else "no such endpoint or repository"
        return plain_error(exc.status_code, code, message, head=head)
    return JSONResponse({"error": exc.detail}, exc.status_code)


async def _sweep(services: Services) -> None:
    """Forget abandoned uploads and expired temporary credentials, periodically."""
    settings = services.settings
    idle = timedelta(seconds=settings.upload_expiry_seconds)
    while True:
        await anyio.sleep(settings.upload_sweep_seconds)
        try:
            removed = await services.uploads.expire(idle)
            if removed:
                logger.info("expired %d abandoned uploads", removed)
            purged = await services.iam.delete_expired_credentials(services.clock.now())
            if purged:
                logger.info("deleted %d expired temporary credentials", purged)
        except Exception:
            logger.exception("upload and credential expiry failed; will retry")


async def _close_sign_in_windows(services: Services) -> None:
    """Write the counts of failed sign-ins once their aggregation window closes, also
    when no further failure arrives to trigger it."""
    while True:
        await anyio.sleep(min(SIGN_IN_WINDOW_CHECK_SECONDS, services.settings.sign_in_audit_window_seconds))
        await record_closed_sign_in_failures(services)
