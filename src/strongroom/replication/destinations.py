"""Where replication destinations live: a region and registry id (as rules name them) →
the registry's URL, its kind and the access key to sign in there. The secret is
encrypted at rest with the master key (:mod:`strongroom.auth.secretbox`), bound to the
destination it belongs to, and is never shown again once registered.

Destinations belong to the deployment, not to an account (like jobs): the admin routes
let only principals of the default account act on them, as policy allows.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from strongroom.auth.secretbox import SecretBox
from strongroom.clock import Clock
from strongroom.errors import InvalidRequest, NotFound
from strongroom.metadata.replication import Destination, SqlReplicationStore

KINDS = ("strongroom", "oci")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")
_REGISTRY_ID = re.compile(r"^[0-9]{12}$")
_ACCESS_KEY_ID = re.compile(r"^[A-Za-z0-9._@+=-]{1,128}$")
MAX_SECRET = 1024


def _associated_data(region: str, registry_id: str) -> bytes:
    return f"replication-destination:{region}:{registry_id}".encode()


def check_target(region: str, registry_id: str) -> None:
    if not _REGION.match(region):
        raise InvalidRequest(f"region {region[:40]!r} is not a region name like us-east-1")
    if not _REGISTRY_ID.match(registry_id):
        raise InvalidRequest("registryId must be 12 digits")


def destination_document(destination: Destination) -> dict[str, Any]:
    """What is shown of a destination: never its secret."""
    return {
        "region": destination.region,
        "registryId": destination.registry_id,
        "url": destination.url,
        "kind": destination.kind,
        "accessKeyId": destination.access_key_id,
        "createdAt": destination.created_at.isoformat(),
    }


class Destinations:
    def __init__(self, store: SqlReplicationStore, box: SecretBox, clock: Clock) -> None:
        self._store, self._box, self._clock = store, box, clock

    async def add(
        self, region: str, registry_id: str, url: str, kind: str, access_key_id: str, secret: str
    ) -> Destination:
        check_target(region, registry_id)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise InvalidRequest("url must be http(s)://host[:port] of the destination registry")
        if kind not in KINDS:
            raise InvalidRequest(f"kind must be one of {', '.join(KINDS)}")
        if not _ACCESS_KEY_ID.match(access_key_id):
            raise InvalidRequest("accessKeyId must be 1 to 128 letters, digits or ._@+=-")
        if not secret or len(secret) > MAX_SECRET:
            raise InvalidRequest(f"the secret must be 1 to {MAX_SECRET} characters")
        encrypted = self._box.encrypt(secret.encode(), _associated_data(region, registry_id))
        destination = Destination(
            region, registry_id, url.rstrip("/"), kind, access_key_id, encrypted, self._clock.now()
        )
        await self._store.put_destination(destination)
        return destination

    async def remove(self, region: str, registry_id: str) -> None:
        check_target(region, registry_id)
        if not await self._store.remove_destination(region, registry_id):
            raise NotFound(f"no replication destination for region {region} and registry {registry_id}")

    async def list(self) -> list[Destination]:
        return await self._store.destinations()

    async def find(self, region: str, registry_id: str) -> tuple[Destination, str] | None:
        """The destination and its secret in clear (for the replication job only)."""
        destination = await self._store.destination(region, registry_id)
        if destination is None:
            return None
        secret = self._box.decrypt(destination.encrypted_secret, _associated_data(region, registry_id))
        return destination, secret.decode()
