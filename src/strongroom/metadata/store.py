"""The metadata store protocols, split by role; :class:`MetadataStore` combines them.

Implementations: :class:`strongroom.metadata.sql.SqlMetadataStore` (SQLite, PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from strongroom.metadata.records import (
    Account,
    ManifestLookup,
    NewManifest,
    Referrer,
    Repository,
    Upload,
    User,
)


class AccountStore(Protocol):
    async def default_account_id(self) -> str | None: ...

    async def create_default_account(self, account_id: str, now: datetime) -> str:
        """Create the default account unless one exists; return the default's id."""
        ...

    async def create_account(self, account_id: str, now: datetime) -> bool:
        """Create another account; False if the id is taken."""
        ...

    async def list_accounts(self) -> list[Account]:
        """Every account, by id."""
        ...


class RepositoryStore(Protocol):
    async def get_repository(self, account_id: str, name: str) -> Repository | None: ...

    async def ensure_repository(self, account_id: str, name: str, now: datetime) -> Repository: ...

    async def list_repository_names(self, account_id: str, last: str | None, limit: int) -> list[str]: ...


class BlobLinkStore(Protocol):
    async def linked_blob_size(self, account_id: str, name: str, digest: str) -> int | None:
        """Size of a blob linked in the repository, or None."""
        ...

    async def find_blob(
        self, account_id: str, name: str, digest: str
    ) -> tuple[int | None, ManifestLookup | None]:
        """In one read: the size of a blob linked in the repository; or else (a manifest
        is a blob too) the lookup of the manifest with that digest."""
        ...

    async def repositories_linking(
        self, digest: str, first_account_id: str, limit: int
    ) -> list[tuple[str, str]]:
        """(account id, name) of up to ``limit`` repositories linking the blob, those of
        ``first_account_id`` first, then by account and name."""
        ...

    async def link_blob(self, repository_id: int, digest: str, size: int, now: datetime) -> None: ...

    async def unlink_blob(self, repository_id: int, digest: str) -> bool: ...


class UploadStore(Protocol):
    async def create_upload(self, upload: Upload) -> None: ...

    async def get_upload(self, upload_id: str) -> Upload | None: ...

    async def get_upload_in(self, upload_id: str, account_id: str, name: str) -> tuple[Upload | None, bool]:
        """The upload, and whether it belongs to the repository ``name`` of ``account_id``:
        in one read, as every status request (and a refused claim) asks both."""
        ...

    async def claim_upload_in(
        self,
        upload_id: str,
        account_id: str,
        name: str,
        writer: str,
        start: int | None,
        now: datetime,
        *,
        lapsed_before: datetime,
    ) -> bool:
        """Make ``writer`` the upload's one writer, by compare-and-set, if the upload
        belongs to the repository ``name`` of ``account_id`` (the lookup and the claim in
        one transaction: every PATCH and PUT asks both): when nobody writes and, with
        ``start``, the recorded size is ``start``; or when the last claim or release was
        before ``lapsed_before`` (a writer that died). False when there is no such upload
        in that repository, another request holds it, or its size differs."""
        ...

    async def release_upload(self, upload_id: str, writer: str, size: int, now: datetime) -> bool:
        """Record ``size`` and end ``writer``'s claim; False when the claim was lost."""
        ...

    async def renew_upload_claim(self, upload_id: str, writer: str, now: datetime) -> bool:
        """Keep a long write's claim from lapsing; False when it was lost."""
        ...

    async def finish_upload(self, upload_id: str, digest: str, size: int, now: datetime) -> bool:
        """Link the blob in the upload's repository and forget the upload, atomically;
        False, linking nothing, when the upload is gone (cancelled or expired)."""
        ...

    async def delete_upload(self, upload_id: str) -> bool: ...

    async def stale_uploads(self, updated_before: datetime) -> list[str]: ...


class ManifestStore(Protocol):
    async def put_manifest(
        self,
        repository_id: int,
        manifest: NewManifest,
        tag_names: Sequence[str],
        now: datetime,
        *,
        immutable_tags: Collection[str] = (),
    ) -> bool:
        """Store the manifest and point every tag of ``tag_names`` at it, in one
        transaction: all of it or nothing (an OCI 1.1 push may name several tags).

        Returns True when the manifest was new. Raises ``ManifestBlobUnknown`` when a
        referenced blob or child manifest is not in the repository, and ``TagImmutable``
        when a tag of ``immutable_tags`` points at another manifest."""
        ...

    async def lookup_manifest(
        self, account_id: str, name: str, *, tag: str | None = None, digest: str | None = None
    ) -> ManifestLookup: ...

    async def record_pull(
        self, account_id: str, name: str, digest: str, now: datetime, *, unless_since: datetime
    ) -> None:
        """Set the manifest's last pull time to ``now`` unless it is ``unless_since`` or later."""
        ...

    async def delete_manifest(self, repository_id: int, digest: str) -> bool:
        """Delete the manifest and every tag pointing at it."""
        ...

    async def delete_tag(self, repository_id: int, tag: str) -> bool: ...

    async def list_tags(self, account_id: str, name: str, last: str | None, limit: int) -> list[str] | None:
        """Tags after ``last`` in byte order; None when the repository does not exist."""
        ...

    async def list_referrers(
        self, repository_id: int, subject_digest: str, artifact_type: str | None
    ) -> list[Referrer]: ...


class UserStore(Protocol):
    async def get_user(self, account_id: str, name: str) -> User | None: ...

    async def create_user(
        self,
        account_id: str,
        name: str,
        *,
        user_id: str,
        now: datetime,
        path: str = "/",
        password_hash: str | None = None,
    ) -> User: ...

    async def set_password(self, account_id: str, name: str, password_hash: str) -> bool:
        """Replace the password hash and bump the credential version."""
        ...


class MetadataStore(AccountStore, RepositoryStore, BlobLinkStore, UploadStore, ManifestStore, Protocol):
    async def ping(self) -> None: ...

    def close(self) -> None: ...
