"""The durable job queue end to end: real server and ``strongroom jobs run`` processes,
killed with SIGKILL where the proof needs it, counting what ran through the ``probe``
job kind (strongroom.jobs.probe), which records every start and finish to a file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from strongroom.clock import SystemClock
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.outbox import NewJob
from support.databases import isolated_database_url
from support.images import push_random_image
from support.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 2


def queue_env(probe: Path, **extra: str) -> dict[str, str]:
    return {
        "STRONGROOM_JOB_PROBE_FILE": str(probe),
        "STRONGROOM_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "STRONGROOM_JOB_POLL_SECONDS": "0.1",
        "STRONGROOM_LOG_LEVEL": "info",
        **extra,
    }


@contextlib.contextmanager
def job_runner(server: RunningServer, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """``strongroom jobs run`` on the server's store, as its own process group."""
    env = {**server.env, "STRONGROOM_DATA_DIR": str(server.data_dir)}
    log = server.data_dir.parent / f"{name}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "strongroom", "jobs", "run"],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def stop_gracefully(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def probe_runs(probe: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in probe.read_text().splitlines()] if probe.exists() else []


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def enqueue(database_url: str, jobs: list[NewJob]) -> list[int | None]:
    database = Database(create_engine(database_url))
    try:
        return anyio.run(SqlJobStore(database).enqueue, jobs, SystemClock().now())
    finally:
        database.close()


def test_a_push_taken_by_a_killed_server_is_acted_on_once_by_a_job_runner(tmp_path: Path) -> None:
    probe = tmp_path / "probe.jsonl"
    server = start_server(tmp_path / "data", env=queue_env(probe), args=["--no-jobs", "--workers", "1"])
    try:
        assert push_random_image(server, "crash/app", "v1", seed=1).status_code == 201
        server.kill()  # SIGKILL right after the 201: nothing ran, nothing was flushed on exit
        [job] = server.cli_json("jobs", "list", "--kind", "probe", "--output", "json")["jobs"]
        assert (job["state"], job["payload"]["repository-name"], job["payload"]["image-tag"]) == (
            "queued", "crash/app", "v1"
        )  # fmt: skip
        assert probe_runs(probe) == []
        [event] = server.cli_json("events", "list", "--type", "image.push", "--output", "json")["events"]
        assert (event["id"], event["subject"], event["cloudEventsType"]) == (
            job["payload"]["event_id"], "crash/app", "io.strongroom.image.push"
        )  # fmt: skip
        assert event["data"]["image-digest"] == job["payload"]["image-digest"]
        assert server.cli_json("events", "list", "--since", "1h", "--type", "image.delete")["events"] == []
        with job_runner(server, "runner") as runner:
            wait_for(lambda: any(run["step"] == "done" for run in probe_runs(probe)), 60, "the probe job")
            time.sleep(1)  # time enough for a second run, if there were one
            assert stop_gracefully(runner) == 0
        runs = probe_runs(probe)
        assert [run["step"] for run in runs] == ["start", "done"]
        assert {run["key"] for run in runs} == {job["idempotencyKey"]}
        shown = server.cli_json("jobs", "show", str(job["jobId"]), "--output", "json")
        assert (shown["state"], shown["attempts"], shown["leaseOwner"]) == ("succeeded", 1, None)
    finally:
        server.stop()


def test_a_job_whose_runner_is_killed_mid_job_completes_in_another_after_the_lease(tmp_path: Path) -> None:
    probe = tmp_path / "probe.jsonl"
    server = start_server(tmp_path / "data", env=queue_env(probe), args=["--no-jobs", "--workers", "1"])
    try:
        url = f"sqlite:///{server.data_dir / 'strongroom.db'}"
        [job_id] = enqueue(url, [NewJob("probe", {"seconds": 3}, idempotency_key="slow-probe")])
        with job_runner(server, "first-runner") as first:
            wait_for(lambda: len(probe_runs(probe)) == 1, 60, "the first runner to start the job")
            kill(first)
        killed_at = time.monotonic()
        with job_runner(server, "second-runner") as second:
            wait_for(lambda: probe_runs(probe)[-1]["step"] == "done", 60, "the second runner to finish it")
            taken_over_after = time.monotonic() - killed_at
            assert stop_gracefully(second) == 0
        runs = probe_runs(probe)
        assert [(run["step"], run["attempt"]) for run in runs] == [("start", 1), ("start", 2), ("done", 2)]
        assert runs[0]["pid"] != runs[1]["pid"] == runs[2]["pid"]
        assert taken_over_after >= LEASE_SECONDS - 1  # not before the lease could lapse
        shown = server.cli_json("jobs", "show", str(job_id), "--output", "json")
        assert (shown["state"], shown["attempts"]) == ("succeeded", 2)
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_runners_and_a_server_run_500_jobs_exactly_once(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    probe = tmp_path / "probe.jsonl"
    with isolated_database_url(kind, tmp_path, request) as url:
        env = queue_env(probe, STRONGROOM_DATABASE_URL=url, STRONGROOM_LOG_LEVEL="warning")
        server = start_server(tmp_path / "data", env=env, args=["--workers", "1"])
        try:
            with job_runner(server, "runner-1") as one, job_runner(server, "runner-2") as two:
                started = time.monotonic()
                enqueue(url, [NewJob("probe", idempotency_key=f"job-{n}") for n in range(500)])
                done = lambda: sum(run["step"] == "done" for run in probe_runs(probe))  # noqa: E731
                wait_for(lambda: done() >= 500, 180, "500 jobs")
                elapsed = time.monotonic() - started
                time.sleep(1)  # a duplicate run would show up now
                assert stop_gracefully(one) == 0 and stop_gracefully(two) == 0
        finally:
            server.stop()
    runs = probe_runs(probe)
    finished = Counter(run["key"] for run in runs if run["step"] == "done")
    assert finished == Counter({f"job-{n}": 1 for n in range(500)})
    assert len([run for run in runs if run["step"] == "start"]) == 500  # none started twice
    assert len({run["pid"] for run in runs}) >= 2, "the work was not shared"
    print(f"{kind}: 500 jobs in {elapsed:.1f} s ({500 / elapsed:.0f} jobs/s) over three processes")


def test_operators_see_and_steer_jobs(server_with_queue: RunningServer) -> None:
    server = server_with_queue
    url = f"sqlite:///{server.data_dir / 'strongroom.db'}"
    [waiting] = enqueue(url, [NewJob("nobody.handles", {"why": "no handler is registered"})])
    time.sleep(0.5)  # the server's runner has looked by now, and left it alone
    listed = server.cli_json("jobs", "list", "--state", "queued", "--output", "json")["jobs"]
    assert [job["jobId"] for job in listed if job["kind"] == "nobody.handles"] == [waiting]
    table = server.cli("jobs", "list", "--kind", "nobody.handles", "--output", "table").stdout.splitlines()
    assert table[0].split() == ["JOBID", "KIND", "STATE", "ATTEMPTS", "RUNAT", "LASTERROR"]
    assert table[1].split()[:4] == [str(waiting), "nobody.handles", "queued", "0"]
    assert server.cli_json("jobs", "cancel", str(waiting), "--output", "json")["state"] == "cancelled"
    refused = server.cli("jobs", "cancel", str(waiting), check=False)
    assert refused.returncode != 0 and "is cancelled" in refused.stderr
    assert server.cli_json("jobs", "retry", str(waiting), "--output", "json")["state"] == "queued"
    missing = server.cli("jobs", "show", "999999", check=False)
    assert missing.returncode != 0 and "no job 999999" in missing.stderr
    shown = server.cli("jobs", "show", str(waiting), "--output", "table").stdout
    assert "no handler is registered" in shown
    steering = [e for e in _audit(server) if e["action"] in ("strongroom:CancelJob", "strongroom:RetryJob")]
    assert [(e["action"], e["resource"]) for e in steering] == [
        ("strongroom:CancelJob", f"job/{waiting}"), ("strongroom:RetryJob", f"job/{waiting}")
    ]  # fmt: skip


@pytest.fixture
def server_with_queue(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "data", env=queue_env(tmp_path / "probe.jsonl"), args=["--workers", "1"])
    try:
        yield server
    finally:
        server.stop()


def _audit(server: RunningServer) -> list[dict[str, Any]]:
    return [
        json.loads(line)["event"]
        for line in server.cli("audit", "export").stdout.splitlines()
        if line.strip()
    ]


def test_a_stopping_server_gives_back_the_job_it_cannot_finish(tmp_path: Path) -> None:
    probe = tmp_path / "probe.jsonl"
    env = queue_env(probe, STRONGROOM_JOB_SHUTDOWN_GRACE_SECONDS="1")
    server = start_server(tmp_path / "data", env=env, args=["--workers", "1"])
    try:
        url = f"sqlite:///{server.data_dir / 'strongroom.db'}"
        [job_id] = enqueue(url, [NewJob("probe", {"seconds": 600}, idempotency_key="endless")])
        wait_for(lambda: len(probe_runs(probe)) == 1, 60, "the server's runner to start the job")
        server.stop()  # SIGTERM
        shown = server.cli_json("jobs", "show", str(job_id), "--output", "json")
        assert (shown["state"], shown["attempts"], shown["leaseOwner"]) == ("queued", 0, None)
    finally:
        server.stop()


def children(pid: int) -> dict[int, int]:
    """The processes ``pid`` started, each with its niceness (field 19 of /proc/PID/stat)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError):
                stat = Path(f"/proc/{child}/stat").read_text()
                found[int(child)] = int(stat.rsplit(")", 1)[1].split()[16])
    return found


def job_process(server: RunningServer) -> int:
    """The server's one niced child: its job process (HTTP workers keep the niceness 0).
    A job process just forked renices itself a moment later: wait for it."""

    def niced() -> set[int]:
        return {pid for pid, nice in children(server.process.pid).items() if nice > 0}

    wait_for(lambda: len(niced()) == 1, 30, f"one niced child, not {children(server.process.pid)}")
    [pid] = niced()
    return pid


def test_the_server_runs_jobs_in_a_niced_process_of_its_own_replaced_when_it_dies(tmp_path: Path) -> None:
    """Jobs leave the HTTP workers' CPU to requests (docs/adr/0022); the job process comes
    back after a SIGKILL, and a SIGTERM to the server ends every process it started."""
    probe = tmp_path / "probe.jsonl"
    server = start_server(tmp_path / "data", env=queue_env(probe), args=["--workers", "1"])
    try:
        wait_for(lambda: len(children(server.process.pid)) == 2, 30, "a worker and the job process")
        first = job_process(server)
        assert push_random_image(server, "jobs/niced", "v1", seed=1).status_code == 201
        wait_for(lambda: any(run["step"] == "done" for run in probe_runs(probe)), 60, "the probe job")
        assert {run["pid"] for run in probe_runs(probe)} == {first}
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: first not in children(server.process.pid), 30, "the killed job process to go")
        wait_for(lambda: len(children(server.process.pid)) == 2, 30, "another job process")
        second = job_process(server)
        assert push_random_image(server, "jobs/niced", "v2", seed=2).status_code == 201
        wait_for(lambda: sum(run["step"] == "done" for run in probe_runs(probe)) == 2, 60, "the second probe")
        assert probe_runs(probe)[-1]["pid"] == second
        started = set(children(server.process.pid))
        server.process.send_signal(signal.SIGTERM)  # the serving process only, as systemd would
        assert server.process.wait(timeout=20) == 0
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in started), 10, "no process left")
    finally:
        server.stop()
