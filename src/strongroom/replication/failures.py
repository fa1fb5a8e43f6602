"""Why a replication failed: the ``failureCode`` its status reports, and the reason."""

from __future__ import annotations

from strongroom.errors import StrongroomError


class ReplicationError(StrongroomError):
    """The copy could not be made; ``code`` is the failureCode the status reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
