"""Domain errors → ECR ``__type`` names, in one table (reference/ecr-api.md §8).

Every modeled client error is HTTP 400; only ``ServerException`` is 500. Messages of
"not found" errors name the repository and registry as ECR does; the endpoint knows
them from the request and passes them in.
"""

from __future__ import annotations

from dataclasses import dataclass

from strongroom import errors
from strongroom.api.ecr.model import InvalidParameter
from strongroom.api.ecr.protocol import SerializationException, UnknownOperation
from strongroom.api.requests import RequestTooLarge
from strongroom.api.signing import InvalidClientTokenId
from strongroom.auth.management import ExpiredToken
from strongroom.auth.sigv4 import (
    IncompleteSignature,
    InvalidSignatureException,
    MissingAuthenticationToken,
    SignatureError,
)
from strongroom.lifecycle import LifecyclePolicyInvalid
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.registry.images import ImageAlreadyExists, ImageDigestMismatch, ReferencedImagesUnknown
from strongroom.registry.layers import EmptyUpload, InvalidLayer, LayerAlreadyExists, LayerInaccessible
from strongroom.registry.lifecycle import LifecyclePolicyNotFound, LifecyclePolicyPreviewNotFound
from strongroom.registry.repositories import RepositoryPolicyNotFound
from strongroom.registry.scans import ScanLimitExceeded, ScanNotFound


class NotImplementedOperation(errors.Unsupported):
    """An ECR operation Strongroom does not offer, answered with an error its model
    lists: ``UnsupportedCommandException`` on ECR Public, else ``InvalidParameterException``."""

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(f"The operation {operation} is not implemented by this registry")
        self.ecr_type = (
            "UnsupportedCommandException" if service == "ecr-public" else "InvalidParameterException"
        )


class RegistryPolicyNotFound(errors.NotFound):
    def __init__(self, account_id: str) -> None:
        super().__init__(f"Registry policy does not exist in the registry with id '{account_id}'")


class TemplateNotFound(errors.NotFound):
    pass


class TemplateAlreadyExists(errors.Conflict):
    pass


class InvalidTagParameter(errors.InvalidRequest):
    pass


class InvalidLayerPart(errors.InvalidRequest):
    """A layer part that does not continue its upload; says where the upload ends."""

    def __init__(
        self, message: str, *, registry_id: str, repository_name: str, upload_id: str, last_valid_byte: int
    ) -> None:
        super().__init__(message)
        self.ecr_members = {
            "registryId": registry_id,
            "repositoryName": repository_name,
            "uploadId": upload_id,
            "lastValidByteReceived": last_valid_byte,
        }


class ValidationFailed(errors.InvalidRequest):
    """A value the newer operations refuse with ``ValidationException`` (account settings,
    registry scanning rules)."""


class RepositoryCatalogDataNotFound(errors.NotFound):
    def __init__(self, account_id: str, name: str) -> None:
        super().__init__(
            f"The repository catalog data does not exist for the repository with name '{name}' "
            f"in the registry with id '{account_id}'"
        )


@dataclass(frozen=True)
class Where:
    """The repository and registry a request is about, for messages."""

    registry_id: str
    repository_name: str | None


_TABLE: tuple[tuple[type[errors.StrongroomError], str], ...] = (
    (SerializationException, "SerializationException"),
    (UnknownOperation, "UnknownOperationException"),
    (RequestTooLarge, "InvalidParameterException"),
    (InvalidParameter, "InvalidParameterException"),
    (InvalidTagParameter, "InvalidTagParameterException"),
    (ValidationFailed, "ValidationException"),
    (MalformedPolicyDocument, "InvalidParameterException"),
    (LifecyclePolicyInvalid, "InvalidParameterException"),
    (ImageDigestMismatch, "ImageDigestDoesNotMatchException"),
    (InvalidLayerPart, "InvalidLayerPartException"),
    (EmptyUpload, "EmptyUploadException"),
    (InvalidLayer, "InvalidLayerException"),
    (errors.InvalidRequest, "InvalidParameterException"),
    (errors.NameUnknown, "RepositoryNotFoundException"),
    (RepositoryPolicyNotFound, "RepositoryPolicyNotFoundException"),
    (LifecyclePolicyNotFound, "LifecyclePolicyNotFoundException"),
    (LifecyclePolicyPreviewNotFound, "LifecyclePolicyPreviewNotFoundException"),
    (RegistryPolicyNotFound, "RegistryPolicyNotFoundException"),
    (TemplateNotFound, "TemplateNotFoundException"),
    (ScanNotFound, "ScanNotFoundException"),
    (ScanLimitExceeded, "LimitExceededException"),
    (RepositoryCatalogDataNotFound, "RepositoryCatalogDataNotFoundException"),
    (errors.ManifestUnknown, "ImageNotFoundException"),
    (errors.BlobUploadUnknown, "UploadNotFoundException"),
    (LayerInaccessible, "LayerInaccessibleException"),
    (errors.BlobUnknown, "LayersNotFoundException"),
    (ReferencedImagesUnknown, "ReferencedImagesNotFoundException"),
    (errors.ManifestBlobUnknown, "LayersNotFoundException"),
    (errors.RepositoryAlreadyExists, "RepositoryAlreadyExistsException"),
    (errors.RepositoryNotEmpty, "RepositoryNotEmptyException"),
    (errors.TooManyTags, "TooManyTagsException"),
    (errors.TagImmutable, "ImageTagAlreadyExistsException"),
    (ImageAlreadyExists, "ImageAlreadyExistsException"),
    (LayerAlreadyExists, "LayerAlreadyExistsException"),
    (TemplateAlreadyExists, "TemplateAlreadyExistsException"),
    (errors.ManifestTooLarge, "InvalidParameterException"),
    (errors.TooManyRequests, "ThrottlingException"),
    (ExpiredToken, "ExpiredTokenException"),
    (InvalidClientTokenId, "UnrecognizedClientException"),
    (MissingAuthenticationToken, "MissingAuthenticationTokenException"),
    (IncompleteSignature, "IncompleteSignatureException"),
    (InvalidSignatureException, "InvalidSignatureException"),
    (SignatureError, "InvalidSignatureException"),
    (errors.AuthenticationRequired, "UnrecognizedClientException"),
    (errors.AccessDenied, "AccessDeniedException"),
)
"""First match wins: subclasses before their bases. Operation modules add their own
errors here, next to their kin."""


def ecr_error(error: errors.StrongroomError, where: Where | None) -> tuple[str, str]:
    """The ``__type`` and message for a domain error; ``ServerException`` when unmapped.
    An error may name its own type in ``ecr_type``."""
    own = getattr(error, "ecr_type", None)
    if isinstance(own, str):
        return own, _message(error, where)
    for kind, code in _TABLE:
        if isinstance(error, kind):
            return code, _message(error, where)
    return "ServerException", error.message


def _message(error: errors.StrongroomError, where: Where | None) -> str:
    if isinstance(error, LifecyclePolicyInvalid):
        return f"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '{error.message}'"
    if where is None:
        return error.message
    if isinstance(error, errors.NameUnknown):
        name = where.repository_name or error.name
        return (
            f"The repository with name '{name}' does not exist in the registry with id '{where.registry_id}'"
        )
    if isinstance(error, MalformedPolicyDocument):
        what = "repository" if where.repository_name else "registry"
        return (
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
            f"'Invalid {what} policy provided': {error.message}"
        )
    return error.message
