"""Jobs yield to requests on a real server (ADR 0022, decision 6): while requests keep
arriving, the job process runs one job at a time; when they stop, it drains the queue.

Forty image pushes queue forty ``lineage.detect`` jobs while two clients keep asking.
Sampled through the admin API all along, never more than one job runs at once; once the
clients stop, every detection finishes."""

from __future__ import annotations

import threading
import time

import pytest

from support.hierarchy import lineage_jobs_done
from support.images import push_random_image
from support.server import RunningServer

pytestmark = pytest.mark.e2e

PUSHES = 40


def running_detections(server: RunningServer) -> int:
    with server.client() as client:
        answer = client.get("/admin/v1/jobs", params={"kind": "lineage.detect", "state": "running"})
    assert answer.status_code == 200, answer.text
    return len(answer.json()["jobs"])


def test_while_requests_arrive_jobs_run_one_at_a_time_and_drain_after(server: RunningServer) -> None:
    stop = threading.Event()
    most = 0

    def keep_asking() -> None:
        nonlocal most
        with server.client() as client:
            while not stop.is_set():
                assert client.get("/v2/").status_code == 200
                most = max(most, running_detections(server))
                time.sleep(0.02)

    # Two clients, so that a slow answer to one still leaves requests arriving.
    asking = [threading.Thread(target=keep_asking) for _ in range(2)]
    for thread in asking:
        thread.start()
    try:
        for number in range(PUSHES):
            push_random_image(server, "paced/app", f"v{number}", seed=number)
        time.sleep(1.0)  # requests go on: the queue is worked off one job at a time
    finally:
        stop.set()
        for thread in asking:
            thread.join()
    assert most <= 1

    deadline = time.monotonic() + 60
    while not lineage_jobs_done(server):
        assert time.monotonic() < deadline, "the detections did not drain once requests stopped"
        time.sleep(0.5)
