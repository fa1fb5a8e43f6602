"""Repository and registry policies and repository visibility, set by an administrator
(the CLI) or a caller of the IAM API: each one reviewed for findings and audited."""

from __future__ import annotations

from strongroom.auth.admin_base import AdminBase
from strongroom.errors import NameUnknown
from strongroom.oci.names import validate_name
from strongroom.policy.findings import Finding
from strongroom.registry.policy_review import audit_findings


class ResourcePolicies(AdminBase):
    async def set_repository_policy(
        self, account_id: str, repository: str, document: str | None
    ) -> list[Finding]:
        """Set (or with None, remove) a repository's policy; the repository must exist.
        Returns the policy's findings (registry/policy_review.py), also audited."""
        found = await self._repository(account_id, repository)
        arn = _repository_arn(account_id, repository)
        reviewed = [] if document is None else self._review.review(document, arn)
        await self._iam.set_repository_policy(found, document)
        action = "ecr:SetRepositoryPolicy" if document is not None else "ecr:DeleteRepositoryPolicy"
        await self._record(action, arn, document=document, findings=audit_findings(reviewed))
        return reviewed

    async def set_repository_public(self, account_id: str, repository: str, public: bool) -> None:
        await self._iam.set_repository_public(await self._repository(account_id, repository), public)
        await self._record(
            "strongroom:SetRepositoryVisibility", _repository_arn(account_id, repository), public=public
        )

    async def put_registry_policy(self, account_id: str, document: str | None) -> list[Finding]:
        """Set (or with None, remove) the registry policy; returns its findings."""
        arn = f"arn:aws:ecr:*:{account_id}:registry"
        reviewed = [] if document is None else self._review.review(document, arn)
        await self._account(account_id)
        await self._iam.put_registry_policy(account_id, document, self._clock.now())
        action = "ecr:PutRegistryPolicy" if document is not None else "ecr:DeleteRegistryPolicy"
        await self._record(action, arn, document=document, findings=audit_findings(reviewed))
        return reviewed

    async def _repository(self, account_id: str, name: str) -> int:
        repository = await self._metadata.get_repository(account_id, validate_name(name))
        if repository is None:
            raise NameUnknown(name)
        return repository.id


def _repository_arn(account_id: str, name: str) -> str:
    return f"arn:aws:ecr:*:{account_id}:repository/{name}"
