"""Values the metadata store reads and writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Repository:
    id: int
    account_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    repository_id: int
    algorithm: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class NewManifest:
    digest: str
    media_type: str
    content: bytes
    subject_digest: str | None
    artifact_type: str | None
    annotations_json: str | None
    blob_digests: tuple[str, ...]
    child_digests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations_json: str | None


@dataclass(frozen=True, slots=True)
class User:
    id: int
    account_id: str
    name: str
    password_hash: str
    credential_version: int


@dataclass(frozen=True, slots=True)
class ManifestLookup:
    """Whether the repository exists, and the manifest if it does."""

    repository_exists: bool
    manifest: StoredManifest | None
