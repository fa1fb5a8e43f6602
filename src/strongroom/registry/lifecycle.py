"""Lifecycle policies of repositories: keeping them, previewing them, applying them.

Deciding is pure (:mod:`strongroom.lifecycle`); this module gathers the facts, stores
the documents, and acts on verdicts. A preview and a run evaluate the same facts the
same way, so what a preview shows is what a run at that moment expires.

Which manifests a policy judges ("images"): every manifest of the repository except

* the children of an index of the repository: they go with their index (deleting one
  would break it); once the index is gone they are untagged images of their own;
* referrers (a signature, an SBOM: a manifest with a ``subject``) whose subject is in
  the repository: they stay while it stays.

Applying deletes each expired image as ``DELETE /v2/<name>/manifests/<digest>`` does,
unless its tags changed since it was judged (then it is left for the next run), and
writes one audit record per deletion with the rule and the reason. Bytes are freed by
garbage collection (:mod:`strongroom.registry.gc`), which the lifecycle job runs next.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from strongroom.audit.log import AuditEvent, AuditLog
from strongroom.errors import ManifestReferenced, ManifestUnknown, NameUnknown, NotFound
from strongroom.lifecycle import (
    ImageFacts,
    LifecyclePolicy,
    LifecyclePolicyInvalid,
    Verdict,
    evaluate,
    normalise,
    parse_lifecycle_policy,
)
from strongroom.metadata.lifecycle import ManifestFacts, SqlLifecycleStore
from strongroom.metadata.outbox import Expiry
from strongroom.metadata.records import Repository
from strongroom.metadata.repositories import LifecyclePreview, SqlRepositoryStore
from strongroom.oci.digest import Digest
from strongroom.oci.names import RepositoryRef
from strongroom.registry.context import RegistryContext
from strongroom.registry.manifests import Manifests, Reference

logger = logging.getLogger("strongroom.lifecycle")

PRINCIPAL = "strongroom:lifecycle"
"""Who the audit log names for deletions by a lifecycle policy (a service, not a user)."""
DELETE_ACTION = "ecr:BatchDeleteImage"
COMPLETE = "COMPLETE"


class LifecyclePolicyNotFound(NotFound):
    def __init__(self, account_id: str, name: str) -> None:
        super().__init__(
            f"Lifecycle policy does not exist for the repository with name '{name}' "
            f"in the registry with id '{account_id}'"
        )


class LifecyclePolicyPreviewNotFound(NotFound):
    def __init__(self, account_id: str, name: str) -> None:
        super().__init__(
            f"Lifecycle policy preview does not exist for the repository with name '{name}' "
            f"in the registry with id '{account_id}'"
        )


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    text: str
    evaluated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Preview:
    policy: str
    status: str
    verdicts: tuple[Verdict, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LifecycleRun:
    """One repository's policy applied (or, with ``dry_run``, only evaluated)."""

    account_id: str
    repository: str
    dry_run: bool
    verdicts: tuple[Verdict, ...]
    expired: tuple[str, ...] = ()
    """Digests deleted."""
    skipped: tuple[str, ...] = ()
    """Digests judged but left: deleted meanwhile, or their tags changed."""

    def as_json(self) -> dict[str, object]:
        return {
            "registry_id": self.account_id,
            "repository": self.repository,
            "dry_run": self.dry_run,
            "images": [
                {**_verdict_json(verdict), "expired": verdict.digest in self.expired}
                for verdict in self.verdicts
            ],
            "skipped": list(self.skipped),
        }


def lifecycle_images(manifests: Sequence[ManifestFacts]) -> list[ImageFacts]:
    """The manifests a policy judges (see the module docstring), as the evaluator needs them."""
    present = {manifest.digest for manifest in manifests}
    return [
        ImageFacts(manifest.digest, manifest.tags, manifest.pushed_at, manifest.last_pulled_at)
        for manifest in manifests
        if not manifest.listed_by_index and manifest.subject_digest not in present
    ]


class Lifecycle:
    def __init__(
        self,
        context: RegistryContext,
        manifests: Manifests,
        store: SqlLifecycleStore,
        repository_store: SqlRepositoryStore,
        audit: AuditLog,
        region: str,
    ) -> None:
        self._context = context
        self._manifests = manifests
        self._store = store
        self._repositories = repository_store
        self._audit = audit
        self._region = region

    # the policy

    async def put_policy(self, account_id: str, name: str, text: str) -> str:
        """Validate and store the policy; returns its normalised text, as stored."""
        normalised = normalise(parse_lifecycle_policy(text))
        repository = await self._repository(account_id, name)
        await self._repositories.update_repository(repository.id, lifecycle_policy=normalised)
        return normalised

    async def policy(self, account_id: str, name: str) -> StoredPolicy:
        repository = await self._repository(account_id, name)
        documents = await self._repositories.repository_documents(repository.id)
        if documents.lifecycle_policy is None:
            raise LifecyclePolicyNotFound(account_id, name)
        return StoredPolicy(documents.lifecycle_policy, documents.lifecycle_evaluated_at)

    async def delete_policy(self, account_id: str, name: str) -> StoredPolicy:
        stored = await self.policy(account_id, name)
        repository = await self._repository(account_id, name)
        await self._repositories.update_repository(repository.id, lifecycle_policy=None)
        return stored

    # previews

    async def start_preview(self, account_id: str, name: str, text: str | None = None) -> Preview:
        """Evaluate ``text`` (default: the stored policy) now; the result is kept as the
        repository's preview, complete at once."""
        if text is None:
            text = (await self.policy(account_id, name)).text
        policy = parse_lifecycle_policy(text)
        repository = await self._repository(account_id, name)
        now = self._context.clock.now()
        preview = Preview(
            normalise(policy), COMPLETE, tuple(await self._evaluate(repository, policy, now)), now
        )
        results = json.dumps([_verdict_json(verdict) for verdict in preview.verdicts])
        await self._repositories.put_lifecycle_preview(
            repository.id, LifecyclePreview(preview.policy, preview.status, results, now)
        )
        return preview

    async def preview(self, account_id: str, name: str) -> Preview:
        repository = await self._repository(account_id, name)
        stored = await self._repositories.lifecycle_preview(repository.id)
        if stored is None:
            raise LifecyclePolicyPreviewNotFound(account_id, name)
        verdicts = tuple(_verdict_from_json(item) for item in json.loads(stored.results or "[]"))
        return Preview(stored.policy, stored.status, verdicts, stored.created_at)

    # runs

    async def run(
        self, repository: RepositoryRef | None = None, *, dry_run: bool = False
    ) -> list[LifecycleRun]:
        """Apply the policy of one repository, or of every repository that has one."""
        if repository is not None:
            stored = await self.policy(repository.account_id, repository.name)
            found = await self._repository(repository.account_id, repository.name)
            return [await self._apply(found, parse_lifecycle_policy(stored.text), dry_run=dry_run)]
        runs: list[LifecycleRun] = []
        for found in await self._repositories.repositories_with_lifecycle_policies():
            policy = await self._stored_policy(found)
            if policy is not None:
                runs.append(await self._apply(found, policy, dry_run=dry_run))
        return runs

    async def run_due(self, interval: timedelta) -> list[LifecycleRun]:
        """Apply every policy not evaluated within ``interval``. Each repository is
        claimed first, so workers and hosts running this together apply it once."""
        runs: list[LifecycleRun] = []
        for found in await self._repositories.repositories_with_lifecycle_policies():
            now = self._context.clock.now()
            if not await self._store.claim_evaluation(found.id, now, unless_since=now - interval):
                continue
            policy = await self._stored_policy(found)
            if policy is not None:
                runs.append(await self._apply(found, policy, dry_run=False))
        return runs

    async def _apply(self, repository: Repository, policy: LifecyclePolicy, *, dry_run: bool) -> LifecycleRun:
        now = self._context.clock.now()
        verdicts = tuple(await self._evaluate(repository, policy, now))
        run = LifecycleRun(repository.account_id, repository.name, dry_run, verdicts)
        if dry_run:
            return run
        ref = RepositoryRef(
            repository.account_id, repository.name, f"{repository.account_id}/{repository.name}"
        )
        expired: list[str] = []
        skipped: list[str] = []
        for verdict in verdicts:
            if await self._expire(repository, ref, verdict):
                expired.append(verdict.digest)
            else:
                skipped.append(verdict.digest)
        await self._store.mark_evaluated(repository.id, now)
        return LifecycleRun(
            repository.account_id, repository.name, False, verdicts, tuple(expired), tuple(skipped)
        )

    async def _expire(self, repository: Repository, ref: RepositoryRef, verdict: Verdict) -> bool:
        current = await self._store.tags_of(repository.id, verdict.digest)
        if current is None or set(current) != set(verdict.tags):
            return False
        try:
            await self._manifests.delete(
                ref,
                Reference(None, Digest.parse(verdict.digest)),
                expiry=Expiry(verdict.rule_priority, verdict.reason),
            )
        except (ManifestUnknown, ManifestReferenced):  # deleted meanwhile, or an index lists it
            return False
        event = AuditEvent(
            time=self._context.clock.now(),
            principal=PRINCIPAL,
            action=DELETE_ACTION,
            resource=ref.arn(self._region),
            source_ip=None,
            decision="allow",
            detail={
                "digest": verdict.digest,
                "tags": list(verdict.tags),
                "rule_priority": verdict.rule_priority,
                "reason": verdict.reason,
            },
        )
        try:
            await self._audit.record(event)
        except Exception:  # the image is gone; a lost audit record must be loud
            logger.exception("could not record the lifecycle deletion of %s", verdict.digest)
        logger.info("lifecycle expired %s in %s: %s", verdict.digest, ref.path, verdict.reason)
        return True

    async def _evaluate(
        self, repository: Repository, policy: LifecyclePolicy, now: datetime
    ) -> list[Verdict]:
        facts = await self._store.manifest_facts(repository.id)
        return evaluate(policy, lifecycle_images(facts), now)

    async def _stored_policy(self, repository: Repository) -> LifecyclePolicy | None:
        """The stored policy; None (logged) when unreadable, e.g. set by a creation
        template before policies were validated."""
        text = (await self._repositories.repository_documents(repository.id)).lifecycle_policy
        if text is None:
            return None
        try:
            return parse_lifecycle_policy(text)
        except LifecyclePolicyInvalid as error:
            logger.warning("skipping the lifecycle policy of %s/%s: %s", repository.account_id,
                           repository.name, error)  # fmt: skip
            return None

    async def _repository(self, account_id: str, name: str) -> Repository:
        repository = await self._context.metadata.get_repository(account_id, name)
        if repository is None:
            raise NameUnknown(name)
        return repository


def _verdict_json(verdict: Verdict) -> dict[str, object]:
    return {
        "digest": verdict.digest,
        "tags": list(verdict.tags),
        "pushed_at": verdict.pushed_at.isoformat(),
        "action": verdict.action,
        "rule_priority": verdict.rule_priority,
        "reason": verdict.reason,
    }


def _verdict_from_json(item: dict[str, Any]) -> Verdict:
    return Verdict(
        digest=item["digest"],
        tags=tuple(item["tags"]),
        pushed_at=datetime.fromisoformat(item["pushed_at"]),
        action="EXPIRE",
        rule_priority=item["rule_priority"],
        reason=item["reason"],
    )
