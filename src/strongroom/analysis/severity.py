"""ECR's finding severity levels (``ImageScanFinding.severity``), ordered."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """ECR's basic-scanning enum; UNDEFINED sorts lowest because it says nothing."""

    UNDEFINED = "UNDEFINED"
    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {level: index for index, level in enumerate(Severity)}


def highest(levels: list[Severity]) -> Severity:
    return max(levels, key=lambda level: level.rank, default=Severity.UNDEFINED)
