"""Analysis of untrusted bytes in a child process with memory, CPU-time and output limits.

A decompression bomb, a pickle built to allocate without bound or a parser bug hit by a
hostile file then ends one child, and the scan fails with the reason; the server (or
command) that asked goes on. The parent streams the blob into the child's stdin and
reads one JSON document back, at most ``output_bytes`` of it.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import IO, Any

from strongroom.analysis.codec import CodecError, decode_finding, decode_layer
from strongroom.analysis.inventory import LayerInventory
from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.streams import Reader
from strongroom.scanning.engine import ScanError


@dataclass(frozen=True)
class IsolationLimits:
    memory_bytes: int = 2 * 1024**3
    cpu_seconds: int = 300
    output_bytes: int = 64 * 1024**2
    max_layer_bytes: int = 64 * 1024**3


class SubprocessAnalyser:
    """Runs each layer or blob analysis in ``python -m strongroom.scanning.worker``."""

    def __init__(self, limits: IsolationLimits | None = None) -> None:
        self.limits = limits or IsolationLimits()

    def layer(self, stream: Reader) -> LayerInventory:
        document = self._run(["layer"], stream)
        try:
            return decode_layer(document)
        except CodecError as error:
            raise ScanError(f"the analyser answered nonsense: {error}") from None

    def blob(self, name: str, stream: Reader, size: int | None) -> list[ModelFinding]:
        document = self._run(["blob", name, str(size if size is not None else -1)], stream)
        try:
            return [decode_finding(f) for f in document["findings"]]
        except (KeyError, TypeError, ValueError) as error:
            raise ScanError(f"the analyser answered nonsense: {error}") from None

    def _run(self, arguments: list[str], stream: Reader) -> dict[str, Any]:
        limits = self.limits
        command = [
            sys.executable,
            "-m",
            "strongroom.scanning.worker",
            json.dumps(
                {
                    "memory_bytes": limits.memory_bytes,
                    "cpu_seconds": limits.cpu_seconds,
                    "max_layer_bytes": limits.max_layer_bytes,
                }
            ),
            *arguments,
        ]
        # stderr goes to a file: a pipe nobody drains while stdout is read could fill and stall the child.
        with tempfile.TemporaryFile() as stderr:
            child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
            output, code = self._exchange(child, stream)
            stderr.seek(0)
            errors = stderr.read(64 * 1024)
        return _result(code, output, errors, limits)

    def _exchange(self, child: subprocess.Popen[bytes], stream: Reader) -> tuple[bytes, int]:
        if child.stdin is None or child.stdout is None:
            raise ScanError("the analyser process has no pipes")
        feeder = threading.Thread(target=_feed, args=(stream, child.stdin), daemon=True)
        feeder.start()
        output = child.stdout.read(self.limits.output_bytes + 1)
        if len(output) > self.limits.output_bytes:
            child.kill()
            child.wait()
            feeder.join()
            raise ScanError(f"analysis produced more than {self.limits.output_bytes} bytes of results")
        code = child.wait()
        feeder.join()
        return output, code


def _feed(stream: Reader, sink: IO[bytes]) -> None:
    """Copy the blob into the child; a child that stops reading (it finished, or died)
    ends the copy."""
    try:
        while chunk := stream.read(1024 * 1024):
            sink.write(chunk)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.close()


def _result(code: int, output: bytes, errors: bytes, limits: IsolationLimits) -> dict[str, Any]:
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        raise ScanError(f"analysis exceeded its CPU time limit ({limits.cpu_seconds} s)")
    try:
        document = json.loads(output) if output else {}
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    if code != 0 or "error" in document:
        reason = document.get("error") or errors.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise ScanError(f"analysis failed: {reason if isinstance(reason, str) else ' '.join(reason)}")
    return document
