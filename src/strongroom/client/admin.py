"""``/admin/v1`` over HTTP: jobs, events, webhook subscriptions, findings, pull policies,
accepted risks, the model index and image lineage of a remote server.

:class:`AdminApi` is the one interface the ``jobs``, ``events`` and ``webhook`` commands
act through; :class:`HttpAdminApi` implements it on a server's ``/admin/v1`` (the local
operator's implementation, on the store itself, is the CLI's). Every method returns the
JSON documents ``/admin/v1`` answers with, so both implementations render alike.

Requests are signed with SigV4 (service ``strongroom``) by botocore's signer when access
keys are given, or carry a bearer token fetched from the server's ``/token`` with a user
name and password (the service named by ``GET /v2/``'s challenge; the password only
ever goes to the endpoint given).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

PREFIX = "/admin/v1"
SIGNING_NAME = "strongroom"
PAGE = 1000
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')

Document = dict[str, Any]


class AdminApiError(Exception):
    """The server refused: its status and the admin error shape's code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


class AdminApi(Protocol):
    async def list_jobs(
        self, *, state: str | None, kind: str | None, before: int | None, limit: int
    ) -> list[Document]: ...
    async def describe_job(self, job_id: int) -> Document: ...
    async def retry_job(self, job_id: int) -> Document: ...
    async def cancel_job(self, job_id: int) -> Document: ...
    async def list_events(self, *, since: str, type: str | None, limit: int) -> list[Document]: ...
    async def create_webhook(
        self, *, url: str, events: list[str], repository_prefix: str | None, secret: str | None
    ) -> Document: ...
    async def list_webhooks(self) -> list[Document]: ...
    async def delete_webhook(self, webhook_id: str) -> None: ...
    async def enable_webhook(self, webhook_id: str) -> Document: ...
    async def test_webhook(self, webhook_id: str) -> Document: ...
    async def list_deliveries(self, webhook_id: str, limit: int) -> list[Document]: ...
    async def describe_findings(
        self, repository: str, *, tag: str | None, digest: str | None
    ) -> Document: ...
    async def put_pull_policy(
        self, *, scope: str, name: str, max_severity: str | None, unsafe_model_severity: str | None,
        block_unscanned: bool,
    ) -> Document: ...  # fmt: skip
    async def delete_pull_policy(self, *, scope: str, name: str) -> None: ...
    async def describe_pull_policy(self, *, scope: str, name: str) -> Document: ...
    async def list_pull_policies(self) -> list[Document]: ...
    async def accept_risk(
        self, *, repository: str, finding_id: str, reason: str, expires: str, image_digest: str | None
    ) -> Document: ...
    async def revoke_risk(self, *, repository: str, risk_id: str) -> Document: ...
    async def list_accepted_risks(
        self, *, repository: str | None, include_expired: bool
    ) -> list[Document]: ...
    async def lineage_ancestry(self, repository: str, reference: str) -> Document: ...
    async def lineage_dependents(self, repository: str, reference: str) -> Document: ...
    async def lineage_report(self) -> Document: ...
    async def put_repository_role(self, repository: str, role: str | None) -> Document: ...
    async def put_lineage_policy(
        self, *, scope: str, name: str, max_base_age: str | None, max_rebuild_delay: str | None,
        no_inherited_critical: bool, allowed_bases: list[str], enforce: bool,
    ) -> Document: ...  # fmt: skip
    async def list_lineage_policies(self) -> list[Document]: ...
    async def delete_lineage_policy(self, *, scope: str, name: str) -> None: ...


@dataclass(frozen=True, slots=True)
class AccessKey:
    """SigV4 signing with an access key (and a session token for role sessions)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    region: str = "us-east-1"


@dataclass(frozen=True, slots=True)
class Login:
    """A user name and password, exchanged at ``/token`` for a bearer token."""

    user: str
    password: str


class HttpAdminApi:
    def __init__(self, endpoint: str, credentials: AccessKey | Login, client: httpx.AsyncClient) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._credentials = credentials
        self._client = client
        self._token: str | None = None

    # jobs

    async def list_jobs(
        self, *, state: str | None, kind: str | None, before: int | None, limit: int
    ) -> list[Document]:
        query = {"state": state, "kind": kind, "maxResults": str(limit)}
        if before is not None:
            query["nextToken"] = str(before)
        return list((await self._call("GET", "/jobs", query))["jobs"])

    async def describe_job(self, job_id: int) -> Document:
        return await self._call("GET", f"/jobs/{job_id}")

    async def retry_job(self, job_id: int) -> Document:
        return await self._call("POST", f"/jobs/{job_id}/retry")

    async def cancel_job(self, job_id: int) -> Document:
        return await self._call("POST", f"/jobs/{job_id}/cancel")

    # events

    async def list_events(self, *, since: str, type: str | None, limit: int) -> list[Document]:
        found: list[Document] = []
        token: str | None = None
        while len(found) < limit:
            query = {"since": since, "type": type, "maxResults": str(min(PAGE, limit - len(found)))}
            if token is not None:
                query["nextToken"] = token
            page = await self._call("GET", "/events", query)
            found += page["events"]
            token = page.get("nextToken")
            if token is None:
                break
        return found

    # webhooks

    async def create_webhook(
        self, *, url: str, events: list[str], repository_prefix: str | None, secret: str | None
    ) -> Document:
        body: Document = {"url": url, "events": events}
        if repository_prefix:
            body["repositoryPrefix"] = repository_prefix
        if secret is not None:
            body["secret"] = secret
        return await self._call("POST", "/webhooks", body=body)

    async def list_webhooks(self) -> list[Document]:
        found: list[Document] = []
        token: str | None = None
        while True:
            query = {"maxResults": str(PAGE), "nextToken": token}
            page = await self._call("GET", "/webhooks", query)
            found += page["webhooks"]
            token = page.get("nextToken")
            if token is None:
                return found

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._call("DELETE", f"/webhooks/{webhook_id}")

    async def enable_webhook(self, webhook_id: str) -> Document:
        return await self._call("POST", f"/webhooks/{webhook_id}/enable")

    async def test_webhook(self, webhook_id: str) -> Document:
        return await self._call("POST", f"/webhooks/{webhook_id}/test")

    async def list_deliveries(self, webhook_id: str, limit: int) -> list[Document]:
        page = await self._call("GET", f"/webhooks/{webhook_id}/deliveries", {"maxResults": str(limit)})
        return list(page["deliveries"])

    # scans

    async def describe_findings(self, repository: str, *, tag: str | None, digest: str | None) -> Document:
        """An image's last scan with all its open findings (every page)."""
        query = {"repository": repository, "imageTag": tag, "imageDigest": digest, "maxResults": str(PAGE)}
        document = await self._call("GET", "/findings", query)
        while "nextToken" in document:
            page = await self._call("GET", "/findings", {**query, "nextToken": document.pop("nextToken")})
            document["findings"] += page["findings"]
            if "nextToken" in page:
                document["nextToken"] = page["nextToken"]
        return document

    # the pull gate

    async def put_pull_policy(
        self, *, scope: str, name: str, max_severity: str | None, unsafe_model_severity: str | None,
        block_unscanned: bool,
    ) -> Document:  # fmt: skip
        body: Document = {"scope": scope, "name": name, "blockUnscanned": block_unscanned}
        if max_severity is not None:
            body["maxSeverity"] = max_severity
        if unsafe_model_severity is not None:
            body["unsafeModelSeverity"] = unsafe_model_severity
        return await self._call("PUT", "/pull-policies", body=body)

    async def delete_pull_policy(self, *, scope: str, name: str) -> None:
        await self._call("DELETE", "/pull-policies", {"scope": scope, "name": name})

    async def describe_pull_policy(self, *, scope: str, name: str) -> Document:
        return await self._call("GET", "/pull-policies", {"scope": scope, "name": name})

    async def list_pull_policies(self) -> list[Document]:
        return await self._pages("/pull-policies", {}, "pullPolicies")

    async def accept_risk(
        self, *, repository: str, finding_id: str, reason: str, expires: str, image_digest: str | None
    ) -> Document:
        body: Document = {
            "repository": repository,
            "findingId": finding_id,
            "reason": reason,
            "expiresAt": expires,
        }
        if image_digest is not None:
            body["imageDigest"] = image_digest
        return await self._call("POST", "/accepted-risks", body=body)

    async def revoke_risk(self, *, repository: str, risk_id: str) -> Document:
        return await self._call("DELETE", f"/accepted-risks/{risk_id}", {"repository": repository})

    async def list_accepted_risks(self, *, repository: str | None, include_expired: bool) -> list[Document]:
        query = {"repository": repository, "includeExpired": "true" if include_expired else None}
        return await self._pages("/accepted-risks", query, "acceptedRisks")

    # the model index (not in AdminApi: it is only ever asked of a server)

    async def list_models(
        self, filters: Mapping[str, str | None], limit: int | None = None
    ) -> list[Document]:
        """The indexed models the caller may see, meeting ``filters`` (the query parameters of
        ``GET /admin/v1/models``): every page, or the first ``limit`` models."""
        found: list[Document] = []
        token: str | None = None
        while limit is None or len(found) < limit:
            size = PAGE if limit is None else min(PAGE, limit - len(found))
            page = await self._call(
                "GET", "/models", {**filters, "maxResults": str(size), "nextToken": token}
            )
            found += page["models"]
            token = page.get("nextToken")
            if token is None:
                break
        return found

    # lineage (docs/adr/0021)

    async def lineage_ancestry(self, repository: str, reference: str) -> Document:
        """The image's ancestry, root first (per platform for an index)."""
        return await self._call(
            "GET", "/lineage/ancestry", {"repository": repository, "reference": reference}
        )

    async def lineage_dependents(self, repository: str, reference: str) -> Document:
        """Every image built on the image, in repositories the caller may read."""
        query = {"repository": repository, "reference": reference}
        return await self._call("GET", "/lineage/dependents", query)

    async def lineage_report(self) -> Document:
        """The caller's images out of compliance with their patch policy, and why: every
        page of the report, followed."""
        images: list[Document] = []
        token: str | None = None
        while True:
            page = await self._call("GET", "/lineage/report", {"maxResults": str(PAGE), "nextToken": token})
            images += page["images"]
            token = page.get("nextToken")
            if token is None:
                return {**page, "images": images}

    async def put_repository_role(self, repository: str, role: str | None) -> Document:
        return await self._call("PUT", "/lineage/roles", body={"repository": repository, "role": role})

    async def put_lineage_policy(
        self, *, scope: str, name: str, max_base_age: str | None, max_rebuild_delay: str | None,
        no_inherited_critical: bool, allowed_bases: list[str], enforce: bool,
    ) -> Document:  # fmt: skip
        body: Document = {
            "scope": scope, "name": name, "noInheritedCritical": no_inherited_critical,
            "allowedBases": allowed_bases, "enforce": enforce,
        }  # fmt: skip
        if max_base_age is not None:
            body["maxBaseAge"] = max_base_age
        if max_rebuild_delay is not None:
            body["maxRebuildDelay"] = max_rebuild_delay
        return await self._call("PUT", "/lineage/policies", body=body)

    async def list_lineage_policies(self) -> list[Document]:
        return list((await self._call("GET", "/lineage/policies"))["lineagePolicies"])

    async def delete_lineage_policy(self, *, scope: str, name: str) -> None:
        await self._call("DELETE", "/lineage/policies", {"scope": scope, "name": name})

    async def _pages(self, path: str, query: Mapping[str, str | None], key: str) -> list[Document]:
        found: list[Document] = []
        token: str | None = None
        while True:
            page = await self._call("GET", path, {**query, "maxResults": str(PAGE), "nextToken": token})
            found += page[key]
            token = page.get("nextToken")
            if token is None:
                return found

    # the wire

    async def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, str | None] | None = None,
        body: Document | None = None,
    ) -> Document:
        params = {key: value for key, value in (query or {}).items() if value is not None}
        url = self._endpoint + PREFIX + path + ("?" + urlencode(params) if params else "")
        content = json.dumps(body).encode() if body is not None else b""
        headers = {"content-type": "application/json"} if body is not None else {}
        headers.update(await self._authorization(method, url, content, headers))
        response = await self._client.request(method, url, content=content, headers=headers)
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return {}
        document: Document = response.json()
        return document

    async def _authorization(
        self, method: str, url: str, content: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        credentials = self._credentials
        if isinstance(credentials, AccessKey):
            # Imported here: botocore costs server processes (which import the CLI) ~30 MB.
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials

            request = AWSRequest(method, url, data=content, headers=dict(headers))
            signer = Credentials(
                credentials.access_key_id, credentials.secret_access_key, credentials.session_token
            )
            SigV4Auth(signer, SIGNING_NAME, credentials.region).add_auth(request)
            return {key: str(value) for key, value in request.headers.items() if key.lower() not in headers}
        if self._token is None:
            self._token = await self._fetch_token(credentials)
        return {"authorization": f"Bearer {self._token}"}

    async def _fetch_token(self, login: Login) -> str:
        challenge = await self._client.get(self._endpoint + "/v2/")
        fields = dict(_CHALLENGE.findall(challenge.headers.get("www-authenticate", "")))
        params = {"service": fields["service"]} if "service" in fields else {}
        # The password goes to the endpoint the user named, never to a realm the answer names.
        answer = await self._client.get(
            self._endpoint + "/token", params=params, auth=(login.user, login.password)
        )
        if answer.status_code != 200:
            raise AdminApiError(answer.status_code, "AuthenticationRequired", "the server refused the login")
        token: str = answer.json()["token"]
        return token


def _error(response: httpx.Response) -> AdminApiError:
    try:
        error = response.json()["error"]
        return AdminApiError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return AdminApiError(response.status_code, "HttpError", f"the server answered {response.status_code}")
