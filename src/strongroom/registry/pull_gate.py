"""The pull gate: the one place that may refuse a pull that authorization allowed.

Both front doors fetch a manifest for a pull through :meth:`Manifests.get` (an OCI
``GET /v2/<name>/manifests/<ref>``, an ECR ``BatchGetImage``), and that calls
:meth:`PullGate.check` after authorization, when the statement that found the manifest
said its account has a pull policy at all; an account without one pays nothing more.

The gate picks the policy that applies — the repository's own, else the longest prefix
that covers its name — turns it into rules (:func:`rules_of`), gathers the facts (the
image's last scan, its open findings, the repository's accepted risks that have not
expired) and asks the pure :func:`decide`. A refusal is audited and raised as
:class:`PullRefused` (OCI ``DENIED``; an ECR failure); a pull that went ahead only because
a risk was accepted is audited too, naming the findings waived. Other concerns add their
rules to the list the policy gives, and the gate stays one evaluator: lineage's patch
policies marked ``enforce`` (:class:`LineageRules`, docs/adr/0021) refuse an image built on
an unapproved base or on one past its age, named ``lineage-<rule>``.

The same gate judges a push (:meth:`PullGate.check_push`, called by :meth:`Manifests.put`
before anything is stored): the rules that can be judged before an image exists — today
lineage's, on what the image would be recorded as built on — through the same
:func:`decide`, audited the same way, refused as :class:`PushRefused` (OCI ``DENIED``).
Scan rules are not judged at push: the image has not been scanned yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from strongroom.analysis.severity import Severity
from strongroom.audit.log import AuditEvent, AuditLog, JsonValue
from strongroom.auth.actions import Action
from strongroom.clock import Clock
from strongroom.errors import AccessDenied
from strongroom.metadata.pull_policies import REPOSITORY, SqlPullPolicyStore, StoredPullPolicy
from strongroom.metadata.scans import StoredFinding
from strongroom.oci.names import RepositoryRef
from strongroom.scanning.pull_policy import (
    AcceptedRisk,
    FindingFacts,
    PullDecision,
    PullFacts,
    PullPolicy,
    PullRule,
    Refusal,
    Stated,
    decide,
    rules_of,
)

MAX_FINDINGS = 20_000
"""Open findings the gate reads of one image (in key order); an image with more is judged
on these, which an image that large is refused on anyway in practice."""
GATE = "pull-gate"
PUSH_REFUSED = "push refused by patch policy"


@dataclass(frozen=True, slots=True)
class Puller:
    """Who pulls, for the audit log."""

    principal: str
    source_ip: str | None
    region: str
    action: str = Action.BATCH_GET_IMAGE


class PullRefused(AccessDenied):
    """The pull gate refused the pull: its message names the rules and the findings."""

    def __init__(self, decision: PullDecision) -> None:
        super().__init__(decision.message())
        self.decision = decision


class PushRefused(AccessDenied):
    """The gate refused a push: its message names the rules."""

    def __init__(self, decision: PullDecision) -> None:
        super().__init__(decision.message(PUSH_REFUSED))
        self.decision = decision


def policy_of(stored: StoredPullPolicy) -> PullPolicy:
    return PullPolicy(
        Severity(stored.max_severity) if stored.max_severity else None,
        Severity(stored.unsafe_model_severity) if stored.unsafe_model_severity else None,
        stored.block_unscanned,
    )


def most_specific(policies: Sequence[StoredPullPolicy]) -> StoredPullPolicy | None:
    """The repository's own policy, else the longest prefix; policies never merge."""
    own = [policy for policy in policies if policy.scope == REPOSITORY]
    if own:
        return own[0]
    return max(policies, key=lambda policy: len(policy.name), default=None)


def facts_of(finding: StoredFinding) -> FindingFacts:
    document = finding.document
    if finding.kind == "model":
        subject = str(document.get("path") or "")
    else:
        subject = " ".join(
            str(document[key]) for key in ("package_name", "package_version") if document.get(key)
        )
    aliases = tuple(str(alias) for alias in document.get("aliases") or ())
    return FindingFacts(
        finding.key, finding.kind, finding.name, _severity(finding.severity), aliases, subject
    )


def _severity(text: str) -> Severity:
    try:
        return Severity(text)
    except ValueError:
        return Severity.UNDEFINED


class LineageRules(Protocol):
    async def refusals(
        self, ref: RepositoryRef, repository_id: int, digest: str, now: datetime
    ) -> tuple[Refusal, ...]:
        """What an enforced patch policy refuses of the image (empty: nothing)."""
        ...

    async def push_refusals(
        self, ref: RepositoryRef, repository_id: int, digest: str, media_type: str, content: bytes,
        annotations: Mapping[str, object], now: datetime,
    ) -> tuple[Refusal, ...]:  # fmt: skip
        """What an enforced patch policy refuses of an image about to be stored."""
        ...


class PullGate:
    def __init__(
        self, policies: SqlPullPolicyStore, audit: AuditLog, clock: Clock, lineage: LineageRules | None = None
    ) -> None:
        self._policies = policies
        self._audit = audit
        self._clock = clock
        self._lineage = lineage

    async def check(self, ref: RepositoryRef, repository_id: int, digest: str, puller: Puller) -> None:
        """Return when the pull may go ahead; raise :class:`PullRefused` when it may not."""
        now = self._clock.now()
        gathered = await self._policies.gate_facts(
            ref.account_id, ref.name, repository_id, digest, now, MAX_FINDINGS
        )
        stored = most_specific(gathered.policies)
        rules: list[PullRule] = [] if stored is None else rules_of(policy_of(stored))
        if self._lineage is not None:
            lineage = await self._lineage.refusals(ref, repository_id, digest, now)
            rules += [Stated(refusal) for refusal in lineage]
        if not rules:
            return
        facts = PullFacts(
            digest,
            gathered.scan_status,
            [facts_of(finding) for finding in gathered.findings],
            [
                AcceptedRisk(entry.finding_id, entry.expires_at, entry.image_digest)
                for entry in gathered.accepted
            ],
            now,
        )
        decision = decide(rules, facts)
        if decision.allowed and not decision.waived:
            return
        await self._record(ref, digest, puller, decision, stored, now, decision.message())
        if not decision.allowed:
            raise PullRefused(decision)

    async def check_push(
        self, ref: RepositoryRef, repository_id: int, digest: str, media_type: str, content: bytes,
        annotations: Mapping[str, object], pusher: Puller,
    ) -> None:  # fmt: skip
        """Return when the image manifest may be stored; raise :class:`PushRefused` when a
        rule judged at push refuses it (audited as a denial of ``pusher``'s action)."""
        if self._lineage is None:
            return
        now = self._clock.now()
        refusals = await self._lineage.push_refusals(
            ref, repository_id, digest, media_type, content, annotations, now
        )
        decision = decide([Stated(refusal) for refusal in refusals], PullFacts(digest, None, (), (), now))
        if decision.allowed:
            return
        await self._record(ref, digest, pusher, decision, None, now, decision.message(PUSH_REFUSED))
        raise PushRefused(decision)

    async def _record(
        self, ref: RepositoryRef, digest: str, puller: Puller, decision: PullDecision,
        stored: StoredPullPolicy | None, now: datetime, message: str,
    ) -> None:  # fmt: skip
        detail: dict[str, JsonValue] = {
            "refusedBy": GATE if not decision.allowed else None,
            "policy": None if stored is None else {"scope": stored.scope, "name": stored.name},
            "imageDigest": digest,
        }
        if decision.allowed:
            detail["acceptedRisks"] = [str(finding) for finding in decision.waived]
        else:
            detail["message"] = message
            detail["rules"] = [refusal.rule for refusal in decision.refusals]
            detail["findings"] = [finding.name for finding in decision.findings[:100]]
        await self._audit.record(
            AuditEvent(
                now,
                puller.principal,
                puller.action,
                ref.arn(puller.region),
                puller.source_ip,
                "allow" if decision.allowed else "deny",
                {key: value for key, value in detail.items() if value is not None},
            )
        )
