"""The domain error hierarchy, declared once.

Each API maps these to its own wire format in one table: the OCI API in
``api/oci/errors.py`` (error JSON codes), the ECR API to ``__type`` names.

::

    StrongroomError
     ├── InvalidRequest                 the request itself is malformed
     │    ├── NameInvalid               repository name outside the OCI grammar
     │    ├── TagInvalid                tag outside the OCI grammar
     │    ├── DigestInvalid             malformed, unsupported or mismatching digest
     │    ├── ManifestInvalid           manifest body or media type not acceptable
     │    ├── SizeInvalid               declared length differs from the content
     │    ├── PaginationInvalid         bad ``n`` / ``last``
     │    ├── TooManyTagsRequested      more ``?tag=`` values on a manifest PUT than accepted (414)
     │    └── BlobUploadInvalid         bad upload request (Content-Range syntax, …)
     ├── NotFound
     │    ├── NameUnknown               no such repository
     │    ├── BlobUnknown               no such blob in the repository
     │    ├── BlobUploadUnknown         no such upload session
     │    └── ManifestUnknown           no such manifest or tag
     ├── ManifestBlobUnknown            a manifest references content that is not there
     ├── UploadRangeInvalid             a chunk does not continue the upload (416)
     ├── ManifestTooLarge               manifest above the size cap (413)
     ├── Unsupported                    the operation is not offered
     ├── Conflict                       the change conflicts with what exists (already exists, in use)
     │    ├── TagImmutable              the tag exists and the repository keeps it where it is
     │    ├── ManifestReferenced        deleting a manifest that an index of the repository lists
     │    ├── RepositoryAlreadyExists   a repository of that name exists
     │    ├── RepositoryNotEmpty        deleting a repository that holds images, without force
     │    └── TooManyTags               more resource tags than a repository may carry
     ├── StorageFull                    no space left to store the content (507)
     ├── TooManyRequests                slow down: too many failed sign-ins (429)
     ├── AuthenticationRequired         no or bad credentials (401)
     └── AccessDenied                   credentials fine, policy says no (403)
"""

from __future__ import annotations

from collections.abc import Sequence


class StrongroomError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(StrongroomError):
    pass


class NameInvalid(InvalidRequest):
    pass


class TagInvalid(InvalidRequest):
    pass


class DigestInvalid(InvalidRequest):
    pass


class ManifestInvalid(InvalidRequest):
    pass


class SizeInvalid(InvalidRequest):
    pass


class PaginationInvalid(InvalidRequest):
    pass


class BlobUploadInvalid(InvalidRequest):
    pass


class TooManyTagsRequested(InvalidRequest):
    pass


class NotFound(StrongroomError):
    pass


class NameUnknown(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"repository name not known to registry: {name}")
        self.name = name


class BlobUnknown(NotFound):
    def __init__(self, digest: str) -> None:
        super().__init__(f"blob unknown to registry: {digest}")
        self.digest = digest


class BlobUploadUnknown(NotFound):
    def __init__(self, upload_id: str) -> None:
        super().__init__(f"blob upload unknown to registry: {upload_id}")
        self.upload_id = upload_id


class ManifestUnknown(NotFound):
    def __init__(self, reference: str) -> None:
        super().__init__(f"manifest unknown to registry: {reference}")
        self.reference = reference


class ManifestBlobUnknown(StrongroomError):
    """The manifest names blobs or child manifests the repository does not hold."""

    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__("manifest references content unknown to the repository: " + ", ".join(missing))
        self.missing = tuple(missing)


class UploadRangeInvalid(StrongroomError):
    """A chunk's start is not where the upload currently ends."""

    def __init__(self, message: str, *, upload_id: str, size: int) -> None:
        super().__init__(message)
        self.upload_id = upload_id
        self.size = size


class ManifestTooLarge(StrongroomError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"manifest larger than the {limit}-byte limit")
        self.limit = limit


class Unsupported(StrongroomError):
    pass


class Conflict(StrongroomError):
    pass


class TagImmutable(Conflict):
    """ECR's wording (``ImageTagAlreadyExistsException``), which docker, podman and
    skopeo show as it is: one message whichever API the push came through."""

    def __init__(self, tag: str, repository: str) -> None:
        super().__init__(
            f"The image tag '{tag}' already exists in the '{repository}' repository and cannot be "
            "overwritten because the repository is immutable."
        )
        self.tag = tag
        self.repository = repository


class ManifestReferenced(Conflict):
    """A manifest that an index of its repository lists is kept while the index is there:
    deleting it would leave the index naming content the registry no longer holds."""

    def __init__(self, digest: str, index: str) -> None:
        super().__init__(f"Requested image referenced by manifest list: [{index}]")
        self.digest = digest
        self.index = index


class RepositoryAlreadyExists(Conflict):
    def __init__(self, account_id: str, name: str) -> None:
        super().__init__(
            f"The repository with name '{name}' already exists in the registry with id '{account_id}'"
        )


class RepositoryNotEmpty(Conflict):
    def __init__(self, account_id: str, name: str) -> None:
        super().__init__(
            f"The repository with name '{name}' in registry with id '{account_id}' cannot be deleted "
            "because it still contains images"
        )


class TooManyTags(Conflict):
    pass


class StorageFull(StrongroomError):
    def __init__(self) -> None:
        super().__init__("insufficient storage: the registry has no space left; nothing was stored")


class TooManyRequests(StrongroomError):
    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationRequired(StrongroomError):
    pass


class AccessDenied(StrongroomError):
    pass
