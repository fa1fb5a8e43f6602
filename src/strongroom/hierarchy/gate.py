"""Lineage's rules in the one pull gate (:class:`strongroom.registry.pull_gate.LineageRules`),
at a pull and at a push.

- **Pull**: the image's recorded lineage against the enforced patch policy that applies
  (:meth:`LineageViews.refusals`).
- **Push** (a manifest PUT or an ECR ``PutImage`` of a container image, before anything
  is stored): what the ``lineage.detect`` job *would* record as the image's parent (its
  base annotations, else the longest stored layer chain by diff id: one config read and
  one indexed lookup, :meth:`LineageDetector.parent_of`), and that parent's recorded
  ancestry, against the same policy and the same rules. Judged on what is stored when the
  push arrives: a base pushed later is not known yet, and a dependent recorded before its
  base is not re-judged (the pull gate judges it at every pull). Indexes, referrers,
  artifacts and the registry's own pushes are not judged (their platform manifests were).

An account without an enforced patch policy that applies pays one small query per push.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from strongroom.hierarchy.detection import LineageDetector
from strongroom.hierarchy.views import LineageViews
from strongroom.lineage.compliance import PatchPolicy, applicable, evaluate
from strongroom.metadata.lineage_policies import SqlLineagePolicyStore
from strongroom.metadata.lineage_reads import ImageRecord, LineageRow
from strongroom.oci.names import RepositoryRef
from strongroom.scanning.pull_policy import Refusal


class LineageGate:
    def __init__(
        self, views: LineageViews, detector: LineageDetector, policies: SqlLineagePolicyStore
    ) -> None:
        self._views, self._detector, self._policies = views, detector, policies

    async def refusals(
        self, ref: RepositoryRef, repository_id: int, digest: str, now: datetime
    ) -> tuple[Refusal, ...]:
        return await self._views.refusals(ref, repository_id, digest, now)

    async def push_refusals(
        self, ref: RepositoryRef, repository_id: int, digest: str, media_type: str, content: bytes,
        annotations: Mapping[str, object], now: datetime,
    ) -> tuple[Refusal, ...]:  # fmt: skip
        """What the enforced patch policy that applies refuses of an image about to be
        stored (empty: nothing, or no enforced policy)."""
        policy = await self._enforced(ref)
        if policy is None:
            return ()
        clean = {str(k): v for k, v in annotations.items() if isinstance(v, str)}
        image = ImageRecord(repository_id, ref.account_id, ref.name, digest, media_type, content, clean, now)
        found = await self._detector.parent_of(image)
        if found is None:
            return ()  # not a container image
        layer_count, parent = found
        row = LineageRow(
            repository_id, digest, layer_count, None, None, None, None, None, None, None, now, now,
            account_id=ref.account_id, repository=ref.name,
        )  # fmt: skip
        if parent is not None:
            row = replace(row, **parent)
        ancestors = await self._views.ancestors(row, policy.no_inherited_critical)
        return tuple(Refusal(f"lineage-{v.rule}", v.message) for v in evaluate(ancestors, policy, now))

    async def _enforced(self, ref: RepositoryRef) -> PatchPolicy | None:
        policies = [stored.policy for stored in await self._policies.policies(ref.account_id)]
        policy = applicable(policies, ref.name)
        return policy if policy is not None and policy.enforce else None
