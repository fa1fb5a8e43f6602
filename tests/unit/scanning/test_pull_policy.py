"""The pull gate's decision, row by row: each row is a policy, an image's scan status and
findings, the accepted risks and the time, and what the gate must answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from strongroom.analysis.severity import Severity
from strongroom.scanning.pull_policy import (
    AcceptedRisk,
    FindingFacts,
    PullFacts,
    PullPolicy,
    decide,
    rules_of,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64

CRIT = FindingFacts(
    "k1", "vulnerability", "CVE-2024-0001", Severity.CRITICAL, ("GHSA-aaaa",), "openssl 3.0.1"
)
HIGH = FindingFacts("k2", "vulnerability", "CVE-2024-0002", Severity.HIGH, (), "libc6 2.36")
MED = FindingFacts("k3", "vulnerability", "CVE-2024-0003", Severity.MEDIUM)
PICKLE = FindingFacts("k4", "model", "pickle-code-execution", Severity.CRITICAL, (), "app/model.pkl")
LOW_MODEL = FindingFacts("k5", "model", "unusual-format", Severity.LOW)

HIGH_OR_WORSE = PullPolicy(max_severity=Severity.HIGH)
MODELS = PullPolicy(unsafe_model_severity=Severity.MEDIUM)
UNSCANNED = PullPolicy(block_unscanned=True)
EVERYTHING = PullPolicy(Severity.HIGH, Severity.MEDIUM, True)


def accepted(finding_id: str, days: float = 1, digest: str | None = None) -> AcceptedRisk:
    return AcceptedRisk(finding_id, NOW + timedelta(days=days), digest)


ROWS = [
    # id, policy, status, findings, accepted, allowed, refusing rules, findings named
    ("no policy allows anything", PullPolicy(), None, [CRIT, PICKLE], [], True, [], []),
    ("below the threshold", HIGH_OR_WORSE, "COMPLETE", [MED], [], True, [], []),
    ("at the threshold", HIGH_OR_WORSE, "COMPLETE", [HIGH, MED], [], False, ["max-severity"], ["k2"]),
    ("above the threshold", HIGH_OR_WORSE, "COMPLETE", [MED, CRIT], [], False, ["max-severity"], ["k1"]),
    ("most severe first", HIGH_OR_WORSE, "COMPLETE", [HIGH, CRIT], [], False, ["max-severity"], ["k1", "k2"]),
    ("max severity ignores model findings", HIGH_OR_WORSE, "COMPLETE", [PICKLE], [], True, [], []),
    ("an unsafe model", MODELS, "COMPLETE", [PICKLE, CRIT], [], False, ["unsafe-models"], ["k4"]),
    ("a model finding below the level", MODELS, "COMPLETE", [LOW_MODEL], [], True, [], []),
    ("never scanned", UNSCANNED, None, [], [], False, ["block-unscanned"], []),
    ("pending", UNSCANNED, "PENDING", [], [], False, ["block-unscanned"], []),
    ("in progress", UNSCANNED, "IN_PROGRESS", [], [], False, ["block-unscanned"], []),
    ("failed", UNSCANNED, "FAILED", [], [], False, ["block-unscanned"], []),
    ("unsupported", UNSCANNED, "UNSUPPORTED_IMAGE", [], [], False, ["block-unscanned"], []),
    ("complete and clean", UNSCANNED, "COMPLETE", [], [], True, [], []),
    ("unscanned is not blocked without the flag", HIGH_OR_WORSE, None, [], [], True, [], []),
    ("a failed rescan keeps the findings", HIGH_OR_WORSE, "FAILED", [HIGH], [], False, ["max-severity"],
     ["k2"]),
    ("every rule names itself", EVERYTHING, "FAILED", [HIGH, PICKLE], [], False,
     ["block-unscanned", "max-severity", "unsafe-models"], ["k2", "k4"]),
    ("accepted by name", HIGH_OR_WORSE, "COMPLETE", [HIGH], [accepted("CVE-2024-0002")], True, [], []),
    ("accepted by alias", HIGH_OR_WORSE, "COMPLETE", [CRIT], [accepted("GHSA-aaaa")], True, [], []),
    ("accepted by key", HIGH_OR_WORSE, "COMPLETE", [CRIT], [accepted("k1")], True, [], []),
    ("accepted model finding", MODELS, "COMPLETE", [PICKLE], [accepted("pickle-code-execution")], True, [],
     []),
    ("accepted for this image", HIGH_OR_WORSE, "COMPLETE", [HIGH], [accepted("CVE-2024-0002", digest=DIGEST)],
     True, [], []),
    ("accepted for another image", HIGH_OR_WORSE, "COMPLETE", [HIGH],
     [accepted("CVE-2024-0002", digest=OTHER)], False, ["max-severity"], ["k2"]),
    ("expired", HIGH_OR_WORSE, "COMPLETE", [HIGH], [accepted("CVE-2024-0002", days=-1)], False,
     ["max-severity"], ["k2"]),
    ("expiring this instant", HIGH_OR_WORSE, "COMPLETE", [HIGH], [accepted("CVE-2024-0002", days=0)], False,
     ["max-severity"], ["k2"]),
    ("an accepted id that matches nothing", HIGH_OR_WORSE, "COMPLETE", [HIGH], [accepted("CVE-1999-0001")],
     False, ["max-severity"], ["k2"]),
    ("one accepted, one not", HIGH_OR_WORSE, "COMPLETE", [HIGH, CRIT], [accepted("CVE-2024-0002")], False,
     ["max-severity"], ["k1"]),
    ("acceptance never waives a missing scan", EVERYTHING, "PENDING", [HIGH], [accepted("CVE-2024-0002")],
     False, ["block-unscanned"], []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "status", "findings", "risks", "allowed", "rules", "named"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_decision(
    policy: PullPolicy,
    status: str | None,
    findings: list[FindingFacts],
    risks: list[AcceptedRisk],
    allowed: bool,
    rules: list[str],
    named: list[str],
) -> None:
    decision = decide(rules_of(policy), PullFacts(DIGEST, status, findings, risks, NOW))
    assert decision.allowed is allowed
    assert [refusal.rule for refusal in decision.refusals] == rules
    assert [finding.key for finding in decision.findings] == named


def test_the_message_names_the_findings_most_severe_first() -> None:
    decision = decide(rules_of(EVERYTHING), PullFacts(DIGEST, "COMPLETE", [HIGH, CRIT, PICKLE], [], NOW))
    assert decision.message() == (
        "pull refused by pull policy: max-severity: CVE-2024-0001 (CRITICAL, openssl 3.0.1), "
        "CVE-2024-0002 (HIGH, libc6 2.36); unsafe-models: pickle-code-execution (CRITICAL, app/model.pkl)"
    )


def test_a_long_list_is_cut_short() -> None:
    many = [FindingFacts(f"k{i:02}", "vulnerability", f"CVE-2024-{i:04}", Severity.HIGH) for i in range(13)]
    message = decide(rules_of(HIGH_OR_WORSE), PullFacts(DIGEST, "COMPLETE", many, [], NOW)).message()
    assert message.endswith("CVE-2024-0009 (HIGH) and 3 more")


def test_an_allowed_pull_says_what_an_accepted_risk_waived() -> None:
    decision = decide(
        rules_of(HIGH_OR_WORSE), PullFacts(DIGEST, "COMPLETE", [HIGH, MED], [accepted("CVE-2024-0002")], NOW)
    )
    assert decision.allowed
    assert [finding.key for finding in decision.waived] == ["k2"]
