"""The SQL schema. Alembic migrations in ``migrations/versions`` create exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _byte_ordered(length: int) -> sa.types.TypeEngine[str]:
    """Names and tags sort in byte order (distribution-spec §8.1); PostgreSQL's
    default collation would sort by locale."""
    return sa.String(length).with_variant(sa.VARCHAR(length, collation="C"), "postgresql")


DIGEST = sa.String(160)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("is_default", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(32), nullable=False, unique=True),
    # IAM's unique id (``AIDA…``), ``aws:userid``.
    sa.Column("path", sa.String(512), nullable=False, server_default="/"),
    sa.Column("password_hash", sa.String(255), nullable=True),
    # Only for users who sign in with a password (the bootstrap administrator).
    sa.Column("credential_version", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "name"),
)

roles = sa.Table(
    "roles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("role_id", sa.String(32), nullable=False, unique=True),
    sa.Column("path", sa.String(512), nullable=False, server_default="/"),
    sa.Column("trust_policy", sa.Text, nullable=False),
    sa.Column("trust_principals", sa.Text, nullable=True),
    # The unique ids of the users and roles the trust policy names (metadata/principals.py).
    sa.Column("description", sa.String(1000), nullable=True),
    sa.Column("max_session_seconds", sa.Integer, nullable=False, server_default="3600"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "name"),
)

access_keys = sa.Table(
    "access_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    # ``AKIA…`` for a user's long-term key, ``ASIA…`` for temporary credentials.
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    sa.Column("role_id", sa.ForeignKey("roles.id", ondelete="CASCADE"), nullable=True),
    sa.Column("session_name", sa.String(64), nullable=True),
    sa.Column("secret_ciphertext", sa.LargeBinary, nullable=False),
    # The secret, encrypted with the master key (SigV4 needs the plaintext).
    sa.Column("session_token_hash", sa.String(64), nullable=True),
    sa.Column("status", sa.String(8), nullable=False, server_default="Active"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Column("last_used_at", UtcDateTime, nullable=True),
    sa.CheckConstraint("(user_id IS NULL) != (role_id IS NULL)", name="owner"),
    sa.Index(None, "user_id"),
)

managed_policies = sa.Table(
    "managed_policies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("policy_id", sa.String(32), nullable=False, unique=True),
    sa.Column("path", sa.String(512), nullable=False, server_default="/"),
    sa.Column("description", sa.String(1000), nullable=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "name"),
)

policy_attachments = sa.Table(
    "policy_attachments",
    metadata,
    sa.Column("policy_id", sa.ForeignKey("managed_policies.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("principal_kind", sa.String(8), primary_key=True),  # "user" or "role"
    sa.Column("principal_id", sa.Integer, primary_key=True),
    sa.Index(None, "principal_kind", "principal_id"),
)

inline_policies = sa.Table(
    "inline_policies",
    metadata,
    sa.Column("principal_kind", sa.String(8), primary_key=True),  # "user" or "role"
    sa.Column("principal_id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
)

registry_policies = sa.Table(
    "registry_policies",
    metadata,
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("principals", sa.Text, nullable=True),
    # The unique ids of the users and roles the policy names (metadata/principals.py).
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

repositories = sa.Table(
    "repositories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", _byte_ordered(255), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("policy", sa.Text, nullable=True),
    # The repository policy (IAM JSON), if any: what the ECR API and ``/v2/`` obey.
    sa.Column("policy_principals", sa.Text, nullable=True),
    # The unique ids of the users and roles it names (metadata/principals.py).
    sa.Column("public_policy", sa.Text, nullable=True),
    # The policy set through ECR Public: what ECR Public obeys (docs/adr/0004).
    sa.Column("public_policy_principals", sa.Text, nullable=True),
    sa.Column("public", sa.Boolean, nullable=False, server_default=sa.false()),
    # Public repositories may be pulled anonymously (DESIGN §10).
    sa.Column("tag_mutability", sa.String(32), nullable=False, server_default="MUTABLE"),
    # ECR ``imageTagMutability``: MUTABLE, IMMUTABLE or one of the ``*_WITH_EXCLUSION`` modes.
    sa.Column("tag_mutability_filters", sa.Text, nullable=True),
    # The exclusion filters of those modes, as a JSON list of wildcard patterns.
    sa.Column("scan_on_push", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("encryption_type", sa.String(16), nullable=False, server_default="AES256"),
    sa.Column("kms_key", sa.String(2048), nullable=True),
    sa.Column("lifecycle_policy", sa.Text, nullable=True),
    # The ECR lifecycle policy (normalised JSON), if any.
    sa.Column("lifecycle_evaluated_at", UtcDateTime, nullable=True),
    sa.Column("catalog_data", sa.Text, nullable=True),
    # ECR Public repository catalog data (JSON), for public repositories.
    sa.UniqueConstraint("account_id", "name"),
)

repository_tags = sa.Table(
    "repository_tags",
    metadata,
    # Resource tags (``TagResource``), not image tags.
    sa.Column("repository_id", sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

account_settings = sa.Table(
    "account_settings",
    metadata,
    # Registry-wide configuration of an account, one JSON document per name:
    # ``scanning``, ``replication``, ``public-catalog`` and ECR account settings.
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

creation_templates = sa.Table(
    "creation_templates",
    metadata,
    # ECR repository creation templates: defaults for repositories made for the caller.
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("prefix", sa.String(256), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

lifecycle_previews = sa.Table(
    "lifecycle_previews",
    metadata,
    # The last ``StartLifecyclePolicyPreview`` of a repository and its result.
    sa.Column("repository_id", sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("results", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

repository_blobs = sa.Table(
    "repository_blobs",
    metadata,
    sa.Column("repository_id", sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("digest", DIGEST, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index(None, "digest"),
)

manifests = sa.Table(
    "manifests",
    metadata,
    sa.Column("repository_id", sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("digest", DIGEST, primary_key=True),
    sa.Column("media_type", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("subject_digest", DIGEST, nullable=True),
    sa.Column("artifact_type", sa.String(255), nullable=True),
    sa.Column("annotations", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_pulled_at", UtcDateTime, nullable=True),
    # ECR ``lastRecordedPullTime``, refreshed at most hourly.
    sa.Column("replicated", sa.Boolean, server_default=sa.false(), nullable=False),
    # Stored by a replication (ADR 0020): a backfill here skips it; a client's push of the
    # same manifest clears it.
    sa.Index(None, "repository_id", "subject_digest"),
)

manifest_references = sa.Table(
    "manifest_references",
    metadata,
    sa.Column("repository_id", sa.Integer, primary_key=True),
    sa.Column("manifest_digest", DIGEST, primary_key=True),
    sa.Column("child_digest", DIGEST, primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),  # "blob" or "manifest"
    sa.ForeignKeyConstraint(
        ["repository_id", "manifest_digest"],
        ["manifests.repository_id", "manifests.digest"],
        ondelete="CASCADE",
    ),
    sa.Index(None, "repository_id", "child_digest"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("repository_id", sa.Integer, primary_key=True),
    sa.Column("name", _byte_ordered(128), primary_key=True),
    sa.Column("manifest_digest", DIGEST, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.ForeignKeyConstraint(
        ["repository_id", "manifest_digest"],
        ["manifests.repository_id", "manifests.digest"],
        ondelete="CASCADE",
    ),
    sa.Index(None, "repository_id", "manifest_digest"),
)

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("repository_id", sa.ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # The bytes the session holds, advanced only by compare-and-set (registry/uploads.py),
    # and the request writing now (None: nobody); its claim lapses with updated_at.
    sa.Column("size", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("writer", sa.String(32), nullable=True),
    sa.Index(None, "updated_at"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    # The event as canonical JSON: principal, action, resource, source, decision.
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # sha256 over prev_hash and record: each event is chained to the one before.
)

# OSV advisories imported by ``strongroom vulndb import``: one row per record (its JSON
# kept whole), and the (ecosystem, normalised name) keys it is filed under, which is
# what matching looks up. A withdrawn record keeps its row and loses its keys.
vulndb_records = sa.Table(
    "vulndb_records",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("modified", UtcDateTime, nullable=False),
    sa.Column("withdrawn", sa.Boolean, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("imported_at", UtcDateTime, nullable=False),
)

vulndb_packages = sa.Table(
    "vulndb_packages",
    metadata,
    sa.Column("ecosystem", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("record_id", sa.ForeignKey("vulndb_records.id", ondelete="CASCADE"), primary_key=True),
    sa.Index(None, "record_id"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    # The durable job queue (DESIGN §5). Rows are written in the transaction of the
    # change that causes them (the outbox) and claimed by runners under a lease.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    # A JSON object: the handler's input.
    sa.Column("idempotency_key", sa.String(255), nullable=True, unique=True),
    # Enqueueing a key that exists is a no-op: a change enqueued twice runs once.
    sa.Column("state", sa.String(16), nullable=False),
    # queued, running, succeeded, failed (waiting to retry), dead, cancelled.
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("run_at", UtcDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Index(None, "state", "run_at"),
    sa.Index(None, "kind", "state"),
)

events = sa.Table(
    "events",
    metadata,
    # What happened, as the event catalogue (strongroom.events.catalogue) names it.
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("subject", sa.String(512), nullable=True),
    # What the event is about: a repository name, a job id.
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    # One index only: each one more measurably slowed concurrent pushes on PostgreSQL.
    sa.Index(None, "at"),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    # Subscriptions: events of one account delivered to a URL (Standard Webhooks).
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", sa.Text, nullable=False),
    # A JSON list of catalogue names.
    sa.Column("repository_prefix", sa.String(256), nullable=True),
    sa.Column("secret", sa.LargeBinary, nullable=False),
    # The signing secret, encrypted with the master key (auth.secretbox).
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index(None, "account_id"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    # Each attempt to deliver an event: the receiver's status and latency, or the error.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("webhook_id", sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index(None, "webhook_id", "id"),
)

image_scans = sa.Table(
    "image_scans",
    metadata,
    # The last scan of each image (ECR ``imageScanStatus``); goes with its manifest.
    sa.Column("repository_id", sa.Integer, primary_key=True),
    sa.Column("image_digest", DIGEST, primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    # PENDING, IN_PROGRESS, COMPLETE, FAILED, UNSUPPORTED_IMAGE, SCAN_ELIGIBILITY_EXPIRED.
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("manual_requested_at", UtcDateTime, nullable=True),
    # The last StartImageScan: ECR allows one per image per day.
    sa.Column("started_at", UtcDateTime, nullable=True),
    sa.Column("completed_at", UtcDateTime, nullable=True),
    sa.Column("vulnerability_source_updated_at", UtcDateTime, nullable=True),
    sa.Column("layers_analysed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("layers_cached", sa.Integer, nullable=False, server_default="0"),
    # How many of the image's layers the last scan read, and how many it found analysed already.
    sa.Column("made_by_registry", sa.Boolean, nullable=False, server_default=sa.false()),
    # The registry's own SBOM of a scanned image: COMPLETE when stored, never re-evaluated (ADR 0016).
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.ForeignKeyConstraint(
        ["repository_id", "image_digest"], ["manifests.repository_id", "manifests.digest"], ondelete="CASCADE"
    ),
)

scan_findings = sa.Table(
    "scan_findings",
    metadata,
    # Findings of each image, open (``closed_at`` unset) or closed by a later scan.
    sa.Column("repository_id", sa.Integer, primary_key=True),
    sa.Column("image_digest", DIGEST, primary_key=True),
    sa.Column("finding_key", sa.String(64), primary_key=True),
    # sha256 of what identifies the finding: vulnerability, package, version, platform
    # (or the model rule, file and layer), so a rescan finds the same one again.
    sa.Column("kind", sa.String(16), nullable=False),
    # vulnerability | model
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    # A JSON object: everything both response shapes need.
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("closed_at", UtcDateTime, nullable=True),
    sa.ForeignKeyConstraint(
        ["repository_id", "image_digest"], ["manifests.repository_id", "manifests.digest"], ondelete="CASCADE"
    ),
)

layer_inventories = sa.Table(
    "layer_inventories",
    metadata,
    # What a layer holds, analysed once per analyser version and shared by every image
    # with that layer (the scan engine's persistent cache; re-evaluation reads it).
    sa.Column("layer_digest", DIGEST, primary_key=True),
    sa.Column("analyser_version", sa.String(32), primary_key=True),
    sa.Column("inventory", sa.Text, nullable=False),
    # analysis.codec's encoding of a LayerInventory.
    sa.Column("created_at", UtcDateTime, nullable=False),
)

pull_policies = sa.Table(
    "pull_policies",
    metadata,
    # What the pull gate refuses in one repository, or in every repository under a prefix;
    # the most specific applies (registry/pull_gate.py).
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    # repository | prefix
    sa.Column("name", _byte_ordered(256), nullable=False),
    sa.Column("max_severity", sa.String(16), nullable=True),
    sa.Column("unsafe_model_severity", sa.String(16), nullable=True),
    sa.Column("block_unscanned", sa.Boolean, nullable=False),
    sa.Column("updated_by", sa.String(2048), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # Its leading column also answers "has the account any pull policy?" on every pull.
    sa.UniqueConstraint("account_id", "scope", "name"),
)

accepted_risks = sa.Table(
    "accepted_risks",
    metadata,
    # Findings a pull policy does not hold against a repository's images, until they expire.
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("repository_name", _byte_ordered(256), nullable=False),
    sa.Column("finding_id", sa.String(255), nullable=False),
    # A finding's name (CVE id, model rule), one of its aliases, or its key.
    sa.Column("image_digest", DIGEST, nullable=True),
    # Only this image; NULL for every image of the repository.
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("accepted_by", sa.String(2048), nullable=False),
    sa.Column("accepted_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Index(None, "account_id", "repository_name"),
)

models = sa.Table(
    "models",
    metadata,
    # What each model artifact of a repository is (the model index, ADR 0019); goes with
    # its manifest. Its tags are the manifest's, read from ``tags`` when listing.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("repository_id", sa.Integer, nullable=False),
    sa.Column("manifest_digest", DIGEST, nullable=False),
    sa.Column("name", sa.String(256), nullable=True),
    sa.Column("version", sa.String(128), nullable=True),
    sa.Column("format", sa.String(32), nullable=True),
    sa.Column("architecture", sa.String(128), nullable=True),
    sa.Column("parameter_count", sa.BigInteger, nullable=True),
    sa.Column("pushed_at", UtcDateTime, nullable=False),
    sa.Column("indexed_at", UtcDateTime, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    # A JSON object: every fact recorded, as the admin API renders it.
    sa.UniqueConstraint("repository_id", "manifest_digest"),
    sa.ForeignKeyConstraint(
        ["repository_id", "manifest_digest"],
        ["manifests.repository_id", "manifests.digest"],
        ondelete="CASCADE",
    ),
)

model_licenses = sa.Table(
    "model_licenses",
    metadata,
    # A model's licences (SPDX ids or names, lower-cased), one row each, for the filter.
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("license", sa.String(128), primary_key=True),
)

replication_destinations = sa.Table(
    "replication_destinations",
    metadata,
    # Where a replication destination (a region and registry id, as a rule names it)
    # lives: another Strongroom instance or any OCI registry, and how to sign in there.
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("registry_id", sa.String(12), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    # strongroom | oci
    sa.Column("access_key_id", sa.String(128), nullable=False),
    sa.Column("secret", sa.LargeBinary, nullable=False),
    # The secret, encrypted with the master key (auth.secretbox).
    sa.Column("created_at", UtcDateTime, nullable=False),
)

replication_statuses = sa.Table(
    "replication_statuses",
    metadata,
    # Each image's replication to each destination (DescribeImageReplicationStatus).
    sa.Column("repository_id", sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("image_digest", sa.String(160), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("registry_id", sa.String(12), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    # IN_PROGRESS | COMPLETE | FAILED
    sa.Column("failure_code", sa.String(64), nullable=True),
    sa.Column("failure_reason", sa.Text, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

replication_backfills = sa.Table(
    "replication_backfills",
    metadata,
    # StartReplicationBackfill: an account's existing images queued to one destination.
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("registry_id", sa.String(12), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # IN_PROGRESS | COMPLETE | STOPPED
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Index(None, "account_id", "started_at"),
)

replication_backfill_results = sa.Table(
    "replication_backfill_results",
    metadata,
    # Each image a backfill queued, once its job ended (DescribeReplicationBackfillResults).
    sa.Column("backfill_id", sa.ForeignKey("replication_backfills.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("repository", sa.String(256), primary_key=True),
    sa.Column("image_digest", sa.String(160), primary_key=True),
    sa.Column("image_tag", sa.String(128), primary_key=True),
    # "" for an image queued by digest
    sa.Column("status", sa.String(16), nullable=False),
    # COMPLETE | FAILED
    sa.Column("failure_code", sa.String(64), nullable=True),
)

lineage_images = sa.Table(
    "lineage_images",
    metadata,
    # What each image manifest is built on (docs/adr/0021), recorded by the lineage job;
    # goes with its manifest, and stays when tags move (the report follows the tags).
    sa.Column("repository_id", sa.Integer, primary_key=True),
    sa.Column("digest", DIGEST, primary_key=True),
    sa.Column("layer_count", sa.Integer, nullable=False),
    sa.Column("chain_hash", sa.String(64), nullable=True),
    # lineage.chains' hash of the whole layer list: what a later image's prefixes look up.
    sa.Column("parent_account_id", sa.String(12), nullable=True),
    sa.Column("parent_repository_id", sa.Integer, nullable=True),
    # NULL for a base outside this registry (named by annotations only).
    sa.Column("parent_name", sa.String(512), nullable=True),
    sa.Column("parent_digest", DIGEST, nullable=True),
    sa.Column("parent_tag", _byte_ordered(128), nullable=True),
    # The tag the image was built from: whose moving raises lineage.base-updated.
    sa.Column("method", sa.String(16), nullable=True),
    # annotation | layers
    sa.Column("parent_layers", sa.Integer, nullable=True),
    # How many layers the parent has (what a base recorded later must beat to replace it).
    sa.Column("pushed_at", UtcDateTime, nullable=False),
    sa.Column("detected_at", UtcDateTime, nullable=False),
    sa.Column("layers_by", sa.String(16), nullable=True),
    # diff_ids | digests: what chain_hash and the prefixes hash (NULL: recorded by digests
    # before migration 0015).
    sa.Column("digest_chain_hash", sa.String(64), nullable=True),
    # A row by diff ids: the chain of its compressed digests, which an image whose config
    # cannot be read looks up (NULL otherwise: chain_hash is that chain).
    sa.Column("pushed_tag", _byte_ordered(128), nullable=True),
    # The tag the image was pushed with: the tag its dependents were built from when no
    # tag names it any more by the time they are recorded (a base tag moved meanwhile).
    sa.ForeignKeyConstraint(
        ["repository_id", "digest"], ["manifests.repository_id", "manifests.digest"], ondelete="CASCADE"
    ),
    sa.Index(None, "chain_hash"),
    sa.Index(None, "digest_chain_hash"),
    sa.Index(None, "parent_repository_id", "parent_digest"),
    sa.Index(None, "parent_repository_id", "parent_tag"),
)

lineage_prefixes = sa.Table(
    "lineage_prefixes",
    metadata,
    # Every proper prefix of each image's layer list, by chain hash: a base recorded after
    # the images built on it finds them in one indexed lookup of its own chain hash. (The
    # whole list is lineage_images.chain_hash; rows written before 2026-12-07 hold it here
    # too, and the reads skip it.)
    sa.Column("prefix_hash", sa.String(64), primary_key=True),
    sa.Column("repository_id", sa.Integer, primary_key=True),
    sa.Column("digest", DIGEST, primary_key=True),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.ForeignKeyConstraint(
        ["repository_id", "digest"],
        ["lineage_images.repository_id", "lineage_images.digest"],
        ondelete="CASCADE",
    ),
)

lineage_policies = sa.Table(
    "lineage_policies",
    metadata,
    # Patch policies (lineage.compliance) of one repository or of every repository under a
    # prefix; the most specific applies.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    # repository | prefix
    sa.Column("name", _byte_ordered(256), nullable=False),
    sa.Column("max_base_age_seconds", sa.BigInteger, nullable=True),
    sa.Column("max_rebuild_delay_seconds", sa.BigInteger, nullable=True),
    sa.Column("no_inherited_critical", sa.Boolean, nullable=False),
    sa.Column("allowed_bases", sa.Text, nullable=True),
    # A JSON list of repository names and prefixes (ending in ``*``).
    sa.Column("enforce", sa.Boolean, nullable=False),
    # Whether the pull gate refuses images that break it.
    sa.Column("updated_by", sa.String(2048), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "scope", "name"),
)
