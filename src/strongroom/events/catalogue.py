"""The event catalogue: every event the registry emits, in one table (DESIGN §5).

Each event has its CLI name (``strongroom events list --type image.push``), its
CloudEvents ``type`` (the body of a webhook delivery), and, where Amazon ECR emits the
same fact to EventBridge, that ``detail-type``; the event's data then carries the
``detail`` fields ECR uses, under ECR's names, so rules written for ECR read ours.
Each event also declares the fields of its ``data``; an event whose fields are not yet
declared is not emitted yet (its feature declares them when it emits it). The table in
``docs/events.md`` is this module rendered (``python -m strongroom.events.catalogue``)
and kept identical by a test. Later features add their events here, not elsewhere.
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
    fields: tuple[str, ...] = ()
    """The keys of the event's ``data``, ECR's detail names first where it has them."""

    @property
    def cloudevents_type(self) -> str:
        return CLOUDEVENTS_PREFIX + self.name


# ECR's "ECR Image Action" detail: action-type (PUSH, DELETE), result, repository-name,
# image-digest, image-tag.
_IMAGE_ACTION = ("action-type", "result", "repository-name", "image-digest", "image-tag")

IMAGE_PUSH = EventType(
    "image.push",
    "a manifest was stored or a tag moved to it (OCI PUT, ECR PutImage)",
    ECR_IMAGE_ACTION,
    (*_IMAGE_ACTION, "media-type", "artifact-type", "subject-digest", "created"),
)
IMAGE_DELETE = EventType(
    "image.delete",
    "an image or a tag was deleted (OCI DELETE, ECR BatchDeleteImage, a lifecycle policy)",
    ECR_IMAGE_ACTION,
    (*_IMAGE_ACTION, "image-tags", "manifest-deleted"),
)
# ECR's "ECR Image Scan" detail: scan-status, repository-name, image-digest, image-tags,
# finding-severity-counts.
SCAN_COMPLETE = EventType(
    "scan.complete",
    "a scan of an image finished (COMPLETE, FAILED or UNSUPPORTED_IMAGE), or a re-evaluation after "
    "the vulnerability database changed (COMPLETE, `layers-analysed` 0)",
    ECR_IMAGE_SCAN,
    (
        "scan-status", "repository-name", "image-digest", "image-tags", "finding-severity-counts",
        "description", "layers-analysed", "layers-from-cache",
    ),
)  # fmt: skip
_FINDINGS = ("repository-name", "image-digest", "count", "findings")
SCAN_FINDING_NEW = EventType(
    "scan.finding.new", "a scan found something the last scan did not (up to 100 listed)", None, _FINDINGS
)
SCAN_FINDING_CLOSED = EventType(
    "scan.finding.closed", "a finding of the last scan is gone (up to 100 listed)", None, _FINDINGS
)
# ECR's "ECR Replication Action" detail: action-type (REPLICATE; DELETE for a replicated
# deletion), result, repository-name, image-digest, image-tag, source-account, source-region;
# then where it went.
_REPLICATION = (
    "action-type", "result", "repository-name", "image-digest", "image-tag", "source-account",
    "source-region", "destination-region", "destination-registry-id",
)  # fmt: skip
REPLICATION_COMPLETE = EventType(
    "replication.complete", "an image (or its deletion) reached a destination", ECR_REPLICATION, _REPLICATION
)
REPLICATION_FAILED = EventType(
    "replication.failed",
    "an image (or its deletion) could not be replicated (at once if retrying cannot help, else at last)",
    ECR_REPLICATION,
    (*_REPLICATION, "failure-code", "failure-reason"),
)
LIFECYCLE_EXPIRED = EventType(
    "lifecycle.expired",
    "a lifecycle policy expired an image (its image.delete comes with it)",
    ECR_IMAGE_ACTION,
    (*_IMAGE_ACTION, "image-tags", "rule-priority", "reason"),
)
LINEAGE_BASE_UPDATED = EventType(
    "lineage.base-updated",
    "a tag that images were built from moved to a new digest: one event per dependent repository "
    "(its subject), naming the base that moved and the images to rebuild",
    None,
    (
        "repository-name", "image-digests", "base-registry-id", "base-repository-name", "base-tag",
        "base-digest", "previous-base-digests", "moved-at",
    ),
)  # fmt: skip
MODEL_INDEXED = EventType(
    "model.indexed",
    "a pushed model's metadata (ModelPack or KitOps) was recorded in the model index",
    None,
    (
        "repository-name", "image-digest", "name", "version", "format", "architecture",
        "parameter-count", "licenses",
    ),
)  # fmt: skip
WEBHOOK_TEST = EventType(
    "webhook.test", "an operator asked for a test delivery (strongroom webhook test)", fields=("webhook-id",)
)

CATALOGUE: dict[str, EventType] = {
    event.name: event
    for event in (
        IMAGE_PUSH, IMAGE_DELETE, SCAN_COMPLETE, SCAN_FINDING_NEW, SCAN_FINDING_CLOSED,
        REPLICATION_COMPLETE, REPLICATION_FAILED, LIFECYCLE_EXPIRED, LINEAGE_BASE_UPDATED, MODEL_INDEXED,
        WEBHOOK_TEST,
    )
}  # fmt: skip


def markdown_table() -> str:
    """The catalogue as the table in ``docs/events.md`` (a test keeps the two identical)."""
    rows = [
        "| event | CloudEvents `type` | EventBridge `detail-type` (ECR) | `data` fields | what happened |",
        "|---|---|---|---|---|",
    ]
    for event in CATALOGUE.values():
        fields = ", ".join(f"`{name}`" for name in event.fields) or "(not emitted yet)"
        detail_type = f"`{event.ecr_detail_type}`" if event.ecr_detail_type else "none"
        cells = (f"`{event.name}`", f"`{event.cloudevents_type}`", detail_type, fields, event.description)
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
