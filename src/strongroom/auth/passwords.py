"""Password hashing with argon2id (memory-hard), run off the event loop."""

from __future__ import annotations

import secrets

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        # Verified against when the user is unknown, so both cases cost the same.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await anyio.to_thread.run_sync(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            ok = self._hasher.verify(password_hash or self._decoy, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and password_hash is not None


def generate_password() -> str:
    return secrets.token_urlsafe(24)
