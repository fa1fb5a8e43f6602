"""Where the ``jobs``, ``events``, ``webhook``, ``scan`` and pull-policy commands act: a remote server's
``/admin/v1`` when an endpoint is given (``--endpoint URL`` or ``STRONGROOM_ENDPOINT``),
else the store the settings name, as the local operator. Both sides implement the one
:class:`strongroom.client.admin.AdminApi`; the commands are written once against it.

Remote credentials: an access key (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
optionally ``AWS_SESSION_TOKEN``; requests signed with SigV4 for ``AWS_REGION``), or a user
(``--user`` / ``STRONGROOM_USER``) whose password (``STRONGROOM_PASSWORD``, else asked for)
is exchanged at the server's ``/token`` for a bearer token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import click

from strongroom.audit.log import AuditEvent, AuditLog
from strongroom.auth.management import LOCAL_OPERATOR
from strongroom.cli.store import run_on_store
from strongroom.clock import RandomIdFactory, SystemClock
from strongroom.errors import InvalidRequest
from strongroom.events.log import event_document
from strongroom.events.webhooks import Webhooks, delivery_document, webhook_document
from strongroom.hierarchy.settings import policy_document as lineage_policy_document
from strongroom.hierarchy.settings import policy_of
from strongroom.hierarchy.views import Caller
from strongroom.jobs.admin import JobAdmin, job_document
from strongroom.metadata.audit import SqlAuditStore
from strongroom.metadata.database import Database
from strongroom.metadata.events import SqlEventStore
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.lineage_policies import SqlLineagePolicyStore
from strongroom.metadata.pull_policies import SqlPullPolicyStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.names import RepositoryRef
from strongroom.registry.images import ImageId
from strongroom.registry.pull_policies import Actor, PullPolicies, expiry_of, policy_document, risk_document
from strongroom.scanning.findings import scan_document
from strongroom.services import Services, build_clock, build_services, build_webhooks, open_secret_box
from strongroom.settings import Settings

if TYPE_CHECKING:  # the client (httpx, and the pygments httpx's CLI loads) is for remote use only
    from strongroom.client.admin import AccessKey, AdminApi, Document, Login

T = TypeVar("T")
_REMOTE = "strongroom.remote"
ALL_FINDINGS = 1_000_000
_OPERATOR = Caller(None, {})
_SINCE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _remember(context: click.Context, parameter: click.Parameter, value: Any) -> Any:
    context.meta.setdefault(_REMOTE, {})[parameter.name] = value
    return value


def remote_options(function: Any) -> Any:
    """``--endpoint`` and the remote credentials, kept off the command's own parameters."""
    options = [
        click.option("--endpoint", envvar="STRONGROOM_ENDPOINT", expose_value=False, callback=_remember,
                     help="Act on this server's /admin/v1 (default: the local store)."),
        click.option("--user", envvar="STRONGROOM_USER", expose_value=False, callback=_remember,
                     help="With --endpoint: sign in as this user (else an access key signs)."),
        click.option("--password", envvar="STRONGROOM_PASSWORD", expose_value=False, callback=_remember,
                     hidden=True),
        click.option("--access-key-id", envvar="AWS_ACCESS_KEY_ID", expose_value=False, callback=_remember,
                     hidden=True),
        click.option("--secret-access-key", envvar="AWS_SECRET_ACCESS_KEY", expose_value=False,
                     callback=_remember, hidden=True),
        click.option("--session-token", envvar="AWS_SESSION_TOKEN", expose_value=False, callback=_remember,
                     hidden=True),
        click.option("--region", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], default="us-east-1",
                     expose_value=False, callback=_remember, hidden=True),
    ]  # fmt: skip
    for option in reversed(options):
        function = option(function)
    return function


def remote_endpoint() -> str | None:
    endpoint: str | None = click.get_current_context().meta.get(_REMOTE, {}).get("endpoint")
    return endpoint or None


def run_admin_api(work: Callable[[AdminApi], Awaitable[T]], *, account_id: str | None = None) -> T:
    """Run ``work`` on the remote server's API, or on the local store's (``account_id``
    as the command gave it; see :class:`LocalAdminApi`)."""
    if remote_endpoint() is None:

        async def local(settings: Settings, database: Database) -> T:
            default = await SqlMetadataStore(database).default_account_id()
            if default is None:
                raise click.ClickException("the store is not set up: run `strongroom migrate` first")
            return await work(LocalAdminApi(settings, database, account_id, default))

        return run_on_store(local)
    if account_id is not None:
        raise click.UsageError("--account-id is for the local store; a server acts on your own account")
    import httpx

    from strongroom.client.admin import TIMEOUT, AdminApiError, HttpAdminApi

    endpoint, credentials = _remote()

    async def remote() -> T:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            return await work(HttpAdminApi(endpoint, credentials, client))

    try:
        return anyio.run(remote)
    except AdminApiError as error:
        raise click.ClickException(f"{error.code}: {error.message}") from None
    except httpx.HTTPError as error:
        raise click.ClickException(f"could not reach {endpoint}: {error}") from None


def _remote() -> tuple[str, AccessKey | Login]:
    from strongroom.client.admin import AccessKey, Login

    given = click.get_current_context().meta.get(_REMOTE, {})
    endpoint = str(given["endpoint"])
    if not endpoint.startswith(("http://", "https://")):
        raise click.UsageError("--endpoint is a URL: http(s)://host[:port]")
    if given.get("user"):
        password = given.get("password") or click.prompt(f"Password for {given['user']}", hide_input=True)
        return endpoint, Login(str(given["user"]), str(password))
    if given.get("access_key_id") and given.get("secret_access_key"):
        key = AccessKey(
            str(given["access_key_id"]), str(given["secret_access_key"]), given.get("session_token"),
            str(given.get("region") or "us-east-1"),
        )  # fmt: skip
        return endpoint, key
    raise click.UsageError(
        "with --endpoint, give an access key (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or --user"
    )


class LocalAdminApi:
    """The same operations on the store itself, as the local operator (audited as such)."""

    def __init__(self, settings: Settings, database: Database, account_id: str | None, default: str) -> None:
        """``account_id`` as the command gave it: events of every account without it,
        webhooks of the ``default`` account."""
        self._settings = settings
        self._database = database
        self._given_account = account_id
        self._account = account_id or default
        self._clock = SystemClock()
        self._audit = AuditLog(SqlAuditStore(database))
        self._jobs = JobAdmin(SqlJobStore(database), self._clock, self._audit)
        self._webhooks: Webhooks | None = None

    async def list_jobs(
        self, *, state: str | None, kind: str | None, before: int | None, limit: int
    ) -> list[Document]:
        return [job_document(job) for job in await self._jobs.list(state=state, kind=kind, before=before,
                                                                    limit=limit)]  # fmt: skip

    async def describe_job(self, job_id: int) -> Document:
        return job_document(await self._jobs.show(job_id))

    async def retry_job(self, job_id: int) -> Document:
        return job_document(await self._jobs.retry(job_id, LOCAL_OPERATOR))

    async def cancel_job(self, job_id: int) -> Document:
        return job_document(await self._jobs.cancel(job_id, LOCAL_OPERATOR))

    async def list_events(self, *, since: str, type: str | None, limit: int) -> list[Document]:
        """Every account's events unless the command named one (the local operator sees all)."""
        amount, unit = since[:-1], since[-1:]
        if not amount.isdigit() or unit not in _SINCE_UNITS:
            raise InvalidRequest("since is a number and a unit: 30s, 15m, 1h, 7d")
        start = self._clock.now() - timedelta(**{_SINCE_UNITS[unit]: int(amount)})
        found = await SqlEventStore(self._database).find(
            since=start, type=type, account_id=self._given_account, limit=limit
        )
        return [event_document(event) for event in found]

    async def create_webhook(
        self, *, url: str, events: list[str], repository_prefix: str | None, secret: str | None
    ) -> Document:
        created = await self._hooks().create(self._account, url, events, repository_prefix, secret)
        await self._audited("strongroom:CreateWebhook")
        document = webhook_document(created.webhook)
        if created.secret is not None:
            document["secret"] = created.secret
        return document

    async def list_webhooks(self) -> list[Document]:
        return [webhook_document(webhook) for webhook in await self._hooks().list(self._account)]

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._hooks().delete(self._account, webhook_id)
        await self._audited("strongroom:DeleteWebhook")

    async def enable_webhook(self, webhook_id: str) -> Document:
        await self._hooks().enable(self._account, webhook_id)
        await self._audited("strongroom:UpdateWebhook")
        return webhook_document(await self._hooks().get(self._account, webhook_id))

    async def test_webhook(self, webhook_id: str) -> Document:
        return {"eventId": await self._hooks().test(self._account, webhook_id)}

    async def list_deliveries(self, webhook_id: str, limit: int) -> list[Document]:
        found = await self._hooks().deliveries(self._account, webhook_id, limit)
        return [delivery_document(delivery) for delivery in found]

    async def describe_findings(self, repository: str, *, tag: str | None, digest: str | None) -> Document:
        services = await build_services(self._settings)
        try:
            ref = RepositoryRef.parse(repository, self._account)
            scanned = await services.scans.findings(ref, ImageId(digest, tag), after=None, limit=ALL_FINDINGS)
        finally:
            services.close()
        document = scan_document(scanned.digest, scanned.scan, scanned.findings, ALL_FINDINGS)
        return {"repository": ref.name, "registryId": ref.account_id, **document}

    # the pull gate, as the local operator (the use case audits each change)

    async def put_pull_policy(
        self, *, scope: str, name: str, max_severity: str | None, unsafe_model_severity: str | None,
        block_unscanned: bool,
    ) -> Document:  # fmt: skip
        policy = await self._gate().put(
            self._account, scope, name, max_severity=max_severity,
            unsafe_model_severity=unsafe_model_severity, block_unscanned=block_unscanned,
            actor=Actor(LOCAL_OPERATOR),
        )  # fmt: skip
        return policy_document(policy)

    async def delete_pull_policy(self, *, scope: str, name: str) -> None:
        await self._gate().delete(self._account, scope, name, Actor(LOCAL_OPERATOR))

    async def describe_pull_policy(self, *, scope: str, name: str) -> Document:
        return policy_document(await self._gate().describe(self._account, scope, name))

    async def list_pull_policies(self) -> list[Document]:
        found = await self._gate().page(self._account, after=None, limit=ALL_FINDINGS)
        return [policy_document(policy) for policy in found]

    async def accept_risk(
        self, *, repository: str, finding_id: str, reason: str, expires: str, image_digest: str | None
    ) -> Document:
        gate = self._gate()
        risk = await gate.accept(
            self._account, repository, finding_id, reason=reason, expires_at=expiry_of(expires, gate.now()),
            image_digest=image_digest, actor=Actor(LOCAL_OPERATOR),
        )  # fmt: skip
        return risk_document(risk, gate.now())

    async def revoke_risk(self, *, repository: str, risk_id: str) -> Document:
        gate = self._gate()
        return risk_document(
            await gate.revoke(self._account, repository, risk_id, Actor(LOCAL_OPERATOR)), gate.now()
        )

    async def list_accepted_risks(self, *, repository: str | None, include_expired: bool) -> list[Document]:
        gate = self._gate()
        found = await gate.accepted(
            self._account, repository, include_expired=include_expired, after=None, limit=ALL_FINDINGS
        )
        return [risk_document(risk, gate.now()) for risk in found]

    # lineage, as the local operator (who reads every repository)

    async def lineage_ancestry(self, repository: str, reference: str) -> Document:
        return await self._lineage(lambda s: s.lineage.show(_OPERATOR, self._ref(repository), reference))

    async def lineage_dependents(self, repository: str, reference: str) -> Document:
        return await self._lineage(
            lambda s: s.lineage.dependents(_OPERATOR, self._ref(repository), reference)
        )

    async def lineage_report(self) -> Document:
        return await self._lineage(lambda s: s.lineage.report(_OPERATOR))

    async def put_repository_role(self, repository: str, role: str | None) -> Document:
        ref = self._ref(repository)
        return await self._lineage(
            lambda s: s.lineage_settings.set_role(ref.account_id, ref.name, role, Actor(LOCAL_OPERATOR))
        )

    async def put_lineage_policy(
        self, *, scope: str, name: str, max_base_age: str | None, max_rebuild_delay: str | None,
        no_inherited_critical: bool, allowed_bases: list[str], enforce: bool,
    ) -> Document:  # fmt: skip
        policy = policy_of(
            scope, name, max_base_age=max_base_age, max_rebuild_delay=max_rebuild_delay,
            no_inherited_critical=no_inherited_critical, allowed_bases=allowed_bases, enforce=enforce,
        )  # fmt: skip

        async def put(services: Services) -> Document:
            return lineage_policy_document(
                await services.lineage_settings.put(self._account, policy, Actor(LOCAL_OPERATOR))
            )

        return await self._lineage(put)

    async def list_lineage_policies(self) -> list[Document]:
        found = await SqlLineagePolicyStore(self._database).policies(self._account)
        return [lineage_policy_document(policy) for policy in found]

    async def delete_lineage_policy(self, *, scope: str, name: str) -> None:
        async def delete(services: Services) -> None:
            await services.lineage_settings.delete(self._account, scope, name, Actor(LOCAL_OPERATOR))

        await self._lineage(delete)

    def _ref(self, repository: str) -> RepositoryRef:
        return RepositoryRef.parse(repository, self._account)

    async def _lineage(self, work: Callable[[Services], Awaitable[T]]) -> T:
        services = await build_services(self._settings)
        try:
            return await work(services)
        finally:
            services.close()

    def _gate(self) -> PullPolicies:
        store = SqlPullPolicyStore(self._database)
        return PullPolicies(
            store, self._audit, build_clock(self._settings), RandomIdFactory(), self._settings.region
        )

    def _hooks(self) -> Webhooks:
        if self._webhooks is None:
            box = open_secret_box(self._settings)
            self._webhooks = build_webhooks(self._settings, self._database, box, SqlJobStore(self._database))
        return self._webhooks

    async def _audited(self, action: str) -> None:
        params = click.get_current_context().params
        await self._audit.record(
            AuditEvent(
                self._clock.now(), LOCAL_OPERATOR, action, f"account/{self._account}/webhooks", None, "allow",
                {"params": {key: value for key, value in params.items() if isinstance(value, str)}},
            )
        )  # fmt: skip
