"""Debian's ``docker-registry`` (distribution 2.8, the reference Go registry) on a loopback
port, as a plain OCI registry for tests: no authentication, filesystem storage, deletes
enabled. Provisioned like every required tool (:mod:`support.tools`, part
``docker-registry``)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.server import free_port
from support.tools import require

CONFIG = """version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
health:
  storagedriver:
    enabled: false
"""


@dataclass(frozen=True)
class Distribution:
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


@contextlib.contextmanager
def running_distribution(directory: Path, timeout: float = 30) -> Iterator[Distribution]:
    executable = require("docker-registry")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "config.yml"
    config.write_text(CONFIG.format(root=directory / "data", port=port))
    log = (directory / "distribution.log").open("wb")
    process = subprocess.Popen([executable, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        started = time.monotonic()
        while True:
            assert process.poll() is None, (directory / "distribution.log").read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200:
                    break
            assert time.monotonic() - started < timeout, "docker-registry did not answer GET /v2/"
            time.sleep(0.1)
        yield Distribution(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
