"""Lineage compares layers by diff id, against a real server: a base pushed with its layers
gzipped at level 1, and an application whose builder recompressed the same tars at level 9
(same diff ids, other compressed digests, no base annotations), are still parent and child;
the job read the application's config for them, and the row says how layers were compared."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import hierarchy as h
from support.server import RunningServer, start_server

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path / "data", env={"STRONGROOM_JOB_POLL_SECONDS": "0.1"}, args=["--workers", "1"]
    )
    try:
        yield running
    finally:
        running.stop()


def recompressed(layer: bytes, level: int) -> bytes:
    return gzip.compress(gzip.decompress(layer), compresslevel=level, mtime=0)


def test_a_base_recompressed_by_the_builder_is_still_the_parent(server: RunningServer) -> None:
    public, base = h.layer("debian"), h.layer("hardening")
    h.push(server, "public/debian", "12", h.build([public]))
    base_digest = h.push(server, "base/python", "3.11", h.build([public, base]))
    again = [recompressed(public, 9), recompressed(base, 9)]
    assert set(again).isdisjoint({public, base})  # other compressed digests, the same tars
    h.push(server, "apps/web", "1", h.build([*again, h.layer("web")]))
    h.wait_for(lambda: h.lineage_jobs_done(server), what="lineage jobs")

    shown = h.remote(server, "lineage", "show", "apps/web:1")
    (platform,) = shown["platforms"]
    chain = [(node["repositoryName"], node["builtOnBy"]) for node in platform["ancestry"]]
    assert chain == [("public/debian", None), ("base/python", "layers"), ("apps/web", "layers")]
    assert platform["ancestry"][1]["imageDigest"] == base_digest
    assert platform["ancestry"][-1]["layersComparedBy"] == "diff_ids"
