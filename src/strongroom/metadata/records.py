"""Values the metadata store reads and writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    """The 12-digit registry id."""
    is_default: bool
    """The account ``/v2/<name>`` (no account id in the path) addresses."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Repository:
    id: int
    account_id: str
    name: str
    created_at: datetime
    tag_mutability: str = "MUTABLE"
    """ECR ``imageTagMutability``: MUTABLE, IMMUTABLE, or either ``…_WITH_EXCLUSION``."""
    tag_mutability_filters: tuple[str, ...] = ()
    """Wildcard patterns of the tags excepted by a ``…_WITH_EXCLUSION`` mode."""
    scan_on_push: bool = False
    encryption_type: str = "AES256"
    kms_key: str | None = None
    push_gated: bool | None = field(default=None, compare=False)
    """Whether the account had an enforced patch policy when the row was read with it
    (``get_repository``): False lets a push skip the push gate's policy read; None (not
    read) leaves the gate to look."""

    def tag_is_immutable(self, tag: str) -> bool:
        """Whether a tag, once pushed, may not be moved to another manifest."""
        excepted = any(fnmatchcase(tag, pattern) for pattern in self.tag_mutability_filters)
        match self.tag_mutability:
            case "IMMUTABLE":
                return True
            case "IMMUTABLE_WITH_EXCLUSION":
                return not excepted
            case "MUTABLE_WITH_EXCLUSION":
                return excepted
            case _:
                return False


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    repository_id: int
    algorithm: str
    created_at: datetime
    updated_at: datetime
    size: int = 0
    """The bytes taken so far: what ``Range`` reports and where the next chunk starts."""
    writer: str | None = None
    """The request appending now, if any (see ``UploadStore.claim_upload_in``)."""


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    content: bytes
    last_pulled_at: datetime | None = None


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
    made_by_registry: bool = False
    """The registry's own artifact (the scan's SBOM referrer), not a client's push."""
    replicated: bool = False
    """Stored by a replication (from another account, or another registry whose request
    was honoured as one): not replicated onward (ADR 0020)."""


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
    user_id: str
    """IAM's unique id (``AIDA…``)."""
    path: str
    password_hash: str | None
    credential_version: int
    created_at: datetime

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user{self.path}{self.name}"


@dataclass(frozen=True, slots=True)
class AccessKey:
    id: str
    user: User
    status: str
    """``Active`` or ``Inactive``."""
    secret_ciphertext: bytes
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class Role:
    id: int
    account_id: str
    name: str
    role_id: str
    """IAM's unique id (``AROA…``)."""
    path: str
    trust_policy: str
    description: str | None
    max_session_seconds: int
    created_at: datetime
    trust_principals: str | None = None
    """The binding of the trust policy (metadata/principals.py), JSON."""

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role{self.path}{self.name}"


@dataclass(frozen=True, slots=True)
class TemporaryCredential:
    """An ``ASIA…`` key issued by AssumeRole: the role, the session, and when it ends."""

    id: str
    role: Role
    session_name: str
    secret_ciphertext: bytes
    session_token_hash: str
    """SHA-256 (hex) of the session token; the token itself is never stored."""
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    id: int
    account_id: str
    name: str
    policy_id: str
    path: str
    description: str | None
    document: str
    created_at: datetime
    updated_at: datetime

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:policy{self.path}{self.name}"


@dataclass(frozen=True, slots=True)
class RepositoryAccess:
    """What authorization needs to know of a repository and its registry."""

    repository_policy: BoundPolicy | None
    public: bool
    registry_policy: BoundPolicy | None
    resource_tags: tuple[tuple[str, str], ...] = ()
    """The repository's resource tags, for ``aws:ResourceTag/…`` conditions."""
    public_policy: BoundPolicy | None = None
    """The policy ECR Public set and obeys (docs/adr/0004)."""
    registry_policy_scope: str = "V2"
    """ECR's ``REGISTRY_POLICY_SCOPE``: ``V1`` confines the registry policy to replication
    and pull-through actions; ``V2`` lets it govern every ECR action."""


@dataclass(frozen=True, slots=True)
class BoundPolicy:
    """A stored policy document and the unique ids of the users and roles it named when
    it was saved (metadata/principals.py)."""

    document: str
    principal_ids: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ManifestLookup:
    """Whether the repository exists, and the manifest if it does."""

    repository_exists: bool
    manifest: StoredManifest | None
    repository_id: int | None = None
    gated: bool = False
    """The account has a pull policy, so the pull gate must look further (read in the
    same statement as the repository: a pull from an account without one pays nothing)."""
