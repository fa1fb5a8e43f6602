"""Marking the hierarchy: a repository's role, and patch policies per repository or prefix.

A role is the repository's resource tag ``strongroom:role`` (so ECR ``TagResource`` sets
it too and ``ListTagsForResource`` reads it). Every change is audited, as the actor who
made it; who may make it was decided before (``strongroom:PutRepositoryRole``,
``strongroom:PutLineagePolicy``, ``strongroom:DeleteLineagePolicy`` on the repository's ARN).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from strongroom.audit.log import AuditEvent, AuditLog, JsonValue
from strongroom.clock import Clock
from strongroom.errors import InvalidRequest, NameUnknown, NotFound
from strongroom.lineage.compliance import PREFIX, REPOSITORY, PatchPolicy
from strongroom.lineage.durations import DurationInvalid, format_duration, parse_duration
from strongroom.lineage.roles import ROLE_TAG, ROLES, role_of
from strongroom.metadata.lineage_policies import SqlLineagePolicyStore, StoredPatchPolicy
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.names import validate_name
from strongroom.registry.pull_policies import Actor

MAX_PREFIX = 256
MAX_ALLOWED_BASES = 50


class LineagePolicyNotFound(NotFound):
    pass


def duration(text: str | None, field: str) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except DurationInvalid as error:
        raise InvalidRequest(f"{field}: {error}") from None


def policy_of(
    scope: str, name: str, *, max_base_age: str | None, max_rebuild_delay: str | None,
    no_inherited_critical: bool, allowed_bases: Sequence[str], enforce: bool,
) -> PatchPolicy:  # fmt: skip
    """A policy from what a person typed, checked."""
    if scope == REPOSITORY:
        validate_name(name)
    elif scope != PREFIX:
        raise InvalidRequest("scope is repository or prefix")
    elif not name or len(name) > MAX_PREFIX:
        raise InvalidRequest(f"a prefix is 1 to {MAX_PREFIX} characters")
    if len(allowed_bases) > MAX_ALLOWED_BASES or not all(
        isinstance(b, str) and 0 < len(b) <= MAX_PREFIX for b in allowed_bases
    ):
        raise InvalidRequest(f"allowedBases is at most {MAX_ALLOWED_BASES} repository names or prefixes*")
    policy = PatchPolicy(
        scope, name, duration(max_base_age, "maxBaseAge"), duration(max_rebuild_delay, "maxRebuildDelay"),
        no_inherited_critical, tuple(allowed_bases), enforce,
    )  # fmt: skip
    if not (policy.max_base_age or policy.max_rebuild_delay or no_inherited_critical or allowed_bases):
        raise InvalidRequest(
            "a patch policy has a rule: maxBaseAge, maxRebuildDelay, noInheritedCritical or allowedBases"
        )
    return policy


def policy_document(stored: StoredPatchPolicy) -> dict[str, Any]:
    policy = stored.policy
    return {
        "scope": policy.scope,
        "name": policy.name,
        "maxBaseAge": format_duration(policy.max_base_age) if policy.max_base_age else None,
        "maxRebuildDelay": format_duration(policy.max_rebuild_delay) if policy.max_rebuild_delay else None,
        "noInheritedCritical": policy.no_inherited_critical,
        "allowedBases": list(policy.allowed_bases),
        "enforce": policy.enforce,
        "updatedBy": stored.updated_by,
        "updatedAt": stored.updated_at.isoformat(),
    }


class LineageSettings:
    def __init__(
        self,
        policies: SqlLineagePolicyStore,
        metadata: SqlMetadataStore,
        repositories: SqlRepositoryStore,
        audit: AuditLog,
        clock: Clock,
        region: str,
    ) -> None:
        self._policies, self._metadata, self._repositories = policies, metadata, repositories
        self._audit, self._clock, self._region = audit, clock, region

    async def set_role(self, account_id: str, name: str, role: str | None, actor: Actor) -> dict[str, Any]:
        """Mark the repository's role (None: no role)."""
        if role is not None and role_of(role) is None:
            raise InvalidRequest(f"role is one of {', '.join(ROLES)} (or none)")
        repository = await self._metadata.get_repository(account_id, name)
        if repository is None:
            raise NameUnknown(f"no repository {name}")
        if role is None:
            await self._repositories.untag_repository(repository.id, [ROLE_TAG])
        else:
            await self._repositories.tag_repository(repository.id, {ROLE_TAG: str(role_of(role))})
        await self._record(actor, "strongroom:PutRepositoryRole", account_id, REPOSITORY, name, role=role)
        return {"registryId": account_id, "repositoryName": name, "role": role_of(role)}

    async def put(self, account_id: str, policy: PatchPolicy, actor: Actor) -> StoredPatchPolicy:
        stored = await self._policies.put(account_id, policy, actor.principal, self._clock.now())
        await self._record(actor, "strongroom:PutLineagePolicy", account_id, policy.scope, policy.name,
                           policy=policy_document(stored))  # fmt: skip
        return stored

    async def delete(self, account_id: str, scope: str, name: str, actor: Actor) -> None:
        if not await self._policies.delete(account_id, scope, name):
            raise LineagePolicyNotFound(f"no patch policy for the {scope} {name!r}")
        await self._record(actor, "strongroom:DeleteLineagePolicy", account_id, scope, name)

    async def list(self, account_id: str) -> list[StoredPatchPolicy]:
        return await self._policies.policies(account_id)

    async def _record(
        self, actor: Actor, action: str, account_id: str, scope: str, name: str, **detail: JsonValue
    ) -> None:
        star = "*" if scope == PREFIX else ""
        resource = f"arn:aws:ecr:{self._region}:{account_id}:repository/{name}{star}"
        event = AuditEvent(
            self._clock.now(), actor.principal, action, resource, actor.source_ip, "allow", detail
        )
        await self._audit.record(event)
