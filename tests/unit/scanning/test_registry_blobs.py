"""The engine's inputs from the registry: blobs streamed from a store without files (read
from the engine's worker thread, checked against their digest) and the layer locks that
make concurrent scans of one layer analyse it once."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import AsyncIterator

import anyio.to_thread
import pytest

from strongroom.analysis.inventory import LayerInventory
from strongroom.oci.digest import Digest
from strongroom.scanning.engine import ScanError
from strongroom.scanning.registry_blobs import LayersInAnalysis, PersistentLayerCache, RegistryBlobs
from strongroom.storage.memory import MemoryBlobStore

pytestmark = pytest.mark.anyio


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def stored(store: MemoryBlobStore, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload = hashlib.md5(data).hexdigest()
    await store.append(upload, chunks(data), None)
    await store.commit_upload(upload, Digest.parse(digest))
    return digest


def read_all(blobs: RegistryBlobs, digest: str) -> bytes:
    with blobs.open(digest) as opened:
        parts = []
        while chunk := opened.read(7):
            parts.append(chunk)
        return b"".join(parts)


async def test_a_store_without_files_streams_through_the_event_loop_and_counts_reads() -> None:
    store = MemoryBlobStore()
    data = bytes(range(256)) * 300
    digest = await stored(store, data)
    manifest = b'{"schemaVersion": 2}'
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    blobs = RegistryBlobs(store, {manifest_digest: manifest})
    assert await anyio.to_thread.run_sync(read_all, blobs, digest) == data
    assert await anyio.to_thread.run_sync(read_all, blobs, manifest_digest) == manifest
    assert blobs.reads == 1  # manifests come from the metadata store, not the blob store


async def test_a_blob_that_does_not_match_its_digest_fails_the_scan() -> None:
    store = MemoryBlobStore()
    digest = await stored(store, b"the real bytes")
    store._blobs[Digest.parse(digest)] = b"other bytes"
    with pytest.raises(ScanError, match="does not match its digest"):
        await anyio.to_thread.run_sync(read_all, RegistryBlobs(store, {}), digest)


class NoStore:
    """A scan store with nothing stored yet (the lock alone is under test)."""

    def layer_inventory(self, layer_digest: str, analyser_version: str) -> str | None:
        return None


def test_a_second_scan_of_a_layer_waits_for_the_first_and_finds_its_inventory() -> None:
    shared = LayersInAnalysis()
    first = PersistentLayerCache(NoStore(), shared)  # type: ignore[arg-type]
    second = PersistentLayerCache(NoStore(), shared)  # type: ignore[arg-type]
    key = "sha256:" + "a" * 64 + "@1"
    assert first.get(key) is None  # a miss: the first scan analyses, holding the layer
    found: list[LayerInventory | None] = []
    waiter = threading.Thread(target=lambda: found.append(second.get(key)))
    waiter.start()
    time.sleep(0.2)
    assert found == []  # still waiting for the first scan
    inventory = LayerInventory()
    first.put(key, inventory)
    waiter.join(5)
    assert found == [inventory]
    assert (first.misses, second.hits) == (1, 1)


def test_a_failed_scan_lets_go_of_its_layers() -> None:
    shared = LayersInAnalysis()
    failed = PersistentLayerCache(NoStore(), shared)  # type: ignore[arg-type]
    key = "sha256:" + "b" * 64 + "@1"
    assert failed.get(key) is None
    failed.release()
    again = PersistentLayerCache(NoStore(), shared)  # type: ignore[arg-type]
    assert again.get(key) is None  # not blocked: analysed anew
    again.release()
