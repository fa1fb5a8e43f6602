"""The model SDK: push a model directory, pull it back, inspect it without its weights.

    from strongroom.client import Registry, Login
    registry = Registry("registry.example:5000", Login("ci", password))
    digest = registry.push_model("./fraud-detector", "ml/fraud-detector:1.4.0")
    info = registry.inspect_model("ml/fraud-detector:1.4.0")
    registry.pull_model("ml/fraud-detector:1.4.0", "./restored", filters=["weights"])

:class:`AsyncRegistry` is the implementation (one async code path); :class:`Registry`
runs it to completion for callers without an event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tarfile
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from strongroom.client.admin import AccessKey, HttpAdminApi, Login
from strongroom.client.blobs import CHUNK, BlobSource, Uploader, UploadJournal, download
from strongroom.client.credentials import (
    Credentials,
    CredentialsError,
    EcrError,
    ecr_api,
    ecr_call,
    exchange_access_key,
)
from strongroom.client.modelpack import PackedModel, pack
from strongroom.client.progress import NullProgress, Progress
from strongroom.client.reference import Reference
from strongroom.client.remoteheaders import read_remote_headers
from strongroom.client.transport import TIMEOUT, RegistryError, RegistryHttp, raise_for
from strongroom.modelformats import mediatypes as mt
from strongroom.modelformats.modelinfo import ModelFileInfo, ModelInfo, describe, layer_file

MANIFEST_ACCEPT = ", ".join([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST])
MAX_DOCUMENT = 4 * 1024 * 1024
STAGING = ".strongroom-layers"
PACKING = "hashing files"
T = TypeVar("T")


class UnsafePath(ValueError):
    """A layer names a path outside the directory it is pulled into."""


class AsyncRegistry:
    def __init__(
        self,
        registry: str,
        credentials: Credentials = None,
        *,
        plain_http: bool | None = None,
        journal: Path | None = None,
        chunk_size: int = CHUNK,
        parallel: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        ecr_endpoint: str | None = None,
    ) -> None:
        """``registry`` is ``host[:port]``; ``journal`` is a folder where uploads in progress
        are recorded, so an interrupted push resumes even from another process. Access keys
        are exchanged with GetAuthorizationToken at ``ecr_endpoint``: by default Amazon's
        ECR API for an ECR registry host, else the registry itself (as Strongroom serves it)."""
        self.registry = registry
        self._base_url = Reference(registry, "x").base_url(plain_http)
        self._credentials = credentials
        self._journal = UploadJournal(journal)
        self._chunk, self._parallel = chunk_size, parallel
        self._client = httpx.AsyncClient(timeout=TIMEOUT, transport=transport, follow_redirects=True)
        self._ecr_endpoint = ecr_endpoint
        self._http: RegistryHttp | None = None

    async def __aenter__(self) -> AsyncRegistry:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.aclose()

    def reference(self, text: str) -> Reference:
        """``repository[:tag][@digest]`` on this registry (a full reference naming it is accepted)."""
        return Reference.parse(text if text.startswith(self.registry + "/") else f"{self.registry}/{text}")

    async def push_model(
        self,
        directory: str | Path,
        reference: str,
        *,
        mount_from: str | None = None,
        progress: Progress | None = None,
        created: str | None = None,
        immutable_except: Sequence[str] | None = None,
        **overrides: Any,
    ) -> str:
        """Pack and push ``directory``; returns the manifest digest. ``overrides``: name,
        version, revision, licenses, authors, description, source_url… With
        ``immutable_except`` (aliases such as ``champion``), the repository is made, or set,
        ``IMMUTABLE_WITH_EXCLUSION`` with those aliases excluded (needs access keys: the ECR
        API is signed)."""
        ref, progress = self.reference(reference), progress or NullProgress()
        if immutable_except is not None:
            await self._immutable(ref.repository, immutable_except)
        packed = await anyio.to_thread.run_sync(partial(_pack, Path(directory), progress, created, overrides))
        http = await self._connection()
        uploader = Uploader(
            http, ref.repository, self._journal, progress, chunk_size=self._chunk, mount_from=mount_from
        )
        sources = {file.digest: BlobSource(file.digest, file.size, path=file.source) for file in packed.files}
        names = {file.digest: file.path for file in packed.files}
        await _bounded(self._parallel, [partial(uploader.push, s, names[s.digest]) for s in sources.values()])
        config = BlobSource(packed.config.digest, len(packed.config.data), data=packed.config.data)
        await uploader.push(config, "config")
        put = await http.request(
            "PUT",
            f"/v2/{ref.repository}/manifests/{ref.tag or packed.manifest.digest}",
            [f"repository:{ref.repository}:pull,push"],
            headers={"content-type": mt.OCI_MANIFEST},
            content=packed.manifest.data,
        )
        await raise_for(put, "pushing the manifest")
        return packed.manifest.digest

    async def inspect_model(self, reference: str) -> ModelInfo:
        """The model's metadata from its manifest and config; weight headers are read by
        ``Range`` only when the config has no parameter count."""
        ref = self.reference(reference)
        digest, manifest = await self._manifest(ref)
        config = await self._config(ref, manifest)
        info = describe(str(ref), digest, manifest, config)
        if info.parameter_count is None:
            found = await read_remote_headers(await self._connection(), ref.repository, info.files)
            if found is not None:
                info.parameter_count, info.tensor_count, info.dtypes = (
                    found.parameter_count,
                    found.tensor_count,
                    list(found.dtypes),
                )
                info.format = info.format or found.format
        return info

    async def pull_model(
        self,
        reference: str,
        directory: str | Path,
        *,
        filters: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> list[str]:
        """Restore the model into ``directory`` (digests verified, modes restored); returns
        the paths written. ``filters``: weights, config, docs, code, datasets, ``path:<p>``."""
        ref, progress = self.reference(reference), progress or NullProgress()
        _, manifest = await self._manifest(ref)
        root = await anyio.to_thread.run_sync(_target, Path(directory))
        files = [
            file for file in map(layer_file, manifest.get("layers") or []) if file and _wanted(file, filters)
        ]
        for file in files:
            if not file.archive:
                _inside(root, file.path)
        http = await self._connection()

        async def fetch(file: ModelFileInfo) -> None:
            if file.archive:
                await _unpack(http, ref.repository, file, root, progress)
                return
            destination = root / file.path
            await download(http, ref.repository, file.digest, file.size, destination, progress, file.path)
            os.chmod(destination, file.mode if file.mode is not None else 0o644)

        await _bounded(self._parallel, [partial(fetch, f) for f in files])
        with contextlib.suppress(OSError):  # left when empty: tar layers are staged there
            (root / STAGING).rmdir()
        return [file.path for file in files]

    async def promote_model(self, reference: str, alias: str) -> str:
        """Point the tag ``alias`` (``champion``, ``staging``) at the model ``reference`` names,
        the manifest's bytes unchanged; returns its digest. Version tags can stay immutable
        while aliases move (a repository's tag-mutability exclusion filters)."""
        ref = self.reference(reference)
        target = Reference.parse(f"{ref.registry}/{ref.repository}:{alias}")
        data, media_type = await self._manifest_bytes(ref)
        put = await (await self._connection()).request(
            "PUT",
            f"/v2/{ref.repository}/manifests/{target.tag}",
            [f"repository:{ref.repository}:pull,push"],
            headers={"content-type": media_type},
            content=data,
        )
        await raise_for(put, f"tagging {ref} as {alias}")
        return "sha256:" + hashlib.sha256(data).hexdigest()

    async def list_models(
        self,
        *,
        name: str | None = None,
        format: str | None = None,
        min_params: float | None = None,
        max_params: float | None = None,
        license: str | None = None,
        architecture: str | None = None,
        tag: str | None = None,
        since: str | None = None,
        before: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Models of the registry's index that the caller may see (``GET /admin/v1/models``),
        newest first: ``name`` a substring (``prefix*`` a prefix), ``since``/``before`` an
        RFC 3339 time or a time ago (``7d``), parameter counts inclusive."""
        if self._credentials is None:
            raise CredentialsError("listing models needs credentials: a login or access keys")
        filters = {
            "name": name, "format": format, "license": license, "architecture": architecture, "tag": tag,
            "pushedSince": since, "pushedBefore": before,
            "minParameters": None if min_params is None else str(int(min_params)),
            "maxParameters": None if max_params is None else str(int(max_params)),
        }  # fmt: skip
        api = HttpAdminApi(self._base_url, self._credentials, self._client)
        return await api.list_models(filters, limit)

    async def _manifest_bytes(self, ref: Reference) -> tuple[bytes, str]:
        """The manifest's bytes, as stored (digest checked when the reference names one)."""
        http = await self._connection()
        scopes = [f"repository:{ref.repository}:pull"]
        path = f"/v2/{ref.repository}/manifests/{ref.target}"
        response = await http.request("GET", path, scopes, headers={"accept": MANIFEST_ACCEPT}, stream=True)
        try:
            await raise_for(response, f"reading {ref}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_DOCUMENT:
                    raise RegistryError(
                        200, "MANIFEST_TOO_LARGE", f"{ref}: manifest over {MAX_DOCUMENT} bytes"
                    )
        finally:
            await response.aclose()
        if ref.digest and "sha256:" + hashlib.sha256(data).hexdigest() != ref.digest:
            raise RegistryError(200, "DIGEST_INVALID", f"{ref}: the manifest does not match its digest")
        return bytes(data), response.headers.get("content-type", mt.OCI_MANIFEST).split(";")[0].strip()

    async def _manifest(self, ref: Reference) -> tuple[str, dict[str, Any]]:
        data, _ = await self._manifest_bytes(ref)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        document: dict[str, Any] = json.loads(data)
        if document.get("mediaType") == mt.OCI_INDEX or "manifests" in document:
            children = document.get("manifests") or []
            if not children:
                raise RegistryError(200, "MANIFEST_UNKNOWN", f"{ref}: an empty index")
            # A KitOps index lists variants (quantisations); the first is the default.
            return await self._manifest(
                Reference(ref.registry, ref.repository, digest=str(children[0]["digest"]))
            )
        return digest, document

    async def _config(self, ref: Reference, manifest: dict[str, Any]) -> dict[str, Any]:
        descriptor = manifest.get("config") or {}
        if not descriptor.get("digest") or int(descriptor.get("size", 0)) > MAX_DOCUMENT:
            return {}
        http = await self._connection()
        response = await http.request(
            "GET", f"/v2/{ref.repository}/blobs/{descriptor['digest']}", [f"repository:{ref.repository}:pull"]
        )
        await raise_for(response, "reading the model config")
        if "sha256:" + hashlib.sha256(response.content).hexdigest() != descriptor["digest"]:
            raise RegistryError(200, "DIGEST_INVALID", "the config blob does not match its digest")
        try:
            config = json.loads(response.content)
        except ValueError:
            return {}
        return config if isinstance(config, dict) else {}

    async def _immutable(self, repository: str, aliases: Sequence[str]) -> None:
        key = self._credentials
        if not isinstance(key, AccessKey):
            raise CredentialsError(
                "immutable version tags are set through the ECR API: sign in with access keys"
            )
        endpoint, key = self._ecr(key)
        settings = {
            "repositoryName": repository,
            "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
            "imageTagMutabilityExclusionFilters": [
                {"filterType": "WILDCARD", "filter": alias} for alias in aliases
            ],
        }
        try:
            await ecr_call(key, endpoint, "CreateRepository", settings, self._client)
        except EcrError as error:
            if error.kind != "RepositoryAlreadyExistsException":
                raise
            await ecr_call(key, endpoint, "PutImageTagMutability", settings, self._client)

    def _ecr(self, key: AccessKey) -> tuple[str, AccessKey]:
        """Where the ECR API is, and the key signing for its region."""
        amazon = ecr_api(self.registry)
        if self._ecr_endpoint is None and amazon is not None:
            return amazon[0], dataclasses.replace(key, region=amazon[1])
        return self._ecr_endpoint or self._base_url, key

    async def _connection(self) -> RegistryHttp:
        if self._http is None:
            login = self._credentials
            if isinstance(login, AccessKey):
                endpoint, key = self._ecr(login)
                login = await exchange_access_key(key, endpoint, self._client)
            self._http = RegistryHttp(
                self._base_url, login if isinstance(login, Login) else None, self._client
            )
        return self._http


class Registry:
    """:class:`AsyncRegistry` for synchronous callers (a training script, a notebook cell
    without a running loop): each call runs to completion."""

    def __init__(self, registry: str, credentials: Credentials = None, **options: Any) -> None:
        self._args, self._options = (registry, credentials), options

    def push_model(self, directory: str | Path, reference: str, **options: Any) -> str:
        return self._run(lambda client: client.push_model(directory, reference, **options))

    def pull_model(self, reference: str, directory: str | Path, **options: Any) -> list[str]:
        return self._run(lambda client: client.pull_model(reference, directory, **options))

    def inspect_model(self, reference: str) -> ModelInfo:
        return self._run(lambda client: client.inspect_model(reference))

    def promote_model(self, reference: str, alias: str) -> str:
        return self._run(lambda client: client.promote_model(reference, alias))

    def list_models(self, **filters: Any) -> list[dict[str, Any]]:
        return self._run(lambda client: client.list_models(**filters))

    def _run(self, call: Callable[[AsyncRegistry], Awaitable[T]]) -> T:
        async def main() -> T:
            async with AsyncRegistry(*self._args, **self._options) as client:
                return await call(client)

        return anyio.run(main)


def _wanted(file: ModelFileInfo, filters: Sequence[str]) -> bool:
    if not filters:
        return True
    for wanted in filters:
        if wanted.startswith("path:"):
            path = wanted[5:].strip("/")
            if file.path == path or file.path.startswith(path + "/"):
                return True
        elif file.kind == wanted:
            return True
    return False


def _pack(directory: Path, progress: Progress, created: str | None, overrides: dict[str, Any]) -> PackedModel:
    """Pack in a worker thread, with a bar for the hashing (minutes, for a large model)."""
    total = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    progress.start(PACKING, total)
    try:
        return pack(directory, created=created, on_bytes=partial(progress.advance, PACKING), **overrides)
    finally:
        progress.finish(PACKING)


def _target(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory.resolve()


def _inside(root: Path, path: str) -> Path:
    posix = PurePosixPath(path)
    if posix.is_absolute() or ".." in posix.parts or not posix.parts or "\\" in path:
        raise UnsafePath(f"{path!r}: a layer path must stay inside the target directory")
    resolved = (root / posix).resolve()
    if not resolved.is_relative_to(root) or resolved == root:
        raise UnsafePath(f"{path!r} leads outside the target directory")
    return resolved


async def _unpack(
    http: RegistryHttp, repository: str, file: ModelFileInfo, root: Path, progress: Progress
) -> None:
    """A tar layer (KitOps, ModelPack ``.tar``): verified, then unpacked with tarfile's
    ``data`` filter (no links out, no devices, no absolute paths)."""
    archive = root / STAGING / file.digest.replace(":", "-")
    await download(http, repository, file.digest, file.size, archive, progress, file.path)
    with tarfile.open(archive) as tar:
        await anyio.to_thread.run_sync(lambda: tar.extractall(root, filter="data"))
    archive.unlink()


async def _bounded(limit: int, calls: Sequence[Callable[[], Awaitable[object]]]) -> None:
    limiter = anyio.CapacityLimiter(limit)

    async def run(call: Callable[[], Awaitable[object]]) -> None:
        async with limiter:
            await call()

    try:
        async with anyio.create_task_group() as group:
            for call in calls:
                group.start_soon(run, call)
    except BaseExceptionGroup as failed:
        # The first failure is the story; the others are the transfers it cancelled.
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
