"""Every ECR and ECR Public operation offered, keyed by (signing name, operation)."""

from __future__ import annotations

from strongroom.api.ecr.call import Operation
from strongroom.api.ecr.operations import registry, repositories

OPERATIONS: dict[tuple[str, str], Operation] = {
    **repositories.OPERATIONS,
    **registry.OPERATIONS,
}
