"""The outboxes write exactly the data fields the catalogue declares for each event, and
a dispatch job only for accounts with a webhook subscription."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from strongroom.events.catalogue import IMAGE_DELETE, IMAGE_PUSH, LIFECYCLE_EXPIRED
from strongroom.events.outbox import ImageDeletionOutbox, ImagePushOutbox
from strongroom.metadata.outbox import Expiry, ImageDeletion, ManifestChange

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DIGEST = "sha256:" + "a" * 64


class CountingIds:
    def __init__(self) -> None:
        self._next = itertools.count(1)

    def new_id(self) -> str:
        return f"id{next(self._next)}"


def deletion(**changes: object) -> ImageDeletion:
    values: dict[str, object] = {
        "account_id": "111111111111", "repository": "team/app", "digest": DIGEST, "tags": ("v1", "latest"),
        "manifest_deleted": True, "at": NOW,
    }  # fmt: skip
    values.update(changes)
    return ImageDeletion(**values)  # type: ignore[arg-type]


def test_a_push_writes_the_declared_fields() -> None:
    change = ManifestChange("111111111111", "team/app", DIGEST, "application/vnd.oci.image.manifest.v1+json",
                            "v1", True, None, None, NOW)  # fmt: skip
    [event] = ImagePushOutbox(CountingIds(), (), 8, dispatch_kind="webhook.dispatch")(change).events
    assert event.type == IMAGE_PUSH.name and set(event.data) == set(IMAGE_PUSH.fields)


def test_a_deletion_writes_image_delete_and_only_subscribed_accounts_get_dispatch_jobs() -> None:
    outbox = ImageDeletionOutbox(CountingIds(), 8, dispatch_kind="webhook.dispatch")
    quiet = outbox(deletion())
    [event] = quiet.events
    assert (event.type, event.subject, quiet.jobs) == (IMAGE_DELETE.name, "team/app", [])
    assert set(event.data) == set(IMAGE_DELETE.fields)
    assert (event.data["action-type"], event.data["image-tag"], event.data["image-tags"]) == (
        "DELETE", "v1", ["v1", "latest"]
    )  # fmt: skip
    untagged = outbox(deletion(tags=(), subscribed=True))
    assert untagged.events[0].data["image-tag"] is None
    assert [(job.kind, job.payload["event_id"]) for job in untagged.jobs] == [
        ("webhook.dispatch", untagged.events[0].id)
    ]


def test_an_expiry_also_writes_lifecycle_expired() -> None:
    outbox = ImageDeletionOutbox(CountingIds(), 8, dispatch_kind="webhook.dispatch")
    written = outbox(deletion(expiry=Expiry(2, "more than 5 images"), subscribed=True))
    deleted, expired = written.events
    assert (deleted.type, expired.type) == (IMAGE_DELETE.name, LIFECYCLE_EXPIRED.name)
    assert set(expired.data) == set(LIFECYCLE_EXPIRED.fields)
    assert (expired.data["rule-priority"], expired.data["reason"]) == (2, "more than 5 images")
    assert {job.idempotency_key for job in written.jobs} == {
        f"webhook.dispatch:{deleted.id}",
        f"webhook.dispatch:{expired.id}",
    }
