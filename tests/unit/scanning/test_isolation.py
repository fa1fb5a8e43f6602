"""Analysis in a child process: the same answers as in process, and every limit ends the
child with the reason while the caller goes on."""

from __future__ import annotations

import io

import pytest

from strongroom.analysis.inventory import analyse_layer
from strongroom.scanning.engine import ScanError
from strongroom.scanning.isolation import IsolationLimits, SubprocessAnalyser
from support import layers as img
from support import models


def debian_layer() -> bytes:
    return img.layer(
        {
            "etc/os-release": img.DEBIAN_OS_RELEASE,
            "var/lib/dpkg/status": img.DPKG_STATUS,
            "models/evil.pkl": models.call("os", "system"),
        },
        whiteouts=("opt/old",),
    )


def test_an_isolated_layer_analysis_answers_as_one_in_process() -> None:
    isolated = SubprocessAnalyser().layer(io.BytesIO(debian_layer()))
    local = analyse_layer(io.BytesIO(debian_layer()), lambda r: io.BytesIO(r.read()))
    assert isolated == local
    assert len(isolated.packages["var/lib/dpkg/status"]) == 5


def test_an_isolated_blob_analysis_finds_the_pickle() -> None:
    findings = SubprocessAnalyser().blob("model.bin", io.BytesIO(models.call("os", "system")), None)
    assert [(f.rule, f.detail) for f in findings] == [("pickle-code-execution", "imports os.system")]


def test_a_pickle_that_allocates_without_bound_hits_the_memory_limit_and_the_caller_goes_on() -> None:
    # Each EMPTY_DICT is one byte in the file and an object on the walker's stack.
    greedy = models.PROTO2 + b"}" * (30 * 1024 * 1024) + models.STOP
    layer = img.layer({"models/greedy.pkl": greedy})
    analyser = SubprocessAnalyser(IsolationLimits(memory_bytes=512 * 1024 * 1024))
    with pytest.raises(ScanError, match="memory limit"):
        analyser.layer(io.BytesIO(layer))
    assert analyser.layer(io.BytesIO(debian_layer())).packages  # the next analysis still works


def test_an_endless_analysis_hits_the_cpu_limit() -> None:
    spinning = models.PROTO2 + b"(1" * (15 * 1024 * 1024) + b"N" + models.STOP  # MARK, POP_MARK ...
    analyser = SubprocessAnalyser(IsolationLimits(cpu_seconds=1))
    with pytest.raises(ScanError, match="CPU time limit"):
        analyser.blob("spin.pkl", io.BytesIO(spinning), None)


def test_a_decompression_bomb_fails_with_the_reason() -> None:
    bomb = img.layer({"zeros": bytes(32 * 1024 * 1024)})
    analyser = SubprocessAnalyser(IsolationLimits(max_layer_bytes=4 * 1024 * 1024))
    with pytest.raises(ScanError, match="decompresses to more than 4194304 bytes"):
        analyser.layer(io.BytesIO(bomb))


def test_results_beyond_the_output_limit_are_refused() -> None:
    analyser = SubprocessAnalyser(IsolationLimits(output_bytes=64))
    with pytest.raises(ScanError, match="more than 64 bytes of results"):
        analyser.layer(io.BytesIO(debian_layer()))
