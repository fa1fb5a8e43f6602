"""A throwaway ``strongroom serve`` for the bench scripts, and what its processes cost.

Used by bench/memory.py and bench/cpu.py (run them with the project venv's Python). The server
gets a scratch data directory, a free loopback port and fixed bench credentials; it is stopped,
workers included, when the ``with`` block ends.

Figures come from /proc, so they hold on a busy machine: CPU time is utime+stime summed over
the server's process tree (10 ms ticks); memory is RSS (``statm``) and, from ``smaps_rollup``,
PSS (shared pages split between the processes that map them) and USS (pages only this process
maps).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "bench"
PASSWORD = "bench-Secret-pw-1"
ACCESS_KEY_ID = "AKIABENCHADMIN000001"
SECRET_ACCESS_KEY = "bench/admin+secret-access-key-0123456789"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Memory:
    pid: int
    role: str
    rss: int
    pss: int
    uss: int


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def tree(self) -> list[int]:
        """The server process and its descendants (granian's workers)."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (fields := _stat(int(entry))):
                children.setdefault(int(fields[1]), []).append(int(entry))
        tree, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, ()))
        return tree

    def cpu_seconds(self) -> float:
        """utime+stime of every process in the tree (and of reaped children)."""
        total = 0
        for pid in self.tree():
            if fields := _stat(pid):
                total += sum(int(value) for value in fields[11:15])
        return total / TICK

    def memory(self) -> list[Memory]:
        out = []
        for pid in self.tree():
            role = "main" if pid == self.process.pid else "worker"
            with contextlib.suppress(OSError):
                out.append(Memory(pid, role, _rss(pid), *_pss_uss(pid)))
        return out


def basic_auth() -> dict[str, str]:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.contextmanager
def running_server(
    workers: int,
    extra_args: tuple[str, ...] = (),
    source: str | None = None,
    environment: dict[str, str] | None = None,
) -> Iterator[Server]:
    """With ``source`` (a directory holding the ``strongroom`` package, e.g. an unpacked
    ``git archive <commit> src``), that code is served instead of the installed one."""
    with tempfile.TemporaryDirectory(prefix="strongroom-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        port = _free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("STRONGROOM_")}
        env.update(
            STRONGROOM_ADMIN_USER=USER,
            STRONGROOM_ADMIN_PASSWORD=PASSWORD,
            STRONGROOM_ADMIN_ACCESS_KEY_ID=ACCESS_KEY_ID,
            STRONGROOM_ADMIN_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
            STRONGROOM_LOG_LEVEL="warning",
        )
        env.update(environment or {})
        if source:
            env["PYTHONPATH"] = source
        command = [
            sys.executable, "-m", "strongroom", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data_dir), "--workers", str(workers), *extra_args,
        ]  # fmt: skip
        log = (Path(scratch) / "server.log").open("wb")
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        server = Server(port, process, data_dir)
        try:
            children = workers + (0 if "--no-jobs" in extra_args else 1)  # the job process
            _wait_ready(server, children, Path(scratch) / "server.log")
            yield server
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            log.close()


def _wait_ready(server: Server, children: int, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"strongroom exited:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            conn = server.connection()
            conn.request("GET", "/readyz")
            ready = conn.getresponse().status == 200
            conn.close()
        except OSError:
            ready = False
        # Every worker has started when the tree holds them all and none is still importing.
        if ready and len(server.tree()) > children:
            return
        time.sleep(0.2)
    raise RuntimeError(f"strongroom was not ready in {timeout}s:\n{log.read_text(errors='replace')[-4000:]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].split()  # fields from 3 (state) on


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _pss_uss(pid: int) -> tuple[int, int]:
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            name, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                fields[name] = int(parts[0]) * 1024
    return fields.get("Pss", 0), fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
