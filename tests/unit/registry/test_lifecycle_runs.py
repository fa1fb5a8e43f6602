"""Lifecycle policies as use cases (registry/lifecycle.py) on SQLite and PostgreSQL:
which manifests a policy judges, storing and previewing policies, applying them
(deletions, audit records, claims), and recording pull times."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from strongroom.audit.log import AuditLog
from strongroom.clock import RandomIdFactory
from strongroom.errors import NameUnknown
from strongroom.lifecycle import LifecyclePolicyInvalid
from strongroom.metadata.audit import SqlAuditStore
from strongroom.metadata.database import Database
from strongroom.metadata.images import SqlImageStore
from strongroom.metadata.lifecycle import ManifestFacts, SqlLifecycleStore
from strongroom.metadata.records import NewManifest
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.digest import Digest
from strongroom.oci.names import RepositoryRef
from strongroom.registry.context import RegistryContext
from strongroom.registry.lifecycle import (
    PRINCIPAL,
    Lifecycle,
    LifecyclePolicyNotFound,
    LifecyclePolicyPreviewNotFound,
    lifecycle_images,
)
from strongroom.registry.manifests import Manifests, Reference
from strongroom.registry.pull_gate import Puller
from strongroom.registry.repositories import Repositories
from strongroom.storage.memory import MemoryBlobStore
from support.clocks import SteppedClock

pytestmark = pytest.mark.anyio

ACCOUNT = "123456789012"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAME = "team/app"
REF = RepositoryRef(ACCOUNT, NAME, NAME)
PULLER = Puller(f"arn:aws:iam::{ACCOUNT}:user/puller", None, "us-east-1")
KEEP_TWO = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "two newest v* images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["v*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 2,
                },
                "action": {"type": "expire"},
            }
        ]
    },
    indent=2,
)


@dataclass
class World:
    clock: SteppedClock
    metadata: SqlMetadataStore
    manifests: Manifests
    lifecycle: Lifecycle
    audit: AuditLog

    async def push(self, name: str, tag: str | None = None, *, subject: str | None = None) -> str:
        """A manifest with no blobs, pushed a minute after the previous one."""
        self.clock.advance(timedelta(minutes=1))
        repository = await self.metadata.ensure_repository(ACCOUNT, NAME, self.clock.now())
        digest = str(Digest.of(name.encode()))
        await self.metadata.put_manifest(
            repository.id,
            NewManifest(digest, "application/vnd.oci.image.manifest.v1+json", name.encode(), subject, None,
                        None, (), ()),
            [tag] if tag else [],
            self.clock.now(),
        )  # fmt: skip
        return digest

    async def tags(self) -> list[str] | None:
        return await self.metadata.list_tags(ACCOUNT, NAME, None, 100)


@pytest.fixture
def world(database: Database) -> World:
    clock = SteppedClock(START)
    metadata = SqlMetadataStore(database)
    repository_store = SqlRepositoryStore(database)
    repositories = Repositories(metadata, repository_store, clock)
    context = RegistryContext(metadata, MemoryBlobStore(clock), clock, RandomIdFactory(), repositories)
    manifests = Manifests(context, SqlImageStore(database))
    audit = AuditLog(SqlAuditStore(database))
    lifecycle = Lifecycle(
        context, manifests, SqlLifecycleStore(database), repository_store, audit, "eu-west-1"
    )
    return World(clock, metadata, manifests, lifecycle, audit)


@pytest.fixture
async def repository(world: World) -> None:
    await world.metadata.create_default_account(ACCOUNT, START)
    await world.metadata.ensure_repository(ACCOUNT, NAME, START)


# which manifests are images


def facts(digest: str, *, subject: str | None = None, listed: bool = False) -> ManifestFacts:
    return ManifestFacts(digest, (), START, None, subject, listed)


def test_index_children_and_referrers_of_present_subjects_are_not_judged() -> None:
    manifests = [
        facts("index"),
        facts("child", listed=True),
        facts("signature", subject="index"),
        facts("orphan-signature", subject="gone"),
    ]
    assert [image.digest for image in lifecycle_images(manifests)] == ["index", "orphan-signature"]


# the policy and its preview


@pytest.mark.usefixtures("repository")
async def test_policy_is_stored_normalised_and_deleted(world: World) -> None:
    with pytest.raises(LifecyclePolicyNotFound):
        await world.lifecycle.policy(ACCOUNT, NAME)
    stored = await world.lifecycle.put_policy(ACCOUNT, NAME, KEEP_TWO)
    assert stored == json.dumps(json.loads(KEEP_TWO), separators=(",", ":"))
    assert (await world.lifecycle.policy(ACCOUNT, NAME)).text == stored
    with pytest.raises(LifecyclePolicyInvalid):
        await world.lifecycle.put_policy(ACCOUNT, NAME, KEEP_TWO.replace('"expire"', '"explode"'))
    assert (await world.lifecycle.delete_policy(ACCOUNT, NAME)).text == stored
    with pytest.raises(LifecyclePolicyNotFound):
        await world.lifecycle.delete_policy(ACCOUNT, NAME)
    with pytest.raises(NameUnknown):
        await world.lifecycle.put_policy(ACCOUNT, "team/none", KEEP_TWO)


@pytest.mark.usefixtures("repository")
async def test_a_preview_is_kept_and_read_back(world: World) -> None:
    with pytest.raises(LifecyclePolicyPreviewNotFound):
        await world.lifecycle.preview(ACCOUNT, NAME)
    with pytest.raises(LifecyclePolicyNotFound):
        await world.lifecycle.start_preview(ACCOUNT, NAME)
    old = [await world.push(f"image {i}", f"v{i}") for i in range(4)]
    started = await world.lifecycle.start_preview(ACCOUNT, NAME, KEEP_TWO)
    assert started.status == "COMPLETE"
    assert [verdict.digest for verdict in started.verdicts] == old[:2]
    assert await world.lifecycle.preview(ACCOUNT, NAME) == started
    with pytest.raises(LifecyclePolicyNotFound):
        await world.lifecycle.policy(ACCOUNT, NAME)  # previewing a text does not store it


# applying


@pytest.mark.usefixtures("repository")
async def test_a_run_expires_what_the_preview_showed_and_audits_each(world: World) -> None:
    digests = [await world.push(f"image {i}", f"v{i}") for i in range(4)]
    await world.push("unrelated", "latest")
    await world.lifecycle.put_policy(ACCOUNT, NAME, KEEP_TWO)
    preview = await world.lifecycle.start_preview(ACCOUNT, NAME)

    dry = await world.lifecycle.run(REF, dry_run=True)
    assert [v.digest for v in dry[0].verdicts] == digests[:2]
    assert dry[0].expired == ()
    assert await world.tags() == ["latest", "v0", "v1", "v2", "v3"]
    assert (await world.lifecycle.policy(ACCOUNT, NAME)).evaluated_at is None

    [run] = await world.lifecycle.run(REF)
    assert run.verdicts == preview.verdicts
    assert run.expired == tuple(digests[:2])
    assert await world.tags() == ["latest", "v2", "v3"]
    assert (await world.lifecycle.policy(ACCOUNT, NAME)).evaluated_at == world.clock.now()
    events = [entry.event for entry in await world.audit.query(principal=PRINCIPAL)]
    assert [event.detail["digest"] for event in events] == digests[:2]
    assert events[0].resource == f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/{NAME}"
    assert events[0].detail["reason"] == preview.verdicts[0].reason
    assert events[0].detail["rule_priority"] == 1


@pytest.mark.usefixtures("repository")
async def test_an_image_retagged_since_it_was_judged_is_left(world: World) -> None:
    untagged = await world.push("was untagged")
    await world.push("newer untagged")
    text = json.dumps(
        {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType":
         "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}, indent=4
    )  # fmt: skip
    await world.lifecycle.put_policy(ACCOUNT, NAME, text)
    original = world.lifecycle._store.tags_of  # a tag arrives between judging and deleting

    async def retagged(repository_id: int, digest: str) -> tuple[str, ...] | None:
        repository = await world.metadata.get_repository(ACCOUNT, NAME)
        assert repository is not None
        await world.metadata.put_manifest(
            repository.id,
            NewManifest(untagged, "application/vnd.oci.image.manifest.v1+json", b"was untagged", None, None,
                        None, (), ()),
            ["now-tagged"],
            world.clock.now(),
        )  # fmt: skip
        return await original(repository_id, digest)

    world.lifecycle._store.tags_of = retagged  # type: ignore[method-assign]
    [run] = await world.lifecycle.run(REF)
    assert [v.digest for v in run.verdicts] == [untagged]
    assert (run.expired, run.skipped) == ((), (untagged,))
    assert await world.tags() == ["now-tagged"]


@pytest.mark.usefixtures("repository")
async def test_due_policies_are_claimed_once_per_interval(world: World) -> None:
    for i in range(3):
        await world.push(f"image {i}", f"v{i}")
    await world.lifecycle.put_policy(ACCOUNT, NAME, KEEP_TWO)
    interval = timedelta(hours=1)
    [run] = await world.lifecycle.run_due(interval)
    assert len(run.expired) == 1
    assert await world.lifecycle.run_due(interval) == []  # another worker, same interval
    world.clock.advance(interval + timedelta(seconds=1))
    [again] = await world.lifecycle.run_due(interval)
    assert again.verdicts == ()


# pull times


@pytest.mark.usefixtures("repository")
async def test_pulls_are_recorded_at_most_hourly_and_heads_never(world: World) -> None:
    digest = await world.push("pulled", "v1")
    reference = Reference.parse("v1")

    async def last_pulled() -> datetime | None:
        return (await world.manifests.get(REF, reference)).last_pulled_at

    await world.manifests.get(REF, reference)  # a HEAD
    assert await last_pulled() is None
    first = world.clock.now()
    await world.manifests.get(REF, reference, pull=PULLER)
    assert await last_pulled() == first
    world.clock.advance(timedelta(minutes=59))
    await world.manifests.get(REF, Reference.parse(digest), pull=PULLER)
    assert await last_pulled() == first
    world.clock.advance(timedelta(minutes=2))
    await world.manifests.get(REF, reference, pull=PULLER)
    assert await last_pulled() == world.clock.now()


@pytest.mark.usefixtures("repository")
async def test_since_image_pulled_counts_recorded_pulls(world: World) -> None:
    pulled = await world.push("pulled", "pulled")
    idle = await world.push("idle", "idle")
    world.clock.advance(timedelta(days=20))
    await world.manifests.get(REF, Reference.parse("pulled"), pull=PULLER)
    world.clock.advance(timedelta(days=5))
    text = json.dumps(
        {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "sinceImagePulled",
         "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]}, indent=4
    )  # fmt: skip
    await world.lifecycle.put_policy(ACCOUNT, NAME, text)
    [run] = await world.lifecycle.run(REF, dry_run=True)
    assert [v.digest for v in run.verdicts] == [idle]
    assert pulled not in [v.digest for v in run.verdicts]
