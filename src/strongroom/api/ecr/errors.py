"""Domain errors → ECR ``__type`` names, in one table (reference/ecr-api.md §8).

Every modeled client error is HTTP 400; only ``ServerException`` is 500. Messages of
"not found" errors name the repository and registry as ECR does; the endpoint knows
them from the request and passes them in.
"""

from __future__ import annotations

from dataclasses import dataclass

from strongroom import errors
from strongroom.api.ecr.model import InvalidParameter
from strongroom.api.ecr.protocol import RequestTooLarge, SerializationException, UnknownOperation
from strongroom.api.signing import InvalidClientTokenId
from strongroom.auth.management import ExpiredToken
from strongroom.auth.sigv4 import (
    IncompleteSignature,
    InvalidSignatureException,
    MissingAuthenticationToken,
    SignatureError,
)
from strongroom.policy.errors import MalformedPolicyDocument
from strongroom.registry.repositories import RepositoryPolicyNotFound


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
    (MalformedPolicyDocument, "InvalidParameterException"),
    (errors.InvalidRequest, "InvalidParameterException"),
    (errors.NameUnknown, "RepositoryNotFoundException"),
    (RepositoryPolicyNotFound, "RepositoryPolicyNotFoundException"),
    (RegistryPolicyNotFound, "RegistryPolicyNotFoundException"),
    (TemplateNotFound, "TemplateNotFoundException"),
    (errors.ManifestUnknown, "ImageNotFoundException"),
    (errors.BlobUploadUnknown, "UploadNotFoundException"),
    (errors.BlobUnknown, "LayersNotFoundException"),
    (errors.ManifestBlobUnknown, "LayersNotFoundException"),
    (errors.RepositoryAlreadyExists, "RepositoryAlreadyExistsException"),
    (errors.RepositoryNotEmpty, "RepositoryNotEmptyException"),
    (errors.TooManyTags, "TooManyTagsException"),
    (errors.TagImmutable, "ImageTagAlreadyExistsException"),
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
    if where is None:
        return error.message
    if isinstance(error, errors.NameUnknown):
        name = where.repository_name or error.name
        return (
            f"The repository with name '{name}' does not exist in the registry with id '{where.registry_id}'"
        )
    if isinstance(error, MalformedPolicyDocument):
        return (
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
            f"'Invalid repository policy provided': {error.message}"
        )
    return error.message
