"""Settings: the only module that reads the environment.

Precedence: command-line flag > ``STRONGROOM_*`` environment variable > TOML file
(``--config``) > default (DESIGN §10).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "STRONGROOM_"
PROMETHEUS_MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Set (not read) by ``strongroom serve`` from ``metrics_dir``, for prometheus-client."""


class SettingsError(ValueError):
    pass


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "strongroom"


class ReplicationDestination(BaseModel):
    """A ``[[replication.destinations]]`` table: registered (or replaced) at each start,
    as ``strongroom replication destination add`` does (ADR 0020, decision 24). The secret
    is given inline or, better, as a file (``secret_access_key_file``); never both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    registry_id: str
    url: str
    kind: Literal["strongroom", "oci"] = "strongroom"
    access_key_id: str
    secret_access_key: SecretStr | None = None
    secret_access_key_file: Path | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> ReplicationDestination:
        if (self.secret_access_key is None) == (self.secret_access_key_file is None):
            raise ValueError("give one of secret_access_key and secret_access_key_file")
        return self

    def secret(self) -> str:
        """The secret in clear (the file's content without its final newline)."""
        if self.secret_access_key is not None:
            return self.secret_access_key.get_secret_value()
        assert self.secret_access_key_file is not None
        try:
            return self.secret_access_key_file.read_text().rstrip("\r\n")
        except OSError as error:
            raise SettingsError(f"cannot read {self.secret_access_key_file}: {error.strerror}") from None


class ReplicationSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    destinations: tuple[ReplicationDestination, ...] = ()


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(5000, ge=0, le=65535)
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    """Default: SQLite in the data directory."""
    public_url: str | None = None
    """Base URL clients reach the registry at. Default: ``http(s)://<host>:<port>``."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    region: str = "us-east-1"
    account_id: str | None = Field(None, pattern=r"^[0-9]{12}$")
    """Id of the default account, used only when it is first created."""
    admin_user: str = Field("admin", min_length=1, max_length=64)
    admin_password: SecretStr | None = None
    """Password of the administrator created at first start; generated when unset."""
    admin_access_key_id: str | None = Field(None, pattern=r"^AKIA[A-Z0-9]{16}$")
    admin_secret_access_key: SecretStr | None = None
    """The administrator's access key at first start (both or neither); generated when unset."""
    master_key: SecretStr | None = None
    """Base64 AES-256 key that encrypts access-key secrets; default: generated into
    ``<data-dir>/master.key`` (0600). Processes sharing a database must share it."""
    token_signing_key: SecretStr | None = None
    """PEM Ed25519 private key that signs bearer tokens; default: generated into
    ``<data-dir>/token-signing.key`` (0600). Processes sharing a database must share it."""
    token_ttl_seconds: int = Field(300, ge=60, le=3600)
    storage: Literal["filesystem", "memory"] = "filesystem"
    durable_writes: bool = True
    """fsync blobs before publishing them."""
    workers: int = Field(default_factory=lambda: min(os.cpu_count() or 1, 8), ge=1, le=64)
    """Server processes; one per CPU core, at most 8, by default (see docs/adr/0002)."""
    upload_expiry_seconds: int = Field(24 * 3600, ge=1)
    upload_sweep_seconds: float = Field(300.0, gt=0)
    lifecycle_interval_seconds: int = Field(3600, ge=0)
    """How often each repository's lifecycle policy is applied (then garbage is
    collected); 0 disables the job (``strongroom lifecycle run`` still works)."""
    gc_grace_seconds: int = Field(3600, ge=0)
    """Garbage collection spares blob links and files younger than this."""
    credential_cache_seconds: float = Field(1.0, ge=0)
    """How long a process trusts a credential it verified before re-reading its row (no
    hash); a deactivated or deleted key, a deleted user or a changed password is refused
    within it in every process (docs/adr/0005)."""
    jobs: bool = True
    """The server runs job runners itself, in a process of its own beside the HTTP workers
    (strongroom.cli.job_process); ``--no-jobs`` leaves jobs to ``strongroom jobs run``."""
    job_concurrency: int = Field(default_factory=lambda: min(os.cpu_count() or 1, 8), ge=1, le=256)
    """Jobs run at once by ``strongroom jobs run``, and by a server's job process."""
    job_lease_seconds: float = Field(60.0, ge=0.5)
    """A claimed job whose runner stops renewing it for this long is taken by another runner."""
    job_poll_seconds: float = Field(1.0, gt=0)
    """How often an idle runner looks for due jobs."""
    job_max_attempts: int = Field(8, ge=1, le=100)
    """Attempts before a failing job is dead."""
    job_retry_base_seconds: float = Field(10.0, gt=0)
    """The delay before a failed job's second attempt; it doubles with each attempt (with jitter)."""
    job_rest_factor: float = Field(4.0, ge=0, le=100)
    """While the server answers requests, jobs run one at a time with a rest of this many
    times the last job's duration between them (at most 1 s): background work (scans,
    lineage, replication) then takes about a fifth of a core, and all it can once the
    requests stop; 0 runs jobs at full concurrency always (strongroom.jobs.runner)."""
    job_shutdown_grace_seconds: float = Field(10.0, ge=0)
    """How long a stopping runner lets running jobs finish before giving them back to the queue."""
    job_retention_seconds: int = Field(7 * 24 * 3600, ge=60)
    """Finished jobs are forgotten after this long."""
    event_retention_seconds: int = Field(30 * 24 * 3600, ge=60)
    """Events are forgotten after this long."""
    webhook_allowed_networks: str = ""
    """Comma-separated CIDR blocks webhooks may reach although not public (e.g. ``10.0.0.0/8``);
    by default loopback, private and link-local addresses are refused."""
    webhook_disable_after_failures: int = Field(100, ge=1)
    """A subscription whose deliveries fail this many times in a row is disabled."""
    metrics_dir: Path | None = None
    """Where server processes keep request metrics for one another (prometheus-client's
    multiprocess mode); default ``<data-dir>/metrics``, emptied at every start."""
    metrics_token: SecretStr | None = None
    """A bearer token that opens ``/metrics`` to clients outside loopback and the allowed networks."""
    metrics_allowed_networks: str = ""
    """Comma-separated CIDR blocks whose clients may scrape ``/metrics`` without the token."""
    job_probe_file: Path | None = None
    """Tests only: registers the ``probe`` job kind, which records its runs to this file,
    and queues one per pushed image (strongroom.jobs.probe)."""
    clock_offset_file: Path | None = None
    """Tests only: the server's clock runs this file's number of seconds ahead of the
    system clock, re-read when the file changes (strongroom.clock.SteppedClock)."""
    policy_cache_seconds: float = Field(1.0, ge=0)
    """How long a process reuses policies it read; a policy change takes effect within it."""
    login_slow_after: int = Field(5, ge=1)
    """Failed sign-ins (per address, per credential, in 5 minutes) answered without delay."""
    login_refuse_after: int = Field(20, ge=2)
    """Failed sign-ins after which the address or credential is refused for a while."""
    login_lockout_seconds: float = Field(900.0, ge=1)
    create_on_push: Literal["always", "template", "never"] = "always"
    """Whether a push to a missing repository creates it: always, only where a repository
    creation template applied for CREATE_ON_PUSH matches, or never. The caller needs
    ``ecr:CreateRepository`` in every mode."""
    policy_findings: Literal["warn", "refuse"] = "warn"
    """What findings do to a repository or registry policy being set: ``warn`` stores every
    policy ECR would (findings are logged and audited); ``refuse`` makes security
    warnings and warnings errors (registry/policy_review.py)."""
    sign_in_audit_window_seconds: float = Field(60.0, ge=1, le=3600)
    """Failed sign-ins of one address and claimed identity within this are audited as
    the first one and, when it closes, one event with their count."""
    scan_max_layer_bytes: int = Field(64 * 1024**3, ge=1024)
    """A layer that decompresses to more than this fails its scan (decompression bombs)."""
    scan_rescan_duration: Literal["DAYS_14", "DAYS_30", "DAYS_60", "DAYS_90", "DAYS_180", "LIFETIME"] = (
        "LIFETIME"
    )
    """How long continuous scanning keeps re-evaluating an image after it was last pushed or
    pulled (Amazon Inspector's ``ecrConfiguration.rescanDuration`` values); beyond it the
    image's scan status becomes ``SCAN_ELIGIBILITY_EXPIRED`` (docs/adr/0015)."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    replication: ReplicationSettings = Field(default_factory=ReplicationSettings)
    """``[[replication.destinations]]`` tables of the settings file only."""

    @field_validator("webhook_allowed_networks", "metrics_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip())  # a ValueError names the bad block
        return value

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        if (self.admin_access_key_id is None) != (self.admin_secret_access_key is None):
            raise ValueError("admin_access_key_id and admin_secret_access_key must be given together")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'strongroom.db'}"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def resolved_metrics_dir(self) -> Path:
        return self.metrics_dir or self.data_dir / "metrics"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def token_key_file(self) -> Path:
        return self.data_dir / "token-signing.key"

    @property
    def token_service(self) -> str:
        """The ``service`` (JWT audience) of bearer tokens: the public URL's host[:port]."""
        return self.resolved_public_url.split("://", 1)[1].split("/", 1)[0]

    @property
    def master_key_file(self) -> Path:
        return self.data_dir / "master.key"


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Merge file, environment and flags (flags given as None are ignored)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = config_file or _env_path(environ, "CONFIG")
    if config_file is not None:
        try:
            values.update(tomllib.loads(config_file.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise SettingsError(f"cannot read settings file {config_file}: {error}") from None
    for field in Settings.model_fields.keys() - {"replication"}:  # a table: the file only
        value = environ.get(ENV_PREFIX + field.upper())
        if value is not None and value != "":
            values[field] = value
    values.update({key: value for key, value in flags.items() if value is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        if any(problem["loc"][:1] == ("replication",) for problem in error.errors()):
            # Never the input: a destination's table holds its secret.
            found = (
                f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
                for problem in error.errors(include_input=False, include_url=False)
            )
            raise SettingsError("invalid settings: " + "; ".join(found)) from None
        raise SettingsError(str(error)) from None


def _env_path(environ: Mapping[str, str], name: str) -> Path | None:
    value = environ.get(ENV_PREFIX + name)
    return Path(value) if value else None
