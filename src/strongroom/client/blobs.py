"""Blob transfer: chunked, resumable uploads and verified, resumable downloads.

An upload is ``POST`` → ``PATCH`` chunks with ``Content-Range`` → ``PUT ?digest=``
(OCI distribution spec, "Pushing a blob in chunks"). Its location is journaled, so a push
that was interrupted, even in another process, asks the server for the offset it holds
(``GET`` the location → ``Range: 0-<last>``) and sends only the rest. Blobs the
repository has are skipped (``HEAD``); with ``mount_from`` they are mounted from there,
with ``discover_mounts`` from wherever the registry finds them (a ``mount`` without
``from``: OCI distribution spec v1.1, "Mounting a blob from another repository").

A download streams into ``<file>.partial`` while hashing; an interrupted one is continued
with a ``Range`` GET and the whole file's digest is checked before it takes its name.
Memory is one chunk per transfer either way.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio
import httpx

from strongroom.client.progress import Progress
from strongroom.client.transport import RegistryError, RegistryHttp, raise_for

CHUNK = 16 * 1024 * 1024
MAX_WAIT = 15
"""The longest a client waits on one ``Retry-After`` of an upload's status (seconds)."""
PIECE = 1024 * 1024
PARTIAL = ".partial"


class DigestMismatch(Exception):
    """What arrived is not what the manifest named."""


class ChunkSource(Protocol):
    """What an upload reads from: a blob's digest, size, and its bytes by range (called in a
    worker thread, a piece at a time)."""

    @property
    def digest(self) -> str: ...

    @property
    def size(self) -> int: ...

    def read(self, offset: int, size: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class BlobSource:
    digest: str
    size: int
    path: Path | None = None
    data: bytes | None = None
    """Small documents (a config) are sent from memory; files are read chunk by chunk."""

    def read(self, offset: int, size: int) -> bytes:
        if self.data is not None:
            return self.data[offset : offset + size]
        assert self.path is not None
        with self.path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(size)


class FileRange:
    """A chunk's bytes as a request body, read a MiB at a time when sent (and again if the
    request is sent again): a 16 MiB chunk never sits in memory whole."""

    def __init__(self, blob: ChunkSource, offset: int, length: int) -> None:
        self._blob, self._offset, self._length = blob, offset, length

    async def __aiter__(self) -> AsyncIterator[bytes]:
        at, end = self._offset, self._offset + self._length
        while at < end:
            piece = await anyio.to_thread.run_sync(self._blob.read, at, min(PIECE, end - at))
            if not piece:
                raise OSError(f"{self._blob.digest}: the source shrank while it was being sent")
            at += len(piece)
            yield piece


class UploadJournal:
    """Where uploads in progress are, by registry, repository and digest: in a folder
    (resumable across processes) or, without one, in memory."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder
        self._memory: dict[str, str] = {}

    def _key(self, base_url: str, repository: str, digest: str) -> str:
        return hashlib.sha256(f"{base_url}\0{repository}\0{digest}".encode()).hexdigest()

    def get(self, base_url: str, repository: str, digest: str) -> str | None:
        key = self._key(base_url, repository, digest)
        if self._folder is None:
            return self._memory.get(key)
        try:
            return str(json.loads((self._folder / key).read_text())["location"])
        except (OSError, ValueError, KeyError):
            return None

    def put(self, base_url: str, repository: str, digest: str, location: str) -> None:
        key = self._key(base_url, repository, digest)
        if self._folder is None:
            self._memory[key] = location
            return
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self._folder / (key + ".tmp")
        temporary.write_text(json.dumps({"location": location}))
        temporary.replace(self._folder / key)

    def forget(self, base_url: str, repository: str, digest: str) -> None:
        key = self._key(base_url, repository, digest)
        self._memory.pop(key, None)
        if self._folder is not None:
            (self._folder / key).unlink(missing_ok=True)


class Uploader:
    def __init__(
        self,
        http: RegistryHttp,
        repository: str,
        journal: UploadJournal,
        progress: Progress,
        *,
        chunk_size: int = CHUNK,
        mount_from: str | None = None,
        discover_mounts: bool = False,
        attempts: int = 5,
    ) -> None:
        self._http, self._repository, self._journal = http, repository, journal
        self._progress, self._chunk, self._mount_from = progress, chunk_size, mount_from
        self._discover = discover_mounts
        self._attempts = attempts
        scopes = [f"repository:{repository}:pull,push"]
        if mount_from:
            scopes.append(f"repository:{mount_from}:pull")
        self._scopes = scopes

    async def push(self, blob: ChunkSource, name: str, *, mount_from: str | None = None) -> int:
        """Make ``blob`` present in the repository, sending what the server does not have;
        the bytes sent (0 when it had the blob or mounted it). ``mount_from``: a repository
        to mount this blob from, instead of the uploader's own."""
        self._progress.start(name, blob.size)
        try:
            return await self._push(blob, name, mount_from or self._mount_from)
        finally:
            self._progress.finish(name)

    async def _push(self, blob: ChunkSource, name: str, mount_from: str | None) -> int:
        base = f"/v2/{self._repository}/blobs/"
        head = await self._http.request("HEAD", base + blob.digest, self._scopes)
        if head.status_code == 200:
            return 0
        location, offset = await self._resume(blob)
        self._progress.advance(name, offset)
        sending = blob.size - offset
        if location is None:
            params, scopes = None, self._scopes
            if mount_from:
                params = {"mount": blob.digest, "from": mount_from}
                if mount_from != self._mount_from:  # a token must grant the pull there too
                    scopes = [*scopes, f"repository:{mount_from}:pull"]
            elif self._discover:
                params = {"mount": blob.digest}
            started = await self._http.request("POST", base + "uploads/", scopes, params=params)
            if started.status_code == 201:
                return 0  # mounted
            await raise_for(started, f"starting the upload of {name}")
            location = started.headers["location"]
            if blob.size <= self._chunk:  # one request: the bytes go with the closing PUT
                await self._finish(location, blob, FileRange(blob, 0, blob.size), blob.size, name)
                return sending
            self._journal.put(self._http.base_url, self._repository, blob.digest, location)
        failures = 0
        while offset < blob.size:
            length = min(self._chunk, blob.size - offset)
            end = offset + length - 1
            headers = {
                "content-type": "application/octet-stream",
                "content-range": f"{offset}-{end}",
                "content-length": str(length),
            }
            body = FileRange(blob, offset, length)
            try:
                sent = await self._http.request(
                    "PATCH", location, self._scopes, headers=headers, content=body, retry=False
                )
            except httpx.TransportError:
                failures += 1
                if failures >= self._attempts:
                    raise
                await anyio.sleep(0.5 * 2 ** (failures - 1))
                location, offset = await self._status(location, wait=True)
                continue
            # 5xx: the server may or may not have kept the chunk; 416: it holds another offset
            # than ours (an answer lost earlier). Either way, ask it where the upload stands.
            if (sent.status_code >= 500 or sent.status_code == 416) and failures + 1 < self._attempts:
                failures += 1
                await anyio.sleep(0.5 * 2 ** (failures - 1))
                location, offset = await self._status(location, wait=True)
                continue
            await raise_for(sent, f"uploading {name}")
            location = sent.headers.get("location", location)
            self._journal.put(self._http.base_url, self._repository, blob.digest, location)
            self._progress.advance(name, length)
            offset = end + 1
        await self._finish(location, blob, b"", 0, name)
        return sending

    async def _resume(self, blob: ChunkSource) -> tuple[str | None, int]:
        """An earlier upload of this blob the server still holds, and how far it got."""
        location = self._journal.get(self._http.base_url, self._repository, blob.digest)
        if location is None:
            return None, 0
        try:
            location, offset = await self._status(location)
        except RegistryError:
            self._journal.forget(self._http.base_url, self._repository, blob.digest)
            return None, 0
        return location, offset

    async def _status(self, location: str, *, wait: bool = False) -> tuple[str, int]:
        """``GET`` the upload: the server says how many bytes it has (``Range: 0-<last>``).
        With ``wait``, a ``Retry-After`` on the answer (Strongroom's, while another request,
        perhaps one whose connection died, still holds the upload) is waited out, up to
        :data:`MAX_WAIT` seconds at a time, so the next chunk is not sent only to be refused."""
        answer = await self._http.request("GET", location, self._scopes)
        await raise_for(answer, "asking for an upload's offset")
        retry_after = answer.headers.get("retry-after", "")
        if wait and retry_after.isdigit() and int(retry_after) > 0:
            await anyio.sleep(min(int(retry_after), MAX_WAIT))
            answer = await self._http.request("GET", location, self._scopes)
            await raise_for(answer, "asking for an upload's offset")
        received = answer.headers.get("range", "0-0")
        last = int(received.split("-", 1)[1]) if "-" in received else 0
        # "0-0" is both "nothing yet" and "one byte"; OCI servers answer 0-0 for empty uploads.
        offset = last + 1 if received != "0-0" else 0
        return answer.headers.get("location", location), offset

    async def _finish(
        self, location: str, blob: ChunkSource, content: bytes | FileRange, length: int, name: str
    ) -> None:
        separator = "&" if "?" in location else "?"
        done = await self._http.request(
            "PUT",
            f"{location}{separator}digest={blob.digest}",
            self._scopes,
            headers={"content-type": "application/octet-stream", "content-length": str(length)},
            content=content,
        )
        await raise_for(done, f"completing the upload of {name}")
        self._progress.advance(name, length)
        self._journal.forget(self._http.base_url, self._repository, blob.digest)


async def download(
    http: RegistryHttp, repository: str, digest: str, size: int, target: Path, progress: Progress, name: str
) -> None:
    """Fetch a blob into ``target``, continuing ``target.partial`` if one is there."""
    if await anyio.to_thread.run_sync(_complete, target, size, digest):
        return
    partial = target.with_name(target.name + PARTIAL)
    await anyio.to_thread.run_sync(lambda: target.parent.mkdir(parents=True, exist_ok=True))
    progress.start(name, size)
    try:
        for attempt in range(1, 6):
            try:
                await _fetch(http, repository, digest, partial, progress, name)
                break
            except (httpx.TransportError, DigestMismatch):
                if attempt == 5:
                    raise
                await anyio.sleep(0.5 * 2 ** (attempt - 1))
    finally:
        progress.finish(name)
    os.replace(partial, target)


async def _fetch(
    http: RegistryHttp, repository: str, digest: str, partial: Path, progress: Progress, name: str
) -> None:
    hasher = hashlib.sha256()
    have = await anyio.to_thread.run_sync(_size, partial)
    if have:
        await anyio.to_thread.run_sync(_hash_into, hasher, partial)
    headers = {"range": f"bytes={have}-"} if have else {}
    scopes = [f"repository:{repository}:pull"]
    response = await http.request(
        "GET", f"/v2/{repository}/blobs/{digest}", scopes, headers=headers, stream=True
    )
    try:
        if response.status_code == 416 and have:
            pass  # already complete: check below
        else:
            await raise_for(response, f"downloading {name}")
            if response.status_code != 206:
                hasher, have = hashlib.sha256(), 0  # the server sent it all
            progress.advance(name, have)
            with partial.open("r+b" if have else "wb") as handle:
                handle.seek(have)
                handle.truncate()
                async for chunk in response.aiter_bytes(1024 * 1024):
                    await anyio.to_thread.run_sync(handle.write, chunk)
                    hasher.update(chunk)
                    progress.advance(name, len(chunk))
    finally:
        await response.aclose()
    if "sha256:" + hasher.hexdigest() != digest:
        await anyio.to_thread.run_sync(lambda: partial.unlink(missing_ok=True))
        raise DigestMismatch(f"{name}: the bytes received do not match {digest}")


def _hash_into(hasher: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            hasher.update(chunk)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _complete(path: Path, size: int, digest: str) -> bool:
    """Whether ``path`` already holds the blob (a pull run again skips what it has)."""
    if _size(path) != size or not path.is_file():
        return False
    hasher = hashlib.sha256()
    _hash_into(hasher, path)
    return "sha256:" + hasher.hexdigest() == digest
