"""The ASGI application: one port for every front door (DESIGN §2)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from strongroom.api.admin.endpoint import starlette_routes as admin_routes
from strongroom.api.admin.routes import ADMIN_ROUTES
from strongroom.api.aws import aws_post
from strongroom.api.download import DOWNLOAD_PATH, download_blob
from strongroom.api.health import healthz, readyz
from strongroom.api.home import home
from strongroom.api.metrics import RequestMetricSet, metrics
from strongroom.api.middleware import EveryRequest
from strongroom.api.oci.errors import plain_error
from strongroom.api.oci.routes import ROUTES
from strongroom.api.oci.routing import starlette_routes
from strongroom.api.requests import record_closed_sign_in_failures
from strongroom.api.token import token
from strongroom.services import Services, build_job_runner, build_services
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
        runner = None
        if settings.jobs:
            # An app run on its own (embedded, or under another ASGI server) runs its jobs
            # here; ``strongroom serve`` runs them in a job process and its workers get
            # ``jobs=False`` (strongroom.cli.job_process).
            runner = build_job_runner(app.state.services, settings.job_concurrency)
        async with anyio.create_task_group() as tasks:
            windows = anyio.CancelScope()

            async def close_sign_in_windows() -> None:
                with windows:
                    await _close_sign_in_windows(app.state.services)

            tasks.start_soon(close_sign_in_windows)
            if runner is not None:
                tasks.start_soon(runner.run)
            try:
                yield
            finally:
                windows.cancel()  # it would wait for ever, and the worker with it
                if runner is not None:
                    runner.stop()  # the task group waits for its jobs to finish or go back
        if own:
            app.state.services.close()

    request_metrics = RequestMetricSet(settings.resolved_metrics_dir)
    app = Starlette(
        routes=[
            Route("/healthz", healthz, include_in_schema=False),
            Route("/readyz", readyz, include_in_schema=False),
            Route("/metrics", metrics, include_in_schema=False),
            Route("/token", token, methods=["GET", "POST"], include_in_schema=False),
            Route("/", home, methods=["GET"], include_in_schema=False),
            Route("/", aws_post, methods=["POST"], include_in_schema=False),
            Route(DOWNLOAD_PATH, download_blob, methods=["GET"], include_in_schema=False),
            *starlette_routes(ROUTES),
            *admin_routes(ADMIN_ROUTES),
        ],
        middleware=[Middleware(EveryRequest, request_metrics)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.request_metrics = request_metrics
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


async def _close_sign_in_windows(services: Services) -> None:
    """Write the counts of failed sign-ins once their aggregation window closes, also
    when no further failure arrives to trigger it."""
    while True:
        await anyio.sleep(min(SIGN_IN_WINDOW_CHECK_SECONDS, services.settings.sign_in_audit_window_seconds))
        await record_closed_sign_in_failures(services)
