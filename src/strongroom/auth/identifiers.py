"""IAM-style identifiers (IAM User Guide, "IAM identifiers": unique ID prefixes)."""

from __future__ import annotations

import secrets
import string

_BASE32 = string.ascii_uppercase + "234567"
_SECRET = string.ascii_letters + string.digits + "+/"

USER_PREFIX = "AIDA"
ROLE_PREFIX = "AROA"
POLICY_PREFIX = "ANPA"
ACCESS_KEY_PREFIX = "AKIA"
TEMPORARY_KEY_PREFIX = "ASIA"


def unique_id(prefix: str) -> str:
    """A 21-character unique id such as ``AIDAJQABLZS4A3QDU576Q``."""
    return prefix + "".join(secrets.choice(_BASE32) for _ in range(17))


def access_key_id(prefix: str = ACCESS_KEY_PREFIX) -> str:
    """A 20-character access key id such as ``AKIAIOSFODNN7EXAMPLE``."""
    return prefix + "".join(secrets.choice(_BASE32) for _ in range(16))


def secret_access_key() -> str:
    """40 random characters, 238 bits."""
    return "".join(secrets.choice(_SECRET) for _ in range(40))
