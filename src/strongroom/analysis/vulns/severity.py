"""A finding's severity in ECR's levels, from the vendor's rating or a CVSS vector.

Order (as Trivy does for OS packages): the distribution's own rating (Debian urgency,
Ubuntu priority), then GitHub's advisory severity, then the highest CVSS base score
among v3.x, v4.0 and v2 vectors, in FIRST's bands. Nothing usable: UNDEFINED.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from strongroom.analysis.severity import Severity

_DEBIAN_URGENCY = {
    "unimportant": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "not yet assigned": Severity.UNDEFINED,
}
_UBUNTU = {
    "negligible": Severity.INFORMATIONAL,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
    "untriaged": Severity.UNDEFINED,
}
_GHSA = {
    "LOW": Severity.LOW,
    "MODERATE": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}
_CVSS_ORDER = ("CVSS_V3", "CVSS_V4", "CVSS_V2")


@dataclass(frozen=True)
class Rating:
    severity: Severity
    source: str
    score: Decimal | None = None
    vector: str | None = None


def band(score: Decimal) -> Severity:
    """FIRST's qualitative bands for a CVSS base score."""
    if score == 0:
        return Severity.INFORMATIONAL
    if score < 4:
        return Severity.LOW
    if score < 7:
        return Severity.MEDIUM
    if score < 9:
        return Severity.HIGH
    return Severity.CRITICAL


def rate(record: dict[str, Any], affected: dict[str, Any]) -> Rating:
    """The rating of one record for one ``affected[]`` entry."""
    specific = {**(record.get("database_specific") or {}), **(affected.get("ecosystem_specific") or {})}
    specific |= affected.get("database_specific") or {}
    urgency = str(specific.get("urgency", "")).lower()
    if urgency in _DEBIAN_URGENCY and _DEBIAN_URGENCY[urgency] is not Severity.UNDEFINED:
        return Rating(_DEBIAN_URGENCY[urgency], "vendor")
    entries = list(affected.get("severity") or record.get("severity") or [])
    for entry in entries:
        if entry.get("type") == "Ubuntu" and str(entry.get("score", "")).lower() in _UBUNTU:
            return Rating(_UBUNTU[str(entry["score"]).lower()], "vendor")
    ghsa = str(specific.get("severity", "")).upper()
    if ghsa in _GHSA:
        return Rating(_GHSA[ghsa], "ghsa")
    cvss = _best_cvss(entries)
    if cvss is not None:
        return cvss
    return Rating(Severity.UNDEFINED, "none")


def _best_cvss(entries: list[dict[str, Any]]) -> Rating | None:
    for kind in _CVSS_ORDER:
        scores = []
        for entry in entries:
            if entry.get("type") == kind:
                score = cvss_score(kind, str(entry.get("score", "")))
                if score is not None:
                    scores.append((score, str(entry["score"])))
        if scores:
            score, vector = max(scores)
            return Rating(band(score), kind.lower(), score, vector)
    return None


def cvss_score(kind: str, vector: str) -> Decimal | None:
    """A vector's base score; None for a malformed vector (never a guess)."""
    try:
        if kind == "CVSS_V3":
            return Decimal(str(CVSS3(vector).base_score))
        if kind == "CVSS_V4":
            return Decimal(str(CVSS4(vector).base_score))
        if kind == "CVSS_V2":
            return Decimal(str(CVSS2(vector).base_score))
    except (CVSSError, ValueError, KeyError, IndexError):
        return None
    return None
