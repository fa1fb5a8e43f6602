"""The race between a base tag moving and a dependent's detection, against a real server:
jobs held back (``--no-jobs``), a base pushed as ``base/os:12``, an application built on it
(by its layers, no annotations), then ``base/os:12`` moved to a new digest, all before any
``lineage.detect`` job ran; then one job runner (``strongroom jobs run``, one job at a time,
in the order they were queued). The tag-moved job runs last and finds the application
already recorded; the application's own detection ran after the move. Exactly one
``lineage.base-updated`` reaches the application's webhook, naming the old and new base."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import hierarchy as h
from support.server import RunningServer, start_server

pytestmark = [pytest.mark.e2e]
EVENT = "io.strongroom.lineage.base-updated"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    env = {"STRONGROOM_JOB_POLL_SECONDS": "0.1", "STRONGROOM_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}
    running = start_server(tmp_path / "data", env=env, args=["--no-jobs", "--workers", "1"])
    try:
        yield running
    finally:
        running.stop()


@contextlib.contextmanager
def job_runner(server: RunningServer) -> Iterator[None]:
    """``strongroom jobs run --concurrency 1`` on the server's store, as its own process group."""
    env = {**server.env, "STRONGROOM_DATA_DIR": str(server.data_dir)}
    with (server.data_dir.parent / "jobs.log").open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "strongroom", "jobs", "run", "--concurrency", "1"],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_a_base_tag_moved_before_its_dependent_was_detected_still_tells_the_dependent(
    server: RunningServer,
) -> None:
    public = h.layer("debian")
    with h.receiver() as receiver:
        server.cli("webhook", "create", "--url", receiver.url("/apps"), "--events", "lineage.base-updated",
                   "--repository-prefix", "apps/")  # fmt: skip
        old = h.push(server, "base/os", "12", h.build([public]))
        app = h.push(server, "apps/web", "1", h.build([public, h.layer("web")]))
        new = h.push(server, "base/os", "12", h.build([h.layer("debian-patched")]))
        with job_runner(server):
            h.wait_for(lambda: h.lineage_jobs_done(server), what="lineage jobs")
            (event,) = h.wait_for(lambda: receiver.events("/apps", EVENT), what="base-updated for apps/web")
            time.sleep(1.5)  # a second announcement would have been delivered by now
            assert len(receiver.events("/apps", EVENT)) == 1
    data = event["data"]
    assert (data["repository-name"], data["base-repository-name"], data["base-tag"]) == (
        "apps/web",
        "base/os",
        "12",
    )
    assert (data["previous-base-digests"], data["base-digest"], data["image-digests"]) == ([old], new, [app])
    shown = h.remote(server, "lineage", "show", "apps/web:1")
    (platform,) = shown["platforms"]
    assert [(n["repositoryName"], n["imageDigest"]) for n in platform["ancestry"]] == [
        ("base/os", old), ("apps/web", app),
    ]  # fmt: skip
