"""Every ECR and ECR Public operation offered, keyed by (signing name, operation)."""

from __future__ import annotations

from strongroom.api.ecr.call import Operation
from strongroom.api.ecr.operations import (
    backfills,
    image_scans,
    images,
    layers,
    lifecycle,
    public,
    public_images,
    registry,
    repositories,
    scanning,
    settings,
    templates,
)

OPERATIONS: dict[tuple[str, str], Operation] = {
    **repositories.OPERATIONS,
    **registry.OPERATIONS,
    **backfills.OPERATIONS,
    **images.OPERATIONS,
    **image_scans.OPERATIONS,
    **layers.OPERATIONS,
    **lifecycle.OPERATIONS,
    **scanning.OPERATIONS,
    **settings.OPERATIONS,
    **templates.OPERATIONS,
    **public.OPERATIONS,
    **public_images.OPERATIONS,
}
