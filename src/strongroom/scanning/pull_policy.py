"""Whether a pull may go ahead: the pull gate's decision, pure (no I/O, ``now`` given).

The gate (:mod:`strongroom.registry.pull_gate`) gathers the facts — the pull policy that
applies, the image's last scan status, its open findings, the accepted risks of its
repository — and asks :func:`decide`. The decision is made by *rules*: each looks at the
facts and names what it refuses, so a refusal always says which rule and which findings
decided it. A policy turns into rules (:func:`rules_of`); another concern (lineage: a base
image too old) adds its own rule to the same list, and the gate stays one evaluator.

Accepted risks waive findings, never a missing scan: an entry matches a finding by its
name (a CVE id, a model rule), any of its aliases, or its key, in the entry's repository,
for every image or one digest, until it expires (``now >= expires_at`` is expired).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from strongroom.analysis.severity import Severity

COMPLETE = "COMPLETE"
VULNERABILITY = "vulnerability"
MODEL = "model"
MAX_NAMED = 10
"""Findings a refusal message names before it says how many more there are."""


@dataclass(frozen=True, slots=True)
class PullPolicy:
    """What a repository (or every repository under a prefix) refuses to serve."""

    max_severity: Severity | None = None
    """Refuse an image with an open vulnerability of this severity or higher."""
    unsafe_model_severity: Severity | None = None
    """Refuse an image with a model-file finding of this severity or higher."""
    block_unscanned: bool = False
    """Refuse an image whose last scan is not COMPLETE (none, PENDING, FAILED, …)."""


@dataclass(frozen=True, slots=True)
class FindingFacts:
    key: str
    kind: str
    """``vulnerability`` or ``model``."""
    name: str
    severity: Severity
    aliases: tuple[str, ...] = ()
    subject: str = ""
    """What it was found in, for the message: ``openssl 3.0.1`` or a file path."""

    def __str__(self) -> str:
        about = f", {self.subject}" if self.subject else ""
        return f"{self.name} ({self.severity}{about})"


@dataclass(frozen=True, slots=True)
class AcceptedRisk:
    finding_id: str
    expires_at: datetime
    image_digest: str | None = None
    """Only this image; None for every image of the repository."""

    def covers(self, finding: FindingFacts, digest: str, now: datetime) -> bool:
        if now >= self.expires_at:
            return False
        if self.image_digest is not None and self.image_digest != digest:
            return False
        return self.finding_id in (finding.name, finding.key, *finding.aliases)


@dataclass(frozen=True, slots=True)
class PullFacts:
    digest: str
    scan_status: str | None
    """The last scan's status; None when the image was never scanned."""
    findings: Sequence[FindingFacts]
    accepted: Sequence[AcceptedRisk] = ()
    now: datetime | None = None

    def open_findings(self) -> list[FindingFacts]:
        """The findings no active accepted risk covers."""
        now = self.now
        if now is None or not self.accepted:
            return list(self.findings)
        return [
            finding
            for finding in self.findings
            if not any(entry.covers(finding, self.digest, now) for entry in self.accepted)
        ]


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    """The rule's name, e.g. ``max-severity``."""
    reason: str
    findings: tuple[FindingFacts, ...] = ()


class PullRule(Protocol):
    @property
    def name(self) -> str: ...

    def refuses(self, facts: PullFacts, open_findings: Sequence[FindingFacts]) -> Refusal | None: ...


@dataclass(frozen=True, slots=True)
class FindingsAtOrAbove:
    """Open findings of one kind at or above a severity."""

    name: str
    kind: str
    threshold: Severity

    def refuses(self, facts: PullFacts, open_findings: Sequence[FindingFacts]) -> Refusal | None:
        found = tuple(
            finding
            for finding in open_findings
            if finding.kind == self.kind and finding.severity.rank >= self.threshold.rank
        )
        if not found:
            return None
        found = tuple(sorted(found, key=lambda f: (-f.severity.rank, f.name, f.key)))
        return Refusal(self.name, f"{len(found)} finding(s) at {self.threshold} or above", found)


@dataclass(frozen=True, slots=True)
class ScanComplete:
    name: str = "block-unscanned"

    def refuses(self, facts: PullFacts, open_findings: Sequence[FindingFacts]) -> Refusal | None:
        if facts.scan_status == COMPLETE:
            return None
        status = facts.scan_status or "never scanned"
        return Refusal(self.name, f"the image has no complete scan (status: {status})")


@dataclass(frozen=True, slots=True)
class Stated:
    """A refusal another concern decided from its own facts (lineage: a base too old, an
    unapproved base), added to the gate's rules so one evaluator answers."""

    refusal: Refusal

    @property
    def name(self) -> str:
        return self.refusal.rule

    def refuses(self, facts: PullFacts, open_findings: Sequence[FindingFacts]) -> Refusal | None:
        return self.refusal


def rules_of(policy: PullPolicy) -> list[PullRule]:
    rules: list[PullRule] = []
    if policy.block_unscanned:
        rules.append(ScanComplete())
    if policy.max_severity is not None:
        rules.append(FindingsAtOrAbove("max-severity", VULNERABILITY, policy.max_severity))
    if policy.unsafe_model_severity is not None:
        rules.append(FindingsAtOrAbove("unsafe-models", MODEL, policy.unsafe_model_severity))
    return rules


@dataclass(frozen=True, slots=True)
class PullDecision:
    allowed: bool
    refusals: tuple[Refusal, ...] = ()
    waived: tuple[FindingFacts, ...] = field(default=())
    """Findings a rule would have refused but an accepted risk covers."""

    @property
    def findings(self) -> tuple[FindingFacts, ...]:
        return tuple(finding for refusal in self.refusals for finding in refusal.findings)

    def message(self, refused: str = "pull refused by pull policy") -> str:
        """What the client shows: the rules and the findings that decided, most severe first."""
        parts = []
        for refusal in self.refusals:
            if not refusal.findings:
                parts.append(f"{refusal.rule}: {refusal.reason}")
                continue
            named = ", ".join(str(finding) for finding in refusal.findings[:MAX_NAMED])
            more = len(refusal.findings) - MAX_NAMED
            parts.append(f"{refusal.rule}: {named}" + (f" and {more} more" if more > 0 else ""))
        return f"{refused}: " + "; ".join(parts)


ALLOW = PullDecision(True)


def decide(rules: Collection[PullRule], facts: PullFacts) -> PullDecision:
    """Allowed unless some rule refuses; every refusing rule is named."""
    if not rules:
        return ALLOW
    open_findings = facts.open_findings()
    refusals = tuple(r for rule in rules if (r := rule.refuses(facts, open_findings)) is not None)
    if refusals:
        return PullDecision(False, refusals)
    waived: tuple[FindingFacts, ...] = ()
    if len(open_findings) != len(facts.findings):
        everything = tuple(r for rule in rules if (r := rule.refuses(facts, facts.findings)) is not None)
        waived = tuple(finding for refusal in everything for finding in refusal.findings)
    return PullDecision(True, (), waived)
