"""Replication to another account of this registry: no HTTP, no registered destination;
the registry links the blobs it already stores into the destination account's repository
and stores the manifests there, as a push would (ADR 0020).

Who decides is the destination account, as in ECR ("Private registry permissions"): its
registry policy must allow ``ecr:ReplicateImage`` (and ``ecr:CreateRepository`` when the
repository is new) to the source account. The request is evaluated by the one policy
engine as ECR's replication role of the source account (the service-linked
``AWSServiceRoleForECRReplication``, whose identity policy allows exactly those two
actions), with ``aws:SourceArn`` (the source repository) and ``aws:SourceAccount`` in the
context, so a policy can condition on them. Within one account the role's identity policy
suffices (an explicit Deny still refuses). A refusal is permanent: the status is FAILED at
once with the reason.

A new repository takes the destination account's creation template applied for
``REPLICATION`` when one matches, else the source repository's settings (tag mutability,
scan on push, encryption).
"""

from __future__ import annotations

import functools
import json

from strongroom.auth.iam_authorizer import IamAuthorizer
from strongroom.clock import Clock
from strongroom.errors import (
    ManifestReferenced,
    ManifestUnknown,
    NameUnknown,
    TagImmutable,
)
from strongroom.metadata.records import Repository
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.digest import Digest
from strongroom.oci.manifest import ParsedManifest
from strongroom.oci.names import RepositoryRef
from strongroom.policy.document import Policy, PolicyKind
from strongroom.policy.request import Caller
from strongroom.registry.manifests import Manifests, Reference
from strongroom.registry.repositories import Repositories, RepositorySpec, TagMutability
from strongroom.replication.failures import ReplicationError
from strongroom.replication.rules import repository_arn
from strongroom.replication.walk import CopyStats, Deletion, SourceImage, Walk
from strongroom.storage.base import BlobStore

REPLICATE_IMAGE, CREATE_REPOSITORY = "ecr:ReplicateImage", "ecr:CreateRepository"
DELETE_IMAGE = "ecr:BatchDeleteImage"
ROLE_NAME = "AWSServiceRoleForECRReplication"
ROLE_PATH = "/aws-service-role/replication.ecr.amazonaws.com/"


@functools.cache
def role_policy() -> Policy:
    """ECR's ``ECRReplicationServiceRolePolicy``: the source account's side of the
    request, granted by its having configured the rule; with ``ecr:BatchDeleteImage`` for
    replicated deletes (a Strongroom addition: the destination must allow it too)."""
    statement = {
        "Effect": "Allow",
        "Action": [REPLICATE_IMAGE, CREATE_REPOSITORY, DELETE_IMAGE],
        "Resource": "*",
    }
    return Policy.from_json(
        json.dumps({"Version": "2012-10-17", "Statement": [statement]}), PolicyKind.IDENTITY
    )


class InternalCopy:
    def __init__(
        self, metadata: SqlMetadataStore, blobs: BlobStore, repositories: Repositories, manifests: Manifests,
        authorizer: IamAuthorizer, clock: Clock, region: str,
    ) -> None:  # fmt: skip
        self._metadata, self._blobs, self._repositories = metadata, blobs, repositories
        self._manifests, self._authorizer = manifests, authorizer
        self._clock, self._region = clock, region

    async def copy(self, image: SourceImage, account_id: str) -> CopyStats:
        """Copy ``image`` into the repository of the same name of account ``account_id``."""
        if account_id not in {account.account_id for account in await self._metadata.list_accounts()}:
            raise ReplicationError(
                "DESTINATION_UNKNOWN",
                f"no destination is registered for region {self._region} and registry {account_id}, "
                "and this registry has no such account (strongroom replication destination add)",
                permanent=True,
            )
        name = image.repository
        repository = await self._metadata.get_repository(account_id, name)
        await self._authorize(REPLICATE_IMAGE, image, account_id)
        if repository is None:
            await self._authorize(CREATE_REPOSITORY, image, account_id)
            repository = await self._create(image, account_id)
        sink = LocalSink(self, RepositoryRef(account_id, name, f"{account_id}/{name}"), repository)
        try:
            return await Walk(self._metadata, image, sink).run()
        except TagImmutable as error:
            raise ReplicationError(
                "TAG_IMMUTABLE", f"{account_id}/{name}: {error.message}", permanent=True
            ) from error

    async def delete(self, deletion: Deletion, account_id: str) -> None:
        """Delete in account ``account_id`` what was deleted at the source, if its registry
        policy allows ``ecr:BatchDeleteImage`` to the source account: the manifest, or each
        removed tag that still names the image there."""
        name = deletion.repository
        if await self._metadata.get_repository(account_id, name) is None:
            return
        image = SourceImage(deletion.account_id, name, deletion.digest, None)
        await self._authorize(DELETE_IMAGE, image, account_id)
        ref = RepositoryRef(account_id, name, f"{account_id}/{name}")
        if deletion.manifest_deleted:
            references = [Reference(None, Digest.parse(deletion.digest))]
        else:
            references = [Reference(tag, None) for tag in deletion.tags]
        for reference in references:
            if reference.tag is not None:
                found = await self._metadata.lookup_manifest(account_id, name, tag=reference.tag)
                if found.manifest is None or found.manifest.digest != deletion.digest:
                    continue  # moved since, or gone: not ours to delete
            try:
                await self._manifests.delete(ref, reference)
            except (ManifestUnknown, NameUnknown):
                continue
            except ManifestReferenced as error:
                raise ReplicationError("MANIFEST_REFERENCED", error.message, permanent=True) from error

    async def _authorize(self, action: str, image: SourceImage, account_id: str) -> None:
        source = repository_arn(self._region, image.account_id, image.repository)
        target = repository_arn(self._region, account_id, image.repository)
        caller = Caller.role(image.account_id, ROLE_NAME, path=ROLE_PATH)
        context: dict[str, str | list[str]] = {"aws:SourceArn": source, "aws:SourceAccount": image.account_id}
        verdict = await self._authorizer.explain_for(
            caller, {ROLE_NAME: role_policy()}, action, target, context
        )
        if not verdict.allowed:
            raise ReplicationError(
                "REPLICATION_DENIED",
                f"account {account_id}'s registry policy does not allow {action} on {target} to account "
                f"{image.account_id} (aws:SourceArn {source}): {verdict.detail}",
                permanent=True,
            )

    async def _create(self, image: SourceImage, account_id: str) -> Repository:
        name = image.repository
        source = await self._metadata.get_repository(image.account_id, name)
        spec = RepositorySpec()
        if source is not None:
            spec = RepositorySpec(
                mutability=TagMutability(source.tag_mutability, source.tag_mutability_filters),
                scan_on_push=source.scan_on_push,
                encryption_type=source.encryption_type,
                kms_key=source.kms_key,
            )
        ref = RepositoryRef(account_id, name, f"{account_id}/{name}")
        return await self._repositories.ensure_replicated(ref, spec)

    # what LocalSink needs

    async def has_manifest(self, ref: RepositoryRef, digest: str) -> bool:
        found = await self._metadata.lookup_manifest(ref.account_id, ref.name, digest=digest)
        return found.manifest is not None

    async def link_blob(self, repository: Repository, digest: str, size: int) -> int:
        """Link a blob the store holds into ``repository``: the bytes made present (0 when
        it was linked already). Touch, then link, as a mount does (registry/gc.py)."""
        if await self._metadata.linked_blob_size(repository.account_id, repository.name, digest) is not None:
            return 0
        if not await self._blobs.touch(Digest.parse(digest)):
            raise ReplicationError("IMAGE_NOT_FOUND", f"the blob {digest} is no longer stored")
        await self._metadata.link_blob(repository.id, digest, size, self._clock.now())
        return size

    async def put_manifest(
        self, ref: RepositoryRef, repository: Repository, reference: str, content: bytes, media_type: str
    ) -> None:
        await self._manifests.put(
            ref, Reference.parse(reference), content, media_type, known=repository, replicated=True
        )


class LocalSink:
    """A repository of another account of this registry (a :class:`~.walk.Sink`)."""

    def __init__(self, copy: InternalCopy, ref: RepositoryRef, repository: Repository) -> None:
        self._copy, self._ref, self._repository = copy, ref, repository

    async def has_manifest(self, digest: str, media_type: str) -> bool:
        return await self._copy.has_manifest(self._ref, digest)

    async def put_blob(self, digest: str, size: int) -> int:
        return await self._copy.link_blob(self._repository, digest, size)

    async def put_manifest(self, reference: str, content: bytes, parsed: ParsedManifest) -> None:
        await self._copy.put_manifest(self._ref, self._repository, reference, content, parsed.media_type)
