"""Authenticating a SigV4-signed API request (IAM, STS, ECR, ECR Public): the access key
or role session that signed it, checked against the stored secret."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from datetime import datetime

from starlette.requests import Request

from strongroom.auth.identifiers import TEMPORARY_KEY_PREFIX
from strongroom.auth.management import verify_session
from strongroom.auth.principals import Principal
from strongroom.auth.secretbox import SecretBoxError
from strongroom.auth.sigv4 import SignatureDoesNotMatch, SignedRequestInfo, verify
from strongroom.errors import AuthenticationRequired
from strongroom.services import Services

logger = logging.getLogger("strongroom.api")


class InvalidClientTokenId(AuthenticationRequired):
    """The access key is unknown or inactive, or its session token is missing or wrong."""


async def authenticate_signed(
    request: Request, services: Services, info: SignedRequestInfo, body: bytes, scopes: Collection[str]
) -> Principal:
    """Who signed the request (SigV4, reference/ecr-api.md §9.1): a user with an active
    ``AKIA…`` key, or a role session with an unexpired ``ASIA…`` key and its session token.

    ``scopes`` are the signing names the endpoint answers for (``iam``, ``ecr``, …)."""
    if info.service not in scopes:
        names = " or ".join(f"'{scope}'" for scope in sorted(scopes))
        raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: {names}.")
    if info.region not in _regions(info.service, services.settings.region):
        raise SignatureDoesNotMatch("Credential should be scoped to a valid region.")
    now = services.clock.now()
    if info.access_key_id.startswith(TEMPORARY_KEY_PREFIX):
        principal, key_id, ciphertext = await _temporary(services, info, now)
    else:
        if info.security_token is not None:
            raise InvalidClientTokenId(_UNKNOWN_CREDENTIALS)
        key = await services.iam.get_access_key(info.access_key_id)
        if key is None or key.status != "Active":
            raise InvalidClientTokenId(_UNKNOWN_CREDENTIALS)
        user = key.user
        principal = Principal(user.account_id, user.name, "user", user.path, user.user_id, user.id)
        key_id, ciphertext = key.id, key.secret_ciphertext
    try:
        secret = services.secrets.decrypt(ciphertext, key_id.encode()).decode()
    except SecretBoxError as error:
        logger.error("the secret of access key %s does not decrypt: %s", key_id, error.message)
        raise InvalidClientTokenId(_UNKNOWN_CREDENTIALS) from None
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    query = request.scope.get("query_string", b"").decode("latin-1")
    verify(
        request.method,
        raw_path.decode("latin-1"),
        query,
        request.headers.items(),
        hashlib.sha256(body).hexdigest(),
        secret,
        info,
        now,
    )
    await services.iam.record_access_key_use(key_id, now)
    return principal


_UNKNOWN_CREDENTIALS = "The security token included in the request is invalid."
ONE_REGION_SERVICES = frozenset({"iam", "sts", "ecr-public"})
"""Signing names AWS serves from ``us-east-1`` (IAM, STS's global endpoint, ECR Public):
clients and Terraform sign them for that region whatever the registry's own."""
ONE_REGION = "us-east-1"


def _regions(service: str, instance_region: str) -> frozenset[str]:
    """The credential-scope regions a signature may name: the instance's own, or for
    the one-region services also theirs. Any other is refused, as AWS refuses it, so a
    signature made for another deployment's region is not accepted here."""
    if service in ONE_REGION_SERVICES:
        return frozenset({instance_region, ONE_REGION})
    return frozenset({instance_region})


async def _temporary(
    services: Services, info: SignedRequestInfo, now: datetime
) -> tuple[Principal, str, bytes]:
    """The role session behind an ``ASIA…`` key, if the session token matches and is current."""
    credential = await services.iam.get_temporary_credential(info.access_key_id)
    if credential is None:
        raise InvalidClientTokenId(_UNKNOWN_CREDENTIALS)
    principal = verify_session(credential, info.security_token, now)
    return principal, credential.id, credential.secret_ciphertext
