"""Model indexing: which pushes queue a ``model.index`` job, and the job that records what
the model is.

A push of a model manifest (ModelPack, the pre-donation cnai types, a KitOps ModelKit; from
any client) queues the job in the push's own transaction (the outbox), as a scan is queued.
The job reads the manifest from the metadata store, then from the blob store only what the
summary needs, each read capped before it starts: the config blob, the model card's first
bytes, ``config.json``, and the leading header bytes of each safetensors or GGUF weight
layer (a weight file is never read whole, and no tensor is ever loaded). It stores one
row and announces ``model.indexed`` in one transaction. Idempotent: run again, it records
the same row again; a manifest deleted meanwhile records nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from strongroom.clock import Clock, IdFactory
from strongroom.errors import BlobUnknown, DigestInvalid
from strongroom.events.catalogue import MODEL_INDEXED
from strongroom.metadata.jobs import Job
from strongroom.metadata.models import NewModel, SqlModelStore
from strongroom.metadata.outbox import ManifestChange, NewEvent, NewJob, Outbox
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.modelformats.documents import MAX_CARD, summed
from strongroom.modelformats.modelinfo import ModelFileInfo
from strongroom.modelformats.summary import (
    ModelDocumentError,
    ModelSummary,
    inspect,
    is_model,
    plan,
    summarise,
)
from strongroom.modelformats.weightheaders import (
    BadHeader,
    NeedMore,
    WeightHeader,
    read_gguf,
    read_safetensors,
)
from strongroom.oci.digest import Digest
from strongroom.storage.base import BlobStore

INDEX = "model.index"
INDEX_MAX_ATTEMPTS = 4
MAX_CONFIG = 1024 * 1024
"""The largest config blob (ModelPack config, Kitfile) read; a larger one is not read."""
MAX_HF_CONFIG = 1024 * 1024
MAX_HEADER = 16 * 1024 * 1024
"""The most leading bytes of one weight file read for its header (real safetensors headers
are kilobytes; a GGUF header with a large vocabulary a few megabytes)."""
FIRST_READ = {"safetensors": 8, "gguf": 256 * 1024}

logger = logging.getLogger("strongroom.mlmodels")


def index_on_push(change: ManifestChange) -> NewJob | None:
    """The indexing a push queues: only for a model manifest new in the repository, keyed
    by the image and when it was stored (a retried push is indexed once)."""
    if not change.created or not is_model(change.artifact_type):
        return None
    payload = {
        "account_id": change.account_id,
        "repository": change.repository,
        "digest": change.digest,
        "pushed_at": change.at.isoformat(),
    }
    key = f"{INDEX}:{change.account_id}/{change.repository}@{change.digest}:{change.at.isoformat()}"
    return NewJob(INDEX, payload, idempotency_key=key, max_attempts=INDEX_MAX_ATTEMPTS)


class ModelIndexer:
    """The ``model.index`` job handler."""

    def __init__(
        self,
        metadata: SqlMetadataStore,
        models: SqlModelStore,
        blob_store: BlobStore,
        clock: Clock,
        ids: IdFactory,
        *,
        dispatch_kind: str | None,
    ) -> None:
        self._metadata, self._models, self._blobs = metadata, models, blob_store
        self._clock, self._ids, self._dispatch_kind = clock, ids, dispatch_kind

    async def __call__(self, job: Job) -> None:
        account_id, name = str(job.payload["account_id"]), str(job.payload["repository"])
        digest = str(job.payload["digest"])
        found = await self._metadata.lookup_manifest(account_id, name, digest=digest)
        if found.manifest is None or found.repository_id is None:
            return  # deleted since: nothing to index
        try:
            summary = await self.summary(digest, found.manifest.content)
        except ModelDocumentError as error:
            logger.warning("model %s/%s@%s not indexed: %s", account_id, name, digest, error)
            return
        model = NewModel(
            found.repository_id, digest, summary.name, summary.version, summary.format,
            summary.architecture, summary.parameter_count, summary.licenses, summary.document,
            _pushed_at(job.payload.get("pushed_at")) or self._clock.now(),
        )  # fmt: skip
        await self._models.record(
            model, self._clock.now(), lambda: self._announce(account_id, name, digest, summary)
        )

    async def summary(self, digest: str, content: bytes) -> ModelSummary:
        """What the model is, from its manifest and the capped reads of its blobs."""
        try:
            manifest: dict[str, Any] = json.loads(content)
            config_descriptor = manifest.get("config") or {}
            config_size = int(config_descriptor.get("size", 0))
            config = b""
            if config_size <= MAX_CONFIG:
                config = await self._head(str(config_descriptor.get("digest", "")), config_size)
        except (ValueError, TypeError, AttributeError) as error:
            raise ModelDocumentError(f"the model manifest is malformed: {type(error).__name__}") from None
        info = inspect(digest, manifest, config)
        read = plan(info)
        card = await self._file(read.card, MAX_CARD)
        hf_config = None
        if read.hf_config is not None and read.hf_config.size <= MAX_HF_CONFIG:
            hf_config = await self._file(read.hf_config, MAX_HF_CONFIG)
        headers = [header for header in [await self._header(file) for file in read.weights] if header]
        return summarise(info, read, card, hf_config, summed(headers))

    async def _header(self, file: ModelFileInfo) -> WeightHeader | None:
        """A weight file's header from its leading bytes, asking for more while the header
        continues, never past :data:`MAX_HEADER`; None when it is not a readable header."""
        is_safetensors = file.path.lower().endswith(".safetensors")
        reader = read_safetensors if is_safetensors else read_gguf
        size = min(FIRST_READ["safetensors" if is_safetensors else "gguf"], file.size)
        while True:
            data = await self._head(file.digest, size)
            try:
                return reader(data)
            except NeedMore as more:
                if more.size > min(file.size, MAX_HEADER) or more.size <= size:
                    return None
                size = more.size
            except BadHeader:
                return None

    async def _file(self, file: ModelFileInfo | None, limit: int) -> bytes | None:
        return None if file is None else await self._head(file.digest, min(file.size, limit))

    async def _head(self, digest: str, size: int) -> bytes:
        """The first ``size`` bytes of a blob (fewer when it is shorter); empty when absent."""
        if size <= 0:
            return b""
        try:
            parsed = Digest.parse(digest)
            data = bytearray()
            async for chunk in self._blobs.read(parsed, 0, size):
                data += chunk
            return bytes(data[:size])
        except (BlobUnknown, DigestInvalid):
            return b""

    def _announce(self, account_id: str, repository: str, digest: str, summary: ModelSummary) -> Outbox:
        data = {
            "repository-name": repository,
            "image-digest": digest,
            "name": summary.name,
            "version": summary.version,
            "format": summary.format,
            "architecture": summary.architecture,
            "parameter-count": summary.parameter_count,
            "licenses": list(summary.licenses),
        }
        event = NewEvent(self._ids.new_id(), MODEL_INDEXED.name, account_id, repository, data)
        jobs = []
        if self._dispatch_kind is not None:
            kind = self._dispatch_kind
            payload = {"event_id": event.id, "account_id": account_id}
            jobs = [NewJob(kind, payload, idempotency_key=f"{kind}:{event.id}")]
        return Outbox(events=[event], jobs=jobs)


def _pushed_at(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
