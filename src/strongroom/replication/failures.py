"""Why a replication failed: the ``failureCode`` its status reports, and the reason."""

from __future__ import annotations

from strongroom.errors import StrongroomError


class ReplicationError(StrongroomError):
    """The copy could not be made; ``code`` is the failureCode the status reports.
    ``permanent``: trying again cannot help (a refusal by policy, an immutable tag at the
    destination), so the status is FAILED at once rather than after every retry."""

    def __init__(self, code: str, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


def immutable_tag(code: str, message: str) -> bool:
    """Whether a destination's refusal of a tag is its tag immutability: Strongroom and ECR
    answer ``TAG_INVALID`` with ECR's wording ("… cannot be overwritten because the
    repository is immutable"); other registries say ``immutable`` too (Harbor, zot)."""
    return code in ("TAG_INVALID", "DENIED", "MANIFEST_INVALID") and "immutable" in message.lower()
