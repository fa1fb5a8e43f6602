from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from strongroom.app import create_app
from strongroom.services import build_services, prepare
from strongroom.settings import load_settings

USER, PASSWORD = "admin", "api-test-password"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The real application (SQLite + filesystem store) behind httpx's ASGI transport."""
    async with app_client(tmp_path) as c:
        yield c


@contextlib.asynccontextmanager
async def app_client(tmp_path: Path, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        None,
        {},
        data_dir=tmp_path,
        admin_user=USER,
        admin_password=PASSWORD,
        durable_writes=False,
        **overrides,
    )
    await prepare(settings)
    services = await build_services(settings)
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry", auth=(USER, PASSWORD)) as c:
        yield c
    services.close()
