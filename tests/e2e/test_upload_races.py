"""Two server processes taking chunks of one upload at once (issue 9 §2.7).

A client that retries a PATCH while the first is still in flight, or two clients sharing
an upload URL, send the same ``Content-Range`` twice. Only one may be taken: the other
must answer 416 with the upload's real ``Range``, and the session must hold each byte
once, whichever process answered.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from support.databases import isolated_database_url
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

ROUNDS = 12
RACERS = 6
CHUNK = 512 * 1024
DEADLINE_SECONDS = 120


def race(server: RunningServer, location: str, data: bytes) -> list[int]:
    """``RACERS`` PATCHes of the same first chunk, each on its own connection (so the
    kernel spreads them over the worker processes), released together."""
    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []

    def send() -> None:
        with server.client() as client:
            client.get("/v2/")  # connect and authenticate before the barrier
            barrier.wait(timeout=30)
            response = client.patch(
                location,
                content=data,
                headers={"Content-Range": f"0-{len(data) - 1}", "Content-Type": "application/octet-stream"},
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_the_same_content_range_is_taken_once_across_processes(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    with isolated_database_url(database, tmp_path, request) as url:
        server = start_server(
            tmp_path / "data", env={"STRONGROOM_DATABASE_URL": url}, args=["--workers", "2"]
        )
        try:
            hammer(server)
        finally:
            server.stop()


def hammer(server: RunningServer) -> None:
    """Rounds of racing PATCHes, each on a fresh upload, bounded in count and time."""
    started = time.monotonic()
    with server.client() as client:
        for round_number in range(ROUNDS):
            assert time.monotonic() - started < DEADLINE_SECONDS, f"round {round_number} out of time"
            data = os.urandom(CHUNK)
            start = client.post("/v2/race/blobs/uploads/")
            assert start.status_code == 202
            location = start.headers["Location"]
            statuses = race(server, location, data)
            assert len(statuses) == RACERS
            assert statuses.count(202) == 1, (round_number, sorted(statuses))
            assert set(statuses) <= {202, 416}, (round_number, sorted(statuses))
            status = client.get(location)
            assert status.headers["Range"] == f"0-{CHUNK - 1}", round_number
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            done = client.put(location, params={"digest": digest})
            assert done.status_code == 201, (round_number, done.text)
            assert client.get(f"/v2/race/blobs/{digest}").content == data
