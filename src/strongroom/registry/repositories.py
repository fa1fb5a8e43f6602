"""Managing repositories: create, describe, delete, and their settings, resource tags and
policy. The ECR API drives these; the OCI API creates repositories on first push
through :meth:`Repositories.ensure`, with the defaults of a matching creation template.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from strongroom.clock import Clock
from strongroom.errors import InvalidRequest, NameUnknown, NotFound, RepositoryAlreadyExists
from strongroom.metadata.records import Repository

__all__ = [
    "CreationTemplate", "NewRepository", "Repositories", "Repository", "RepositorySpec", "TagMutability",
]  # fmt: skip
from strongroom.metadata.repositories import CreationTemplate, NewRepository, SqlRepositoryStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.names import RepositoryRef, validate_name
from strongroom.policy.findings import Finding
from strongroom.registry.policy_review import PolicyReview

MUTABILITY_MODES = ("MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION")
CREATE_ON_PUSH = "CREATE_ON_PUSH"
REPLICATION = "REPLICATION"
ROOT_PREFIX = "ROOT"
"""The creation-template prefix that matches every repository."""


class RepositoryPolicyNotFound(NotFound):
    def __init__(self, account_id: str, name: str) -> None:
        super().__init__(
            f"Repository policy does not exist for the repository with name '{name}' "
            f"in the registry with id '{account_id}'"
        )


@dataclass(frozen=True, slots=True)
class TagMutability:
    mode: str = "MUTABLE"
    filters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MUTABILITY_MODES:
            raise InvalidRequest(f"unknown image tag mutability {self.mode!r}")
        exclusion = self.mode.endswith("_WITH_EXCLUSION")
        if exclusion and not self.filters:
            raise InvalidRequest(f"{self.mode} needs imageTagMutabilityExclusionFilters")
        if not exclusion and self.filters:
            raise InvalidRequest(
                f"imageTagMutabilityExclusionFilters are only valid with the {self.mode}_WITH_EXCLUSION modes"
            )


@dataclass(frozen=True, slots=True)
class RepositorySpec:
    """What a caller asks of a new repository; unset members come from a template or defaults."""

    mutability: TagMutability | None = None
    scan_on_push: bool | None = None
    encryption_type: str | None = None
    kms_key: str | None = None
    resource_tags: Mapping[str, str] | None = None


CreateOnPush = Literal["always", "template", "never"]
"""Whether a push to a missing repository creates it: always; only where an ECR
repository creation template applied for ``CREATE_ON_PUSH`` matches (as ECR does); or
never. The caller must be allowed ``ecr:CreateRepository`` in every mode (checked by
the front door, which knows the caller)."""


class Repositories:
    def __init__(
        self,
        metadata: SqlMetadataStore,
        store: SqlRepositoryStore,
        clock: Clock,
        review: PolicyReview | None = None,
        create_on_push: CreateOnPush = "always",
    ) -> None:
        self._metadata = metadata
        self._store = store
        self._clock = clock
        self._review = review or PolicyReview()
        self._create_on_push = create_on_push

    async def exists(self, ref: RepositoryRef) -> bool:
        return await self.find(ref) is not None

    async def find(self, ref: RepositoryRef) -> Repository | None:
        return await self._metadata.get_repository(ref.account_id, ref.name)

    async def create(
        self, account_id: str, name: str, spec: RepositorySpec, *, applied_for: str | None = None
    ) -> Repository:
        """Create a repository. With ``applied_for`` (``CREATE_ON_PUSH``, …) the matching
        creation template supplies what ``spec`` leaves unset."""
        validate_name(name)
        template = await self.matching_template(account_id, name, applied_for) if applied_for else None
        defaults = json.loads(template.document) if template else {}
        mutability = spec.mutability or TagMutability(
            defaults.get("imageTagMutability", "MUTABLE"),
            tuple(f["filter"] for f in defaults.get("imageTagMutabilityExclusionFilters", ())),
        )
        encryption = defaults.get("encryptionConfiguration") or {}
        tags = spec.resource_tags
        if tags is None:
            tags = {tag["Key"]: tag["Value"] for tag in defaults.get("resourceTags", ())}
        new = NewRepository(
            account_id=account_id,
            name=name,
            tag_mutability=mutability.mode,
            tag_mutability_filters=mutability.filters,
            scan_on_push=bool(spec.scan_on_push),
            encryption_type=spec.encryption_type or encryption.get("encryptionType") or "AES256",
            kms_key=spec.kms_key or encryption.get("kmsKey") or None,
            policy=defaults.get("repositoryPolicy") or None,
            lifecycle_policy=defaults.get("lifecyclePolicy") or None,
        )
        return await self._store.create_repository(new, tags, self._clock.now())

    async def ensure(self, ref: RepositoryRef) -> Repository:
        """The repository a push goes to, created on first push."""
        existing = await self._metadata.get_repository(ref.account_id, ref.name)
        if existing is not None:
            return existing
        if self._create_on_push == "never":
            raise NameUnknown(ref.path)
        if await self.matching_template(ref.account_id, ref.name, CREATE_ON_PUSH) is None:
            if self._create_on_push == "template":
                raise NameUnknown(ref.path)
            return await self._metadata.ensure_repository(ref.account_id, ref.name, self._clock.now())
        try:
            return await self.create(ref.account_id, ref.name, RepositorySpec(), applied_for=CREATE_ON_PUSH)
        except RepositoryAlreadyExists:  # another push created it first
            return await self.get(ref.account_id, ref.name)

    async def ensure_replicated(self, ref: RepositoryRef, source: RepositorySpec | None = None) -> Repository:
        """The repository a replication writes to, created on first replication: with the
        creation template applied for ``REPLICATION`` when one matches; else with
        ``source`` (the source repository's settings, when the registry knows them: a copy
        within this instance); else as a push creates it (:meth:`ensure`). The caller has
        been allowed ``ecr:ReplicateImage`` and ``ecr:CreateRepository`` (ADR 0020)."""
        existing = await self._metadata.get_repository(ref.account_id, ref.name)
        if existing is not None:
            return existing
        template = await self.matching_template(ref.account_id, ref.name, REPLICATION)
        if template is None and source is None:
            return await self.ensure(ref)
        spec = source if template is None and source is not None else RepositorySpec()
        try:
            return await self.create(ref.account_id, ref.name, spec, applied_for=REPLICATION)
        except RepositoryAlreadyExists:  # a push or another replication created it first
            return await self.get(ref.account_id, ref.name)

    async def get(self, account_id: str, name: str) -> Repository:
        repository = await self._metadata.get_repository(account_id, name)
        if repository is None:
            raise NameUnknown(name)
        return repository

    async def describe(
        self, account_id: str, *, names: Sequence[str] | None, after: str | None, limit: int
    ) -> list[Repository]:
        """The named repositories (every one must exist), or a page of all of them."""
        if names is not None:
            found = await self._store.list_repositories(account_id, names=names, limit=len(names))
            missing = sorted(set(names) - {r.name for r in found})
            if missing:
                raise NameUnknown(missing[0])
            return found
        return await self._store.list_repositories(account_id, after=after, limit=limit)

    async def delete(self, account_id: str, name: str, *, force: bool) -> Repository:
        return await self._store.delete_repository(account_id, name, force=force, now=self._clock.now())

    async def set_tag_mutability(self, account_id: str, name: str, mutability: TagMutability) -> Repository:
        repository = await self.get(account_id, name)
        await self._store.update_repository(
            repository.id, tag_mutability=mutability.mode, tag_mutability_filters=mutability.filters
        )
        return await self.get(account_id, name)

    async def set_scan_on_push(self, account_id: str, name: str, scan_on_push: bool) -> Repository:
        repository = await self.get(account_id, name)
        await self._store.update_repository(repository.id, scan_on_push=scan_on_push)
        return await self.get(account_id, name)

    # the repository policy: one for ECR and /v2/, one ECR Public sets (docs/adr/0004)

    async def policy(self, account_id: str, name: str, *, public: bool = False) -> str:
        return await self._policy_of(await self.get(account_id, name), public)

    async def _policy_of(self, repository: Repository, public: bool) -> str:
        documents = await self._store.repository_documents(repository.id)
        policy = documents.public_policy if public else documents.policy
        if policy is None:
            raise RepositoryPolicyNotFound(repository.account_id, repository.name)
        return policy

    async def set_policy(
        self, account_id: str, name: str, text: str, *, public: bool = False
    ) -> list[Finding]:
        """Set the repository policy (with ``public``, the one ECR Public obeys): any policy
        ECR would store is stored (see :mod:`strongroom.registry.policy_review`); returns
        its findings."""
        repository = await self.get(account_id, name)
        found = self._review.review(text, f"repository {account_id}/{name}")
        await self._store.update_repository(repository.id, **{_policy_column(public): text})
        return found

    async def delete_policy(self, account_id: str, name: str, *, public: bool = False) -> str:
        repository = await self.get(account_id, name)
        policy = await self._policy_of(repository, public)
        await self._store.update_repository(repository.id, **{_policy_column(public): None})
        return policy

    # resource tags

    async def resource_tags(self, account_id: str, name: str) -> dict[str, str]:
        return await self._store.resource_tags((await self.get(account_id, name)).id)

    async def tag(self, account_id: str, name: str, tags: Mapping[str, str]) -> None:
        await self._store.tag_repository((await self.get(account_id, name)).id, tags)

    async def untag(self, account_id: str, name: str, keys: Sequence[str]) -> None:
        await self._store.untag_repository((await self.get(account_id, name)).id, keys)

    # creation templates

    async def matching_template(
        self, account_id: str, name: str, applied_for: str
    ) -> CreationTemplate | None:
        """The template with the longest prefix matching ``name`` (``ROOT`` matches all)."""
        best: CreationTemplate | None = None
        for template in await self._store.creation_templates(account_id):
            if applied_for not in json.loads(template.document).get("appliedFor", ()):
                continue
            prefix = template.prefix
            if (
                prefix == ROOT_PREFIX
                or name == prefix.rstrip("/")
                or name.startswith(prefix.rstrip("/") + "/")
            ):
                rank = -1 if prefix == ROOT_PREFIX else len(prefix)
                if best is None or rank > (-1 if best.prefix == ROOT_PREFIX else len(best.prefix)):
                    best = template
        return best


def _policy_column(public: bool) -> str:
    """ECR Public's policy governs ``ecr-public:`` actions only, so a caller allowed only those
    cannot grant itself ``ecr:`` ones (docs/adr/0004)."""
    return "public_policy" if public else "policy"
