"""What an ECR operation declares, and what its handler gets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from strongroom.audit.log import JsonValue
from strongroom.auth.principals import Principal
from strongroom.errors import AccessDenied
from strongroom.oci.names import RepositoryRef
from strongroom.registry.pull_gate import Puller
from strongroom.services import Services

ECR = "ecr"
ECR_PUBLIC = "ecr-public"


@dataclass(frozen=True)
class EcrCall:
    request: Request
    services: Services
    service: str
    """``ecr`` or ``ecr-public``."""
    operation: str
    params: Mapping[str, Any]
    """The input, validated against the service model."""
    principal: Principal
    request_id: str
    audit_detail: dict[str, JsonValue] = field(default_factory=dict)
    """What a mutating handler adds to its audit event (e.g. a policy's findings)."""

    @property
    def registry_id(self) -> str:
        """``registryId``, or the caller's own registry."""
        value = self.params.get("registryId")
        return value if isinstance(value, str) and value.isdigit() else self.principal.account_id

    @property
    def repository_name(self) -> str:
        return str(self.params["repositoryName"])

    @property
    def repository(self) -> RepositoryRef:
        name = self.repository_name
        path = name if self.registry_id == self.services.default_account_id else f"{self.registry_id}/{name}"
        return RepositoryRef(self.registry_id, name, path)

    @property
    def region(self) -> str:
        return self.services.settings.region

    @property
    def puller(self) -> Puller:
        """Who pulls, for the pull gate's audit events."""
        source = self.request.client.host if self.request.client else None
        return Puller(self.principal.arn, source, self.region)

    def repository_arn(self, account_id: str, name: str) -> str:
        if self.service == ECR_PUBLIC:
            return f"arn:aws:ecr-public::{account_id}:repository/{name}"
        return f"arn:aws:ecr:{self.region}:{account_id}:repository/{name}"

    def repository_uri(self, account_id: str, name: str) -> str:
        host = self.services.settings.token_service
        if account_id == self.services.default_account_id:
            return f"{host}/{name}"
        return f"{host}/{account_id}/{name}"

    def own_registry(self) -> str:
        """The caller's registry; registry-wide operations act on no other."""
        registry_id = self.params.get("registryId")
        if registry_id is not None and registry_id != self.principal.account_id:
            raise AccessDenied(
                f"User: {self.principal.arn} is not authorized to act on the registry with id '{registry_id}'"
            )
        return self.principal.account_id


Result = Mapping[str, Any] | None
Handler = Callable[[EcrCall], Awaitable[Result]]
ResourceOf = Callable[[EcrCall], str]


def repository_resource(call: EcrCall) -> str:
    """The repository named by ``registryId`` and ``repositoryName``."""
    return call.repository_arn(call.registry_id, call.repository_name)


def registry_resource(call: EcrCall) -> str:
    """Registry-wide actions, which IAM policies grant on ``Resource: "*"``."""
    if call.service == ECR_PUBLIC:
        return f"arn:aws:ecr-public::{call.principal.account_id}:registry/{call.principal.account_id}"
    return f"arn:aws:ecr:{call.region}:{call.principal.account_id}:registry"


@dataclass(frozen=True)
class Operation:
    service: str
    name: str
    handler: Handler
    resource: ResourceOf = repository_resource
    mutates: bool = False
    """Successful calls are written to the audit log."""
    action: str | None = None
    """The IAM action; by default ``<service>:<name>``."""

    @property
    def iam_action(self) -> str:
        return self.action or f"{self.service}:{self.name}"


def table(*entries: Operation) -> dict[tuple[str, str], Operation]:
    """Operations keyed by (service, name)."""
    table = {(entry.service, entry.name): entry for entry in entries}
    assert len(table) == len(entries), "an operation is declared twice"
    return table
