"""Reading lineage: an image's ancestry, what is built on it, and the patch report.

Reading the lineage of a repository needs what reading its images needs: the policy
engine must allow the caller ``ecr:DescribeImages`` on it (identity and repository
policies, across accounts). A caller is shown only repositories it may read: an ancestry
stops below the first ancestor it may not read, a search for dependents neither shows
nor walks through a repository it may not read, and the report lists only its images.
The local operator (``principal`` None) reads everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from strongroom.auth.authorizer import AccessRequest, Authorizer
from strongroom.auth.principals import Principal
from strongroom.clock import Clock
from strongroom.errors import InvalidRequest, ManifestUnknown, NameUnknown
from strongroom.lineage.chains import DIGESTS
from strongroom.lineage.compliance import Ancestor, applicable, evaluate
from strongroom.metadata.lineage import SqlLineageStore
from strongroom.metadata.lineage_policies import SqlLineagePolicyStore
from strongroom.metadata.lineage_reads import LineageRow, TagState
from strongroom.oci.names import RepositoryRef
from strongroom.scanning.pull_policy import Refusal

DESCRIBE_IMAGES = "ecr:DescribeImages"
MAX_DEPTH = 16
"""The most generations walked up or down (real hierarchies have four or five)."""


@dataclass(frozen=True)
class Caller:
    principal: Principal | None
    """None: the local operator, who reads everything."""
    context: Mapping[str, str | list[str]]


class _Readable:
    """Which repositories the caller may read, one policy decision per repository."""

    def __init__(self, authorizer: Authorizer, region: str, caller: Caller) -> None:
        self._authorizer, self._region, self._caller = authorizer, region, caller
        self._decided: dict[tuple[str, str], bool] = {}

    async def __call__(self, account_id: str, name: str) -> bool:
        if self._caller.principal is None:
            return True
        key = (account_id, name)
        if key not in self._decided:
            arn = RepositoryRef(account_id, name, name).arn(self._region)
            request = AccessRequest(self._caller.principal, DESCRIBE_IMAGES, arn, self._caller.context)
            self._decided[key] = (await self._authorizer.decide(request)).allowed
        return self._decided[key]


class _Reads:
    """The rows and tag states one request reads, each once: the report's images share a
    few hundred parents, whose rows and tags need not be read again per image."""

    def __init__(self, store: SqlLineageStore) -> None:
        self._store = store
        self._rows: dict[tuple[int, str], LineageRow | None] = {}
        self._tags: dict[tuple[int, str], TagState | None] = {}

    async def row(self, repository_id: int, digest: str) -> LineageRow | None:
        key = (repository_id, digest)
        if key not in self._rows:
            self._rows[key] = await self._store.row(repository_id, digest)
        return self._rows[key]

    async def tag_state(self, repository_id: int, tag: str) -> TagState | None:
        key = (repository_id, tag)
        if key not in self._tags:
            self._tags[key] = await self._store.tag_state(repository_id, tag)
        return self._tags[key]


class LineageViews:
    def __init__(
        self,
        store: SqlLineageStore,
        policies: SqlLineagePolicyStore,
        authorizer: Authorizer,
        clock: Clock,
        region: str,
    ) -> None:
        self._store, self._policies, self._authorizer = store, policies, authorizer
        self._clock, self._region = clock, region

    async def show(self, caller: Caller, ref: RepositoryRef, reference: str) -> dict[str, Any]:
        """The image's ancestry, root first and the image last (per platform for an index).
        The caller was authorized on ``ref`` before."""
        readable = _Readable(self._authorizer, self._region, caller)
        repository_id, digest, platforms = await self._resolve(ref, reference)
        shown = []
        for platform, platform_digest in platforms:
            chain = [await self._node(repository_id, platform_digest, ref.account_id, ref.name, None)]
            row = await self._store.row(repository_id, platform_digest)
            for _ in range(MAX_DEPTH):
                if row is None or row.parent_digest is None:
                    break
                if row.parent_repository_id is None:  # outside this registry: by name only
                    chain.append({"repositoryName": row.parent_name, "imageDigest": row.parent_digest,
                                  "tag": row.parent_tag, "external": True})  # fmt: skip
                    break
                account, name = str(row.parent_account_id), str(row.parent_name)
                if not await readable(account, name):
                    break
                chain.append(
                    await self._node(
                        row.parent_repository_id, row.parent_digest, account, name, row.parent_tag
                    )
                )
                chain[-2]["builtOnBy"] = row.method
                row = await self._store.row(row.parent_repository_id, row.parent_digest)
            shown.append({"platform": platform, "imageDigest": platform_digest, "ancestry": chain[::-1]})
        return {"registryId": ref.account_id, "repositoryName": ref.name, "imageDigest": digest,
                "platforms": shown}  # fmt: skip

    async def dependents(self, caller: Caller, ref: RepositoryRef, reference: str) -> dict[str, Any]:
        """Every image built on the image, generation by generation, in repositories the
        caller may read."""
        readable = _Readable(self._authorizer, self._region, caller)
        repository_id, digest, platforms = await self._resolve(ref, reference)
        frontier = {(repository_id, d) for _, d in platforms}
        seen = set(frontier)
        found: list[dict[str, Any]] = []
        for depth in range(1, MAX_DEPTH + 1):
            rows = [
                r for r in await self._store.built_on(frontier) if (r.repository_id, r.digest) not in seen
            ]
            frontier = set()
            for row in sorted(rows, key=lambda r: (r.account_id, r.repository, r.digest)):
                if not await readable(row.account_id, row.repository):
                    continue
                seen.add((row.repository_id, row.digest))
                frontier.add((row.repository_id, row.digest))
                found.append(await self._dependent(row, depth))
            if not frontier:
                break
        return {"registryId": ref.account_id, "repositoryName": ref.name, "imageDigest": digest,
                "dependents": found}  # fmt: skip

    async def report(
        self, caller: Caller, *, after: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """Every tagged image the caller may read that breaks the patch policy that applies
        to it, with each violation's rule and reason. Paged by the images *examined*, in
        (account, repository, digest) order: ``limit`` of them after the ``nextToken``
        ``after`` (a page may list fewer, even none; ``nextToken`` says there is more).
        A page costs a bounded number of set-based reads plus one per distinct ancestor."""
        position = _position(after)
        readable = _Readable(self._authorizer, self._region, caller)
        allowed = [r for r in await self._store.repositories() if await readable(r.account_id, r.name)]
        policies: dict[str, list[Any]] = {}
        memos: dict[tuple[str, bool], dict[tuple[int, str], list[Ancestor]]] = {}
        reads, now = _Reads(self._store), self._clock.now()
        rows = await self._store.tagged_rows(
            [r.id for r in allowed], after=position, limit=None if limit is None else limit + 1
        )
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        tags = await self._store.tags_for([(row.repository_id, row.digest) for row in rows])
        images = []
        for row in rows:
            if row.account_id not in policies:
                policies[row.account_id] = [p.policy for p in await self._policies.policies(row.account_id)]
            policy = applicable(policies[row.account_id], row.repository)
            if policy is None:
                continue
            memo = memos.setdefault((row.account_id, policy.no_inherited_critical), {})
            found = await self.ancestors(row, policy.no_inherited_critical, memo, reads=reads)
            violations = evaluate(found, policy, now)
            if violations:
                images.append({
                    "registryId": row.account_id, "repositoryName": row.repository, "imageDigest": row.digest,
                    "imageTags": tags.get((row.repository_id, row.digest), []),
                    "policy": {"scope": policy.scope, "name": policy.name},
                    "violations": [{"rule": v.rule, "message": v.message} for v in violations],
                })  # fmt: skip
        result: dict[str, Any] = {"images": images, "checkedAt": now.isoformat()}
        if more:
            last = rows[-1]
            result["nextToken"] = f"{last.account_id}/{last.repository}@{last.digest}"
        return result

    async def refusals(
        self, ref: RepositoryRef, repository_id: int, digest: str, now: datetime
    ) -> tuple[Refusal, ...]:
        """The pull gate's lineage rules (:class:`strongroom.registry.pull_gate.LineageRules`):
        what the patch policy that applies refuses of the image, when it is enforced. An
        image whose lineage is not recorded (yet, or not a container image) is not refused."""
        policies = [stored.policy for stored in await self._policies.policies(ref.account_id)]
        policy = applicable(policies, ref.name)
        if policy is None or not policy.enforce:
            return ()
        row = await self._store.row(repository_id, digest)
        if row is None:
            return ()
        violations = evaluate(await self.ancestors(row, policy.no_inherited_critical), policy, now)
        return tuple(Refusal(f"lineage-{v.rule}", v.message) for v in violations)

    async def ancestors(
        self, row: LineageRow, findings: bool, memo: dict[tuple[int, str], list[Ancestor]] | None = None,
        depth: int = 0, viewer: str | None = None, reads: _Reads | None = None,
    ) -> list[Ancestor]:  # fmt: skip
        """What the image is built on, its parent first, as the compliance rules read it.
        ``memo`` (one per account and ``findings``) keeps each image's ancestors for the next
        image built on the same ones: a report reads a framework's ancestry once for all its
        applications. At most :data:`MAX_DEPTH` generations (annotations could loop)."""
        memo = {} if memo is None else memo
        reads = _Reads(self._store) if reads is None else reads
        viewer = viewer or row.account_id
        key = (row.repository_id, row.digest)
        if key in memo:
            return memo[key]
        found: list[Ancestor] = []
        if row.parent_digest is not None and depth < MAX_DEPTH:
            if row.parent_repository_id is None:
                found = [Ancestor(str(row.parent_name), None, row.parent_digest, row.parent_tag, None)]
            else:
                parent = await reads.row(row.parent_repository_id, row.parent_digest)
                found = [await self._ancestor(row, parent, viewer, findings, reads)]
                if parent is not None:
                    found += await self.ancestors(parent, findings, memo, depth + 1, viewer, reads)
        memo[key] = found
        return found

    async def _ancestor(
        self, child: LineageRow, parent: LineageRow | None, account_id: str, findings: bool, reads: _Reads
    ) -> Ancestor:
        assert child.parent_repository_id is not None
        assert child.parent_digest is not None
        repository_id, digest = child.parent_repository_id, child.parent_digest
        name = str(child.parent_name)
        shown = name if child.parent_account_id == account_id else f"{child.parent_account_id}/{name}"
        current = moved_at = None
        state = await reads.tag_state(repository_id, child.parent_tag) if child.parent_tag else None
        if state is not None:
            current = digest if digest in (state.digest, *state.children) else state.digest
            moved_at = state.updated_at
        fixable: set[str] = set()
        fixed: set[str] = set()
        if findings:
            fixable = await self._store.fixable_critical(repository_id, [digest])
            if fixable and state is not None and current != digest:
                now_open = await self._store.vulnerability_names(
                    repository_id, [state.digest, *state.children]
                )
                fixed = fixable - now_open if now_open is not None else set()
        return Ancestor(
            shown, name, digest, child.parent_tag, parent.pushed_at if parent else None, current, moved_at,
            tuple(sorted(fixable)), tuple(sorted(fixed)),
        )  # fmt: skip

    async def _resolve(
        self, ref: RepositoryRef, reference: str
    ) -> tuple[int, str, list[tuple[str | None, str]]]:
        """The repository id, the digest, and each (platform, manifest digest) it stands for."""
        is_digest = ":" in reference
        found = await self._store.manifest_in(
            ref.account_id,
            ref.name,
            tag=None if is_digest else reference,
            digest=reference if is_digest else None,
        )
        if found is None:
            if await self._store.repository_id(ref.account_id, ref.name) is None:
                raise NameUnknown(f"no repository {ref.name}")
            raise ManifestUnknown(f"no image {ref.name}:{reference}")
        repository_id, digest = found
        image = await self._store.image(ref.account_id, ref.name, digest)
        return repository_id, digest, _platforms(digest, image.content if image else b"")

    async def _node(
        self, repository_id: int, digest: str, account_id: str, name: str, tag: str | None
    ) -> dict[str, Any]:
        row = await self._store.row(repository_id, digest)
        tags = await self._store.tags_of(repository_id, digest)
        return {
            "registryId": account_id, "repositoryName": name, "imageDigest": digest,
            "tag": tag or (tags[0] if tags else None), "imageTags": tags,
            "role": await self._role(account_id, name),
            "pushedAt": row.pushed_at.isoformat() if row else None, "builtOnBy": None,
            "layersComparedBy": (row.layers_by or DIGESTS) if row else None,
        }  # fmt: skip

    async def _dependent(self, row: LineageRow, depth: int) -> dict[str, Any]:
        return {
            "registryId": row.account_id, "repositoryName": row.repository, "imageDigest": row.digest,
            "imageTags": await self._store.tags_of(row.repository_id, row.digest), "depth": depth,
            "role": await self._role(row.account_id, row.repository),
            "builtOn": {"repositoryName": row.parent_name, "imageDigest": row.parent_digest,
                        "tag": row.parent_tag},
            "builtOnBy": row.method,
        }  # fmt: skip

    async def _role(self, account_id: str, name: str) -> str | None:
        return (await self._store.roles(account_id, [name])).get(name)


def _platforms(digest: str, content: bytes) -> list[tuple[str | None, str]]:
    """An index's platform manifests with their platforms; an image stands for itself."""
    try:
        document: Any = json.loads(content)
        manifests = document.get("manifests") if isinstance(document, dict) else None
    except ValueError:
        manifests = None
    if not isinstance(manifests, list):
        return [(None, digest)]
    found: list[tuple[str | None, str]] = []
    for entry in manifests:
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            continue
        given = entry.get("platform")
        platform: dict[str, Any] = given if isinstance(given, dict) else {}
        parts = [str(platform.get(k)) for k in ("os", "architecture", "variant") if platform.get(k)]
        found.append(("/".join(parts) or None, entry["digest"]))
    return found or [(None, digest)]


def _position(token: str | None) -> tuple[str, str, str] | None:
    """A report's ``nextToken`` (``<account>/<repository>@<digest>``, the last image the
    previous page examined) as a position; ``InvalidRequest`` when it is not one."""
    if token is None:
        return None
    account, slash, rest = token.partition("/")
    repository, at, digest = rest.rpartition("@")
    if not (slash and at and len(account) == 12 and account.isdigit() and repository and ":" in digest):
        raise InvalidRequest("invalid nextToken")
    return account, repository, digest
