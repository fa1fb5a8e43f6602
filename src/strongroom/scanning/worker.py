"""The isolated analyser: ``python -m strongroom.scanning.worker LIMITS layer|blob …``.

It limits itself before reading a byte (address space and CPU time), analyses the blob
streamed on stdin, and writes one JSON document to stdout: the result, or
``{"error": reason}`` with exit status 3 when a limit was hit or the bytes are unreadable.
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

from strongroom.analysis.codec import encode_finding, encode_layer
from strongroom.analysis.inventory import InventoryLimits, analyse_layer
from strongroom.analysis.layers import LayerError
from strongroom.analysis.models.files import analyse_model_file
from strongroom.scanning.engine import spool


def _limit(memory_bytes: int, cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _analyse(arguments: list[str], limits: dict[str, Any]) -> dict[str, Any]:
    stdin = sys.stdin.buffer
    inventory_limits = InventoryLimits(max_layer_bytes=int(limits["max_layer_bytes"]))
    if arguments[0] == "layer":
        return encode_layer(analyse_layer(stdin, spool, inventory_limits))
    if arguments[0] == "blob":
        name, size = arguments[1], int(arguments[2])
        findings = analyse_model_file(name, stdin, None if size < 0 else size, spool, inventory_limits.models)
        return {"findings": [encode_finding(f) for f in findings]}
    raise SystemExit(f"unknown analysis {arguments[0]!r}")


def main() -> int:
    limits = json.loads(sys.argv[1])
    _limit(int(limits["memory_bytes"]), int(limits["cpu_seconds"]))
    try:
        result = _analyse(sys.argv[2:], limits)
    except MemoryError:
        result, status = {"error": f"analysis exceeded its memory limit ({limits['memory_bytes']} bytes)"}, 3
    except (LayerError, RecursionError) as error:
        result, status = {"error": str(error) or type(error).__name__}, 3
    else:
        status = 0
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
