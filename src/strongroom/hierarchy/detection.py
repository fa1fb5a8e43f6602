"""The ``lineage.detect`` job: which image a pushed image is built on, and who must rebuild
when a tag moves.

A push of an image manifest or an index (not a referrer, not an artifact, not the
registry's own SBOM) queues the job in the push's own transaction (the outbox), as a
scan or a model index is queued. The job then:

- for a manifest new in its repository, reads its layers and annotations, finds its parent
  (:mod:`strongroom.lineage.parents`: the base annotations, else the longest stored layer
  prefix, one indexed lookup of its prefix hashes) and records one ``lineage_images`` row;
  an index has no row of its own, its platform manifests (pushed before it) each have one;
- for a tag that moved, finds the tagged images built from that tag at another digest
  and announces ``lineage.base-updated`` once per dependent repository, in that
  repository's account (a webhook's ``--repository-prefix`` matches who must rebuild).

Idempotent: run again, it records the same row again; a manifest deleted meanwhile
records nothing. Events are at least once, as every event is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from strongroom.clock import Clock, IdFactory
from strongroom.events.catalogue import LINEAGE_BASE_UPDATED
from strongroom.hierarchy.layers import IMAGE_CONFIGS, image_layers
from strongroom.lineage.parents import AnnotatedBase, annotated_base, choose_parent
from strongroom.metadata.jobs import Job
from strongroom.metadata.lineage import SqlLineageStore
from strongroom.metadata.lineage_reads import ImageRecord, LineageRow, TagState
from strongroom.metadata.outbox import ManifestChange, NewEvent, NewJob, Outbox
from strongroom.oci.mediatypes import IMAGE_MANIFESTS, INDEXES
from strongroom.storage.base import BlobReader

DETECT = "lineage.detect"
DETECT_MAX_ATTEMPTS = 4
ANNOTATION, LAYERS = "annotation", "layers"
MAX_IMAGES_PER_EVENT = 100
CLOCK_SKEW = timedelta(minutes=1)
"""How far before a tag's recorded move an announcement of it is looked for (processes'
clocks differ a little)."""

logger = logging.getLogger("strongroom.lineage")


def lineage_on_push(change: ManifestChange) -> NewJob | None:
    """The lineage work a push queues: for an image new in the repository, or a tag moved
    to an image or index; keyed by the image, the tag and when (a retried push runs once).
    An image's ``artifact_type`` is its config's media type (an index has none)."""
    if change.made_by_registry or change.subject_digest is not None:
        return None
    if change.artifact_type is not None and change.artifact_type not in IMAGE_CONFIGS:
        return None  # an artifact (a model, an SBOM): its "config" is not an image's
    if change.media_type not in IMAGE_MANIFESTS | INDEXES or not (change.created or change.tag):
        return None
    payload = {
        "account_id": change.account_id,
        "repository": change.repository,
        "digest": change.digest,
        "tag": change.tag,
        "created": change.created,
    }
    key = (
        f"{DETECT}:{change.account_id}/{change.repository}@{change.digest}:{change.tag or ''}:"
        f"{change.at.isoformat()}"
    )
    return NewJob(DETECT, payload, idempotency_key=key, max_attempts=DETECT_MAX_ATTEMPTS)


class LineageDetector:
    """The ``lineage.detect`` job handler."""

    def __init__(
        self, store: SqlLineageStore, blobs: BlobReader, clock: Clock, ids: IdFactory, *,
        dispatch_kind: str | None,
    ) -> None:  # fmt: skip
        self._store, self._blobs, self._clock, self._ids = store, blobs, clock, ids
        self._dispatch_kind = dispatch_kind

    async def __call__(self, job: Job) -> None:
        account_id, name = str(job.payload["account_id"]), str(job.payload["repository"])
        image = await self._store.image(account_id, name, str(job.payload["digest"]))
        if image is None:
            return  # deleted since
        tag = job.payload.get("tag")
        tag = tag if isinstance(tag, str) and tag else None
        recorded = None
        if job.payload.get("created") and image.media_type in IMAGE_MANIFESTS:
            recorded = await self.detect(image, tag)
        if tag is not None:
            await self.announce_moved(image, tag, noted=recorded is not None)

    async def detect(self, image: ImageRecord, tag: str | None = None) -> LineageRow | None:
        """Record what ``image`` is built on, and claim the images recorded before it that
        are built on it (a base recorded after its dependents, as concurrent jobs may);
        None when it is not a container image. Reads the image's config (its diff ids).
        ``tag``: the tag it was pushed with, kept as the tag images built on it were built
        from when no tag names it any more by the time they are recorded."""
        layers = await image_layers(self._blobs, image.content)
        if layers is None:
            return None
        if layers.why_digests is not None and layers.hashes:
            logger.info(
                "lineage of %s/%s@%s compares compressed digests: %s",
                image.account_id, image.repository, image.digest, layers.why_digests,
            )  # fmt: skip
        hashes, now = layers.hashes, self._clock.now()
        row = LineageRow(
            image.repository_id, image.digest, len(hashes), hashes[-1] if hashes else None,
            None, None, None, None, None, None, image.created_at, now, layers_by=layers.layers_by,
            digest_chain_hash=layers.by_digest[-1] if layers.by_digest != hashes else None, pushed_tag=tag,
        )  # fmt: skip
        if not await self._store.record_chain(row, hashes, now):
            return None  # deleted since
        await self._find_parent(image, layers.lookup(), len(hashes))
        if hashes:
            own = layers.own()
            descendants = await self._store.shallower_descendants(own, len(hashes))
            for account_id, name, digest, layer_count in descendants:
                child = await self._store.image(account_id, name, digest)
                if child is not None:  # its stored prefixes, and this base's chains of both kinds
                    keys = await self._store.prefixes_of(child.repository_id, child.digest, layer_count)
                    await self._find_parent(child, [*keys, *own], layer_count)
        return row

    async def parent_of(self, image: ImageRecord) -> tuple[int, dict[str, Any] | None] | None:
        """What ``image`` would be recorded as built on, without recording anything (the
        push gate asks before the manifest is stored): its layer count and the ``parent_*``
        columns (None: no parent found); None when it is not a container image."""
        layers = await image_layers(self._blobs, image.content)
        if layers is None:
            return None
        return len(layers.hashes), await self._parent(image, layers.lookup(), len(layers.hashes))

    async def _find_parent(self, image: ImageRecord, keys: Sequence[str], layer_count: int) -> None:
        parent = await self._parent(image, keys, layer_count)
        if parent is not None:
            await self._store.set_parent(image.repository_id, image.digest, parent, self._clock.now())
            await self._announce_if_superseded(image, parent)

    async def _announce_if_superseded(self, image: ImageRecord, parent: dict[str, Any]) -> None:
        """What the tag-moved job could not see: the tag the image was built from had
        already moved on when the image was recorded (its job ran after the base's next
        push): ``lineage.base-updated`` for the image's repository, if it is tagged."""
        repository_id, tag, digest = (
            parent.get(k) for k in ("parent_repository_id", "parent_tag", "parent_digest")
        )
        if not isinstance(repository_id, int) or not isinstance(tag, str) or not isinstance(digest, str):
            return
        state = await self._store.tag_state(repository_id, tag)
        if state is None or digest in (state.digest, *state.children):
            return
        if not await self._store.tags_of(image.repository_id, image.digest):
            return  # untagged: nobody builds from it, nobody is told
        base = (str(parent["parent_account_id"]), str(parent["parent_name"]))
        told = await self._store.announced(
            LINEAGE_BASE_UPDATED.name, state.updated_at - CLOCK_SKEW, base, tag, state.digest
        )
        if (image.account_id, image.repository, image.digest) in told:
            return  # the tag-moved job ran after this image's row was written, and told it
        event = self._event(image.account_id, image.repository, [(image.digest, digest)], base, tag, state)
        await self._announce([event])

    async def _parent(
        self, image: ImageRecord, keys: Sequence[str], layer_count: int
    ) -> dict[str, Any] | None:
        """``keys``: the chain hashes of the image's proper prefixes (both kinds)."""
        base = annotated_base(image.annotations)
        if base is not None:
            return await self._annotated(image, base, keys, layer_count)
        return await self._by_layers(image, keys, layer_count)

    async def _by_layers(
        self, image: ImageRecord, keys: Sequence[str], layer_count: int
    ) -> dict[str, Any] | None:
        found = choose_parent(
            await self._store.candidates(keys), layer_count, (image.repository_id, image.digest)
        )
        if found is None:
            return None
        tags = await self._store.tags_of(found.repository_id, found.digest)
        return {
            "parent_account_id": found.account_id,
            "parent_repository_id": found.repository_id,
            "parent_name": found.repository,
            "parent_digest": found.digest,
            "parent_tag": tags[0] if tags else found.pushed_tag,
            "method": LAYERS,
            "parent_layers": found.layer_count,
        }

    async def _annotated(
        self, image: ImageRecord, base: AnnotatedBase, keys: Sequence[str], layer_count: int
    ) -> dict[str, Any]:
        """The parent the annotations name: in this registry when it holds the repository
        (an index resolved to the platform manifest whose layers this image starts with),
        else recorded by name only."""
        account = base.account_id or image.account_id
        found = await self._store.manifest_in(account, base.repository, tag=base.tag, digest=base.digest)
        if found is None:
            return {
                "parent_name": base.name[:512], "parent_digest": base.digest, "parent_tag": base.tag,
                "method": ANNOTATION,
            }  # fmt: skip
        repository_id, digest = found
        candidates = [c for c in await self._store.candidates(keys) if c.repository_id == repository_id]
        state = await self._store.tag_state(repository_id, base.tag) if base.tag else None
        within = {digest, *(state.children if state is not None and state.digest == digest else ())}
        platform = choose_parent(
            [c for c in candidates if c.digest in within] or candidates, layer_count,
            (image.repository_id, image.digest),
        )  # fmt: skip
        if platform is not None:
            digest = platform.digest
        tag = base.tag
        if tag is None:
            tags = await self._store.tags_of(repository_id, digest)
            tag = tags[0] if tags else (platform.pushed_tag if platform is not None else None)
        return {
            "parent_account_id": account, "parent_repository_id": repository_id,
            "parent_name": base.repository, "parent_digest": digest, "parent_tag": tag, "method": ANNOTATION,
            "parent_layers": platform.layer_count if platform is not None else None,
        }  # fmt: skip

    async def announce_moved(self, image: ImageRecord, tag: str, *, noted: bool = False) -> int:
        """Announce ``lineage.base-updated`` to each repository with tagged images built
        from ``tag`` at an older digest; how many events. Also keeps ``tag`` as the image's
        ``pushed_tag`` when it had none (pushed by digest, tagged later), unless ``noted``:
        :meth:`detect` has just recorded the image with it (one write fewer per push)."""
        if not noted:
            await self._store.note_tag(image.repository_id, image.digest, tag)
        found = await self._store.left_behind(image.repository_id, tag)
        if found is None:
            return 0
        state, left_behind = found
        base = (image.account_id, image.repository)
        if left_behind:  # a late detection may have told some already (the race)
            told = await self._store.announced(
                LINEAGE_BASE_UPDATED.name, state.updated_at - CLOCK_SKEW, base, tag, state.digest
            )
            left_behind = [r for r in left_behind if (r.account_id, r.repository, r.digest) not in told]
        by_repository: dict[tuple[str, str], list[LineageRow]] = {}
        for row in left_behind:
            by_repository.setdefault((row.account_id, row.repository), []).append(row)
        if not by_repository:
            return 0
        events = [
            self._event(
                account_id, repository, [(r.digest, str(r.parent_digest)) for r in rows], base, tag, state
            )
            for (account_id, repository), rows in sorted(by_repository.items())
        ]
        await self._announce(events)
        return len(events)

    async def _announce(self, events: list[NewEvent]) -> None:
        jobs = []
        if self._dispatch_kind is not None:
            kind = self._dispatch_kind
            jobs = [
                NewJob(kind, {"event_id": e.id, "account_id": e.account_id}, idempotency_key=f"{kind}:{e.id}")
                for e in events
            ]
        await self._store.announce(Outbox(events=events, jobs=jobs), self._clock.now())

    def _event(
        self, account_id: str, repository: str, images: list[tuple[str, str]], base: tuple[str, str],
        tag: str, state: TagState,
    ) -> NewEvent:  # fmt: skip
        """``images``: each image to rebuild and the digest it was built on; ``base``: the
        account and repository whose ``tag`` moved to ``state``."""
        data = {
            "repository-name": repository,
            "image-digests": sorted(digest for digest, _ in images)[:MAX_IMAGES_PER_EVENT],
            "base-registry-id": base[0],
            "base-repository-name": base[1],
            "base-tag": tag,
            "base-digest": state.digest,
            "previous-base-digests": sorted({previous for _, previous in images}),
            "moved-at": state.updated_at.isoformat(),
        }
        return NewEvent(self._ids.new_id(), LINEAGE_BASE_UPDATED.name, account_id, repository, data)
