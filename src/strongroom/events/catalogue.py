"""The event catalogue: every event the registry emits, in one table (DESIGN §5).

Each event has its CLI name (``strongroom events list --type image.push``), its
CloudEvents ``type`` (the body of a webhook delivery), and, where Amazon ECR emits the
same fact to EventBridge, that ``detail-type``; the event's data then carries the
``detail`` fields ECR uses, under ECR's names, so rules written for ECR read ours.
Later features add their events here, not elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

CLOUDEVENTS_PREFIX = "io.strongroom."
ECR_IMAGE_ACTION = "ECR Image Action"
ECR_IMAGE_SCAN = "ECR Image Scan"
ECR_REPLICATION = "ECR Replication Action"


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    description: str
    ecr_detail_type: str | None = None

    @property
    def cloudevents_type(self) -> str:
        return CLOUDEVENTS_PREFIX + self.name


IMAGE_PUSH = EventType(
    "image.push", "a manifest was stored or a tag moved to it (OCI PUT, ECR PutImage)", ECR_IMAGE_ACTION
)
IMAGE_DELETE = EventType("image.delete", "an image or tag was deleted", ECR_IMAGE_ACTION)
SCAN_COMPLETE = EventType("scan.complete", "a scan of an image finished", ECR_IMAGE_SCAN)
SCAN_FINDING_NEW = EventType("scan.finding.new", "a scan found something the last scan did not")
SCAN_FINDING_CLOSED = EventType("scan.finding.closed", "a finding of the last scan is gone")
REPLICATION_COMPLETE = EventType("replication.complete", "an image reached a destination", ECR_REPLICATION)
REPLICATION_FAILED = EventType("replication.failed", "an image could not be replicated", ECR_REPLICATION)
LIFECYCLE_EXPIRED = EventType("lifecycle.expired", "a lifecycle policy expired an image", ECR_IMAGE_ACTION)
LINEAGE_BASE_UPDATED = EventType("lineage.base-updated", "an image's base image has a newer digest")
MODEL_INDEXED = EventType("model.indexed", "a model artifact's metadata was recorded")
WEBHOOK_TEST = EventType("webhook.test", "an operator asked for a test delivery (strongroom webhook test)")

CATALOGUE: dict[str, EventType] = {
    event.name: event
    for event in (
        IMAGE_PUSH, IMAGE_DELETE, SCAN_COMPLETE, SCAN_FINDING_NEW, SCAN_FINDING_CLOSED,
        REPLICATION_COMPLETE, REPLICATION_FAILED, LIFECYCLE_EXPIRED, LINEAGE_BASE_UPDATED, MODEL_INDEXED,
        WEBHOOK_TEST,
    )
}  # fmt: skip
