"""The scan engine's two inputs from the registry: its blobs, and its layer cache.

The engine is synchronous and runs in a worker thread. Blobs are read from the blob
store (the file itself where the store has one, else through the event loop) and
checked against their digest once read to the end; the manifests an index names come
from the metadata store, read beforehand. The layer cache is the ``layer_inventories``
table: a layer analysed by any process, for any image, is not read again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import IO, Any

import anyio.from_thread

from strongroom.analysis.codec import CodecError, decode_layer, encode_layer
from strongroom.analysis.inventory import LayerInventory
from strongroom.errors import DigestInvalid
from strongroom.metadata.scans import SqlScanStore
from strongroom.oci.digest import Digest
from strongroom.scanning.engine import ScanError
from strongroom.storage.base import BlobStore


class _Verified:
    """A blob whose digest is checked when it has been read to its end."""

    def __init__(self, read: Any, close: Any, digest: str) -> None:
        algorithm, _, self._expected = digest.partition(":")
        self._read, self._close = read, close
        self._hash = hashlib.new(algorithm)
        self._digest = digest

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self._read(size)
        self._hash.update(data)
        if not data and self._hash.hexdigest() != self._expected:
            raise ScanError(f"blob {self._digest} does not match its digest")
        return data

    def __enter__(self) -> _Verified:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._close()


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            size = len(self._data)
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk


class _Streamed:
    """A blob store's async stream, read from a worker thread."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._done = False

    def read(self, size: int = -1, /) -> bytes:
        while not self._done and (size is None or size < 0 or len(self._buffer) < size):
            try:
                self._buffer += anyio.from_thread.run(self._next)
            except StopAsyncIteration:
                self._done = True
        if size is None or size < 0:
            size = len(self._buffer)
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return chunk

    async def _next(self) -> bytes:
        return await self._chunks.__anext__()

    def close(self) -> None:
        self._done = True


class RegistryBlobs:
    """Opens an image's blobs for the engine (from a worker thread); counts the reads."""

    def __init__(self, store: BlobStore, manifests: Mapping[str, bytes]) -> None:
        self._store = store
        self._manifests = manifests
        self.reads = 0

    def open(self, digest: str) -> _Verified:
        manifest = self._manifests.get(digest)
        if manifest is not None:
            return _Verified(_Bytes(manifest).read, lambda: None, digest)
        try:
            parsed = Digest.parse(digest)
        except DigestInvalid:
            raise ScanError(f"not a digest: {digest!r}") from None
        self.reads += 1
        path = self._store.local_path(parsed)
        if path is not None:
            try:
                file: IO[bytes] = path.open("rb")
            except OSError as error:
                raise ScanError(f"blob {digest} is missing from the store: {error.strerror}") from None
            return _Verified(file.read, file.close, digest)
        stream = _Streamed(self._store.read(parsed))
        return _Verified(stream.read, stream.close, digest)


class LayersInAnalysis:
    """One process's coordination of layer analysis: a lock per layer, so that scans
    running at once (an index's platforms share their base) analyse a layer once and
    the others wait for its result; and the layers analysed recently, kept until
    their scans have stored them. Scans in other processes may still analyse a layer
    twice; the stored inventory is the same either way."""

    def __init__(self, remember: int = 256) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._recent: OrderedDict[str, LayerInventory] = OrderedDict()
        self._remember = remember

    def lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def recent(self, key: str) -> LayerInventory | None:
        with self._guard:
            return self._recent.get(key)

    def add(self, key: str, inventory: LayerInventory) -> None:
        with self._guard:
            self._recent[key] = inventory
            self._recent.move_to_end(key)
            while len(self._recent) > self._remember:
                self._recent.popitem(last=False)


class PersistentLayerCache:
    """The engine's ``LayerCache`` over ``layer_inventories``, read through at once (from
    the engine's thread); what the scan analysed is written by :meth:`flush` after it.

    A miss holds the layer's lock in ``shared`` until :meth:`put` (or :meth:`release`,
    after a scan that failed), so a concurrent scan of the same layer waits and then
    finds it analysed."""

    def __init__(self, store: SqlScanStore, shared: LayersInAnalysis) -> None:
        self._store = store
        self._shared = shared
        self._pending: dict[str, LayerInventory] = {}
        self._held: dict[str, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> LayerInventory | None:
        lock = self._shared.lock(key)
        lock.acquire()
        found = self._pending.get(key) or self._shared.recent(key) or self._stored(key)
        if found is None:
            self.misses += 1
            self._held[key] = lock
            return None
        lock.release()
        self.hits += 1
        return found

    def _stored(self, key: str) -> LayerInventory | None:
        digest, _, version = key.rpartition("@")
        encoded = self._store.layer_inventory(digest, version)
        if encoded is None:
            return None
        try:
            return decode_layer(_json(encoded))
        except CodecError:
            return None  # analysed again; the stored copy stays for an operator to see

    def put(self, key: str, inventory: LayerInventory) -> None:
        self._pending[key] = inventory
        self._shared.add(key, inventory)
        held = self._held.pop(key, None)
        if held is not None:
            held.release()

    def release(self) -> None:
        """Let go of the layers a failed scan was analysing."""
        for lock in self._held.values():
            lock.release()
        self._held.clear()

    async def flush(self, now: datetime) -> None:
        entries = []
        for key, inventory in self._pending.items():
            digest, _, version = key.rpartition("@")
            entries.append((digest, version, json.dumps(encode_layer(inventory), sort_keys=True)))
        await self._store.put_layer_inventories(entries, now)
        self._pending.clear()


def _json(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CodecError(str(error)) from None
    if not isinstance(document, dict):
        raise CodecError("not an object")
    return document
