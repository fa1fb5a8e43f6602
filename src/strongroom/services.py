"""The composition root: builds every service from settings, for the server, the
workers and the CLI alike. Backends are chosen from explicit mappings here."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from strongroom.activity import ACTIVITY_FILE, Activity
from strongroom.audit.log import AuditLog
from strongroom.audit.sign_ins import SignInFailures
from strongroom.auth.authenticator import BasicAuthenticator
from strongroom.auth.authorizer import Authorizer
from strongroom.auth.bootstrap import Bootstrap, bootstrap
from strongroom.auth.credential_cache import CredentialCache
from strongroom.auth.iam_authorizer import IamAuthorizer
from strongroom.auth.passwords import Passwords
from strongroom.auth.policy_cache import CachedPolicySource
from strongroom.auth.secretbox import SecretBox, key_from_setting, load_or_create_master_key
from strongroom.auth.throttle import LoginThrottle, ThrottlePolicy
from strongroom.auth.tokens import TokenIssuer, load_or_create_signing_key, load_private_key
from strongroom.clock import Clock, RandomIdFactory, SteppedClock, SystemClock
from strongroom.errors import InvalidRequest
from strongroom.events.delivery import WebhookSender, parse_networks
from strongroom.events.log import EventLog
from strongroom.events.outbox import ImageDeletionOutbox, ImagePushOutbox
from strongroom.events.webhooks import DELIVER, DISPATCH, Webhooks
from strongroom.hierarchy.detection import DETECT, LineageDetector, lineage_on_push
from strongroom.hierarchy.gate import LineageGate
from strongroom.hierarchy.settings import LineageSettings
from strongroom.hierarchy.views import LineageViews
from strongroom.jobs.admin import JobAdmin
from strongroom.jobs.housekeeping import Housekeeping, HousekeepingSettings
from strongroom.jobs.probe import PROBE, ProbeJob
from strongroom.jobs.retry import RetryPolicy
from strongroom.jobs.runner import Handler, JobRunner, RunnerSettings
from strongroom.jobs.schedule import Periodic, Scheduler
from strongroom.metadata.audit import SqlAuditStore
from strongroom.metadata.continuous_scans import SqlContinuousScanStore
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from strongroom.metadata.events import SqlEventStore
from strongroom.metadata.gc import SqlGcStore
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.images import SqlImageStore
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.lifecycle import SqlLifecycleStore
from strongroom.metadata.lineage import SqlLineageStore
from strongroom.metadata.lineage_policies import SqlLineagePolicyStore
from strongroom.metadata.models import SqlModelStore
from strongroom.metadata.pull_policies import SqlPullPolicyStore
from strongroom.metadata.replication import SqlReplicationStore
from strongroom.metadata.replication_backfills import SqlBackfillStore
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.scans import SqlScanStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.metadata.vulndb import SqlVulnStore
from strongroom.metadata.webhooks import SqlWebhookStore
from strongroom.mlmodels.catalogue import ModelCatalogue
from strongroom.mlmodels.indexing import INDEX, ModelIndexer, index_on_push
from strongroom.registry.blobs import Blobs
from strongroom.registry.context import RegistryContext
from strongroom.registry.discovery import Discovery
from strongroom.registry.gc import GarbageCollector
from strongroom.registry.images import Images
from strongroom.registry.layers import Layers
from strongroom.registry.lifecycle import Lifecycle
from strongroom.registry.manifests import Manifests
from strongroom.registry.mounts import BLOB_MOUNTING_SETTING, MountingAllowed, Mounts
from strongroom.registry.policy_review import PolicyReview
from strongroom.registry.pull_gate import PullGate
from strongroom.registry.pull_policies import PullPolicies
from strongroom.registry.repositories import Repositories
from strongroom.registry.sbom_referrers import SbomReferrers
from strongroom.registry.scans import ImageScans
from strongroom.registry.uploads import Uploads
from strongroom.replication.backfill import Backfills
from strongroom.replication.destinations import Destinations
from strongroom.replication.internal import InternalCopy
from strongroom.replication.on_push import (
    REPLICATE,
    REPLICATE_DELETE,
    ImageReplicator,
    ReplicationOnDelete,
    ReplicationOnPush,
)
from strongroom.replication.status import ReplicationStatuses
from strongroom.scanning.isolation import IsolationLimits, SubprocessAnalyser
from strongroom.scanning.on_push import SCAN, ImageScanner, scan_on_push
from strongroom.scanning.reevaluate import REEVALUATE, Reevaluator, expiry_schedule
from strongroom.scanning.sbom_referrer import PRUNE as SBOM_PRUNE
from strongroom.settings import ReplicationDestination, Settings, SettingsError
from strongroom.storage.base import BlobStore
from strongroom.storage.filesystem import FilesystemBlobStore
from strongroom.storage.memory import MemoryBlobStore

logger = logging.getLogger("strongroom.replication")

BLOB_STORES: dict[str, Callable[[Settings], BlobStore]] = {
    "filesystem": lambda s: FilesystemBlobStore(s.blob_dir, durable=s.durable_writes),
    "memory": lambda s: MemoryBlobStore(),
}


@dataclass(frozen=True)
class Services:
    settings: Settings
    default_account_id: str
    metadata: SqlMetadataStore
    blob_store: BlobStore
    clock: Clock
    iam: SqlIamStore
    passwords: Passwords
    secrets: SecretBox
    tokens: TokenIssuer
    audit: AuditLog
    authenticator: BasicAuthenticator
    authorizer: Authorizer
    uploads: Uploads
    mounts: Mounts
    blobs: Blobs
    manifests: Manifests
    discovery: Discovery
    repositories: Repositories
    repository_store: SqlRepositoryStore
    policy_review: PolicyReview
    lifecycle: Lifecycle
    gc: GarbageCollector
    images: Images
    layers: Layers
    sign_in_failures: SignInFailures
    job_store: SqlJobStore
    job_admin: JobAdmin
    event_log: EventLog
    webhooks: Webhooks
    scans: ImageScans
    pull_policies: PullPolicies
    models: ModelCatalogue
    lineage: LineageViews
    lineage_settings: LineageSettings
    replication: ReplicationStatuses
    replication_destinations: Destinations
    replication_backfills: Backfills
    job_handlers: Mapping[str, Handler]
    """The job kinds this deployment runs; a queued job of another kind waits, visible."""
    job_schedule: tuple[Periodic, ...]
    activity: Activity
    """When this host's server last began a request (the job runner yields to requests)."""

    def close(self) -> None:
        self.metadata.close()
        self.activity.close()


def build_clock(settings: Settings) -> Clock:
    """The system clock; a stepped one only for tests that ask (``clock_offset_file``)."""
    if settings.clock_offset_file is not None:
        return SteppedClock(settings.clock_offset_file)
    return SystemClock()


def open_database(settings: Settings, *, migrating: bool = True, writes_on_loop: bool = False) -> Database:
    """The SQL database, migrated to the current schema; without ``migrating``, as it is
    (for a store :func:`prepare` has migrated: server workers never load Alembic). The data
    directory holds keys, the database and blobs: it is made private (0700) to the server's
    user. ``writes_on_loop``: see :class:`Database` (the job process)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(PermissionError):  # a directory someone else owns stays theirs
        settings.data_dir.chmod(0o700)
    engine = create_engine(settings.resolved_database_url)
    if migrating:
        migrate(engine)
    return Database(engine, writes_on_loop=writes_on_loop)


def open_secret_box(settings: Settings) -> SecretBox:
    """The box that encrypts access-key secrets: the configured master key, or one
    generated once into the data directory (0600)."""
    if settings.master_key is not None:
        key_id, key = key_from_setting(settings.master_key.get_secret_value())
    else:
        key_id, key = load_or_create_master_key(settings.master_key_file)
    return SecretBox({key_id: key}, key_id)


def open_token_key(settings: Settings) -> Ed25519PrivateKey:
    if settings.token_signing_key is not None:
        return load_private_key(settings.token_signing_key.get_secret_value())
    return load_or_create_signing_key(settings.token_key_file)


async def prepare(settings: Settings) -> Bootstrap:
    """Migrate the store and create the default account and administrator if missing."""
    database = open_database(settings)
    # Keys are made here, once, before any worker process starts.
    secret_box = open_secret_box(settings)
    open_token_key(settings)
    try:
        password = settings.admin_password.get_secret_value() if settings.admin_password else None
        admin_key = None
        if settings.admin_access_key_id and settings.admin_secret_access_key:
            admin_key = (settings.admin_access_key_id, settings.admin_secret_access_key.get_secret_value())
        boot = await bootstrap(
            SqlMetadataStore(database),
            SqlIamStore(database),
            Passwords(),
            SystemClock(),
            account_id=settings.account_id,
            admin_user=settings.admin_user,
            admin_password=password,
            secret_box=secret_box,
            admin_access_key=admin_key,
        )
        destinations = Destinations(SqlReplicationStore(database), secret_box, SystemClock())
        await register_from_settings(destinations, settings.replication.destinations)
        return boot
    finally:
        database.close()


async def register_from_settings(
    destinations: Destinations, entries: Sequence[ReplicationDestination]
) -> None:
    """The settings file's ``[[replication.destinations]]``, registered or replaced at each
    start as ``replication destination add`` does; one removed from the file stays
    registered until removed by the command. Neither the secret nor the entry is logged."""
    for entry in entries:
        try:
            await destinations.add(
                entry.region, entry.registry_id, entry.url, entry.kind, entry.access_key_id, entry.secret()
            )
        except InvalidRequest as error:
            where = f"{entry.region[:40]}/{entry.registry_id[:40]}"
            raise SettingsError(f"replication destination {where} in the settings: {error.message}") from None
        logger.info(
            "replication destination %s/%s registered from the settings", entry.region, entry.registry_id
        )


def blob_mounting_allowed(store: SqlRepositoryStore) -> MountingAllowed:
    """Mounts follow the account's ECR ``BLOB_MOUNTING`` setting (enabled unless set)."""

    async def allowed(account_id: str) -> bool:
        return await store.account_setting(account_id, BLOB_MOUNTING_SETTING) != "DISABLED"

    return allowed


async def build_services(
    settings: Settings, *, migrating: bool = False, writes_on_loop: bool = False
) -> Services:
    """Every service, for a store that :func:`prepare` has set up. Server workers leave
    ``migrating`` off (``serve`` migrated before starting them; Alembic would cost each
    worker about 12 MB); a command run on its own store migrates it first. The job
    process runs its writes on its loop (``writes_on_loop``, see :class:`Database`)."""
    database = open_database(settings, migrating=migrating, writes_on_loop=writes_on_loop)
    ids = RandomIdFactory()
    push_jobs = (PROBE,) if settings.job_probe_file else ()
    outbox = ImagePushOutbox(
        ids, push_jobs, settings.job_max_attempts, dispatch_kind=DISPATCH, scan=scan_on_push,
        index=index_on_push, lineage=lineage_on_push, replicate=ReplicationOnPush(settings.region),
    )  # fmt: skip
    metadata = SqlMetadataStore(database, outbox)
    iam = SqlIamStore(database)
    account_id = await metadata.default_account_id()
    if account_id is None:
        metadata.close()
        raise RuntimeError("the store has no default account; run `strongroom migrate` first")
    blob_store = BLOB_STORES[settings.storage](settings)
    clock: Clock = (
        SystemClock() if settings.clock_offset_file is None else SteppedClock(settings.clock_offset_file)
    )
    passwords = Passwords()
    secrets = open_secret_box(settings)
    tokens = TokenIssuer(
        open_token_key(settings), settings.token_service, timedelta(seconds=settings.token_ttl_seconds)
    )
    # One log, so that appends from every use case group-commit together (ADR 0012).
    audit = AuditLog(SqlAuditStore(database))
    # A repository deleted takes its SBOM referrers with it: nothing is left to prune.
    repository_deletions = ImageDeletionOutbox(ids, settings.job_max_attempts, dispatch_kind=DISPATCH)
    repository_store = SqlRepositoryStore(database, repository_deletions)
    policy_review = PolicyReview(settings.policy_findings)
    repositories = Repositories(metadata, repository_store, clock, policy_review, settings.create_on_push)
    context = RegistryContext(metadata, blob_store, clock, ids, repositories)
    uploads = Uploads(context)
    image_store = SqlImageStore(
        database,
        ImageDeletionOutbox(
            ids,
            settings.job_max_attempts,
            dispatch_kind=DISPATCH,
            prune_kind=SBOM_PRUNE,
            replicate=ReplicationOnDelete(settings.region),
        ),
    )
    scan_store = SqlScanStore(database)
    pull_policy_store = SqlPullPolicyStore(database)
    authorizer = IamAuthorizer(CachedPolicySource(iam, settings.policy_cache_seconds))
    lineage_store, lineage_policies = SqlLineageStore(database), SqlLineagePolicyStore(database)
    lineage = LineageViews(lineage_store, lineage_policies, authorizer, clock, settings.region)
    detector = LineageDetector(lineage_store, blob_store, clock, ids, dispatch_kind=DISPATCH)
    gate = PullGate(pull_policy_store, audit, clock, LineageGate(lineage, detector, lineage_policies))
    manifests, discovery = Manifests(context, image_store, gate), Discovery(context)
    lifecycle = Lifecycle(
        context,
        manifests,
        SqlLifecycleStore(database),
        repository_store,
        audit,
        settings.region,
    )
    gc = GarbageCollector(
        SqlGcStore(database), blob_store, clock, timedelta(seconds=settings.gc_grace_seconds)
    )
    job_store = SqlJobStore(database)
    housekeeping = Housekeeping(
        _housekeeping_settings(settings), clock, uploads, iam, lifecycle, gc, job_store
    )
    webhooks = build_webhooks(settings, database, secrets, job_store)
    images = Images(context, image_store, manifests, discovery)
    sboms = SbomReferrers(context, uploads, manifests, audit, settings.region)
    scanner = ImageScanner(
        metadata,
        scan_store,
        SqlVulnStore(database),
        blob_store,
        SubprocessAnalyser(IsolationLimits(max_layer_bytes=settings.scan_max_layer_bytes)),
        clock,
        ids,
        dispatch_kind=DISPATCH,
        sboms=sboms,
    )
    model_store = SqlModelStore(database)
    indexer = ModelIndexer(metadata, model_store, blob_store, clock, ids, dispatch_kind=DISPATCH)
    replication_store = SqlReplicationStore(database)
    backfill_store = SqlBackfillStore(database)
    destinations = Destinations(replication_store, secrets, clock)
    internal_copy = InternalCopy(
        metadata, blob_store, repositories, manifests, authorizer, clock, settings.region
    )
    replicator = ImageReplicator(
        destinations,
        replication_store,
        (metadata, blob_store, settings.data_dir / "replication-uploads"),
        clock,
        ids,
        settings.region,
        dispatch_kind=DISPATCH,
        internal=internal_copy,
        backfills=backfill_store,
    )  # fmt: skip
    reevaluator = Reevaluator(
        SqlContinuousScanStore(database), scan_store, metadata, scanner, clock, settings.scan_rescan_duration
    )
    return Services(
        settings=settings,
        default_account_id=account_id,
        metadata=metadata,
        blob_store=blob_store,
        clock=clock,
        iam=iam,
        passwords=passwords,
        secrets=secrets,
        authenticator=BasicAuthenticator(
            iam,
            passwords,
            secrets,
            clock,
            CredentialCache(iam, clock, recheck=settings.credential_cache_seconds),
            account_id,
            LoginThrottle(
                ThrottlePolicy(
                    slow_after=settings.login_slow_after,
                    refuse_after=settings.login_refuse_after,
                    lockout=settings.login_lockout_seconds,
                )
            ),
            login_tokens=tokens,
        ),
        authorizer=authorizer,
        audit=audit,
        tokens=tokens,
        repositories=repositories,
        repository_store=repository_store,
        policy_review=policy_review,
        lifecycle=lifecycle,
        gc=gc,
        uploads=uploads,
        mounts=Mounts(context, blob_mounting_allowed(repository_store)),
        blobs=Blobs(context, gate),
        manifests=manifests,
        discovery=discovery,
        images=images,
        layers=Layers(context, uploads, image_store),
        sign_in_failures=SignInFailures(timedelta(seconds=settings.sign_in_audit_window_seconds)),
        job_store=job_store,
        job_admin=JobAdmin(job_store, clock, audit),
        event_log=EventLog(SqlEventStore(database)),
        webhooks=webhooks,
        scans=ImageScans(context, images, scan_store, repository_store),
        pull_policies=PullPolicies(pull_policy_store, audit, clock, ids, settings.region),
        models=ModelCatalogue(model_store, authorizer, settings.region),
        lineage=lineage,
        lineage_settings=LineageSettings(
            lineage_policies, metadata, repository_store, audit, clock, settings.region
        ),
        replication=ReplicationStatuses(images, replication_store),
        replication_destinations=destinations,
        replication_backfills=Backfills(backfill_store, repository_store, clock, ids, settings.region),
        job_handlers={
            **_job_handlers(settings, housekeeping, webhooks),
            SCAN: scanner,
            REEVALUATE: reevaluator,
            SBOM_PRUNE: sboms.prune_job,
            INDEX: indexer,
            DETECT: detector,
            REPLICATE: replicator,
            REPLICATE_DELETE: replicator.delete,
        },
        job_schedule=(*housekeeping.schedule(), expiry_schedule()),
        activity=Activity(settings.data_dir / ACTIVITY_FILE),
    )


def _job_handlers(settings: Settings, housekeeping: Housekeeping, webhooks: Webhooks) -> dict[str, Handler]:
    """The job kinds this deployment runs, by kind."""
    handlers = housekeeping.handlers()
    handlers.update({DISPATCH: webhooks.dispatch, DELIVER: webhooks.deliver})
    if settings.job_probe_file is not None:
        handlers[PROBE] = ProbeJob(settings.job_probe_file)
    return handlers


def build_webhooks(settings: Settings, database: Database, box: SecretBox, jobs: SqlJobStore) -> Webhooks:
    return Webhooks(
        SqlWebhookStore(database),
        jobs,
        SqlEventStore(database),
        WebhookSender(parse_networks(settings.webhook_allowed_networks)),
        box,
        SystemClock(),
        RandomIdFactory(),
        source=settings.resolved_public_url,
        disable_after=settings.webhook_disable_after_failures,
    )


def _housekeeping_settings(settings: Settings) -> HousekeepingSettings:
    return HousekeepingSettings(
        upload_expiry=timedelta(seconds=settings.upload_expiry_seconds),
        sweep_interval=timedelta(seconds=settings.upload_sweep_seconds),
        lifecycle_interval=timedelta(seconds=settings.lifecycle_interval_seconds),
        job_retention=timedelta(seconds=settings.job_retention_seconds),
        event_retention=timedelta(seconds=settings.event_retention_seconds),
    )


def build_job_runner(services: Services, concurrency: int) -> JobRunner:
    """A runner of every registered job kind that also schedules the periodic ones;
    its owner id names the host and process, for ``jobs show``."""
    settings = services.settings
    return JobRunner(
        services.job_store,
        services.job_handlers,
        services.clock,
        RunnerSettings(
            concurrency=concurrency,
            lease=timedelta(seconds=settings.job_lease_seconds),
            poll_seconds=settings.job_poll_seconds,
            shutdown_grace_seconds=settings.job_shutdown_grace_seconds,
            retry=RetryPolicy(timedelta(seconds=settings.job_retry_base_seconds)),
            rest_factor=settings.job_rest_factor,
        ),
        owner=f"{socket.gethostname()}:{os.getpid()}:{RandomIdFactory().new_id()[:8]}",
        random=random.random,
        scheduler=Scheduler(services.job_store, services.clock, services.job_schedule),
        activity=services.activity,
    )
