"""Encryption of secrets at rest: AES-256-GCM under a rotatable master key.

Access-key secrets cannot be hashed like passwords, because verifying SigV4 needs the
plaintext secret (DESIGN §3), so they are stored encrypted. A :class:`SecretBox` holds
one or more 256-bit keys by key id: the current key encrypts, any held key decrypts, so
a key can rotate while old rows are re-encrypted lazily (DESIGN §10, "Keys").

A ciphertext is self-describing bytes::

    +---------+--------+-------------+-----------+---------------------------+
    | version | id len |   key id    |   nonce   |  ciphertext ‖ 16-byte tag  |
    |  0x01   | 1 byte | id len bytes| 12 bytes  |                           |
    +---------+--------+-------------+-----------+---------------------------+

The header (version, key id) and the caller's associated data (e.g. the access key id)
are authenticated as GCM associated data (NIST SP 800-38D), so a ciphertext copied to
another row, or relabelled with another key id, fails to decrypt. Nonces are 96 random
bits per message; with one key that stays safe far beyond any number of access keys
(SP 800-38D §8.3 bounds random nonces at 2**32 messages per key).

Keys come from :func:`load_or_create_master_key` (a 0600 file in the data directory,
single node) or :func:`key_from_setting` (base64 from settings, for processes sharing a
database). The file holds the same base64 text the setting takes. A key's id is derived
from the key itself, so every process given the same key agrees on its id.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.errors import StrongroomError

FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_KEY_ID_DOMAIN = b"strongroom secretbox key id\x00"


class SecretBoxError(StrongroomError):
    """A secret could not be encrypted or decrypted, or a key could not be loaded."""


def key_id_for(key: bytes) -> str:
    """A short public fingerprint of ``key``: 64 bits of a domain-separated SHA-256."""
    return hashlib.sha256(_KEY_ID_DOMAIN + key).hexdigest()[:16]


class SecretBox:
    """Authenticated encryption of small secrets under the current key of a key ring."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        if current_key_id not in keys:
            raise SecretBoxError(f"current key id {current_key_id!r} is not among the keys")
        self._aeads: dict[str, AESGCM] = {}
        for key_id, key in keys.items():
            if not (key_id.isascii() and 0 < len(key_id) < 256):
                raise SecretBoxError(f"key id {key_id!r} must be 1 to 255 ASCII characters")
            if len(key) != KEY_BYTES:
                raise SecretBoxError(f"key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
            self._aeads[key_id] = AESGCM(key)
        self.current_key_id = current_key_id

    @classmethod
    def from_keys(cls, current: bytes, *retired: bytes) -> SecretBox:
        """A box encrypting with ``current`` and still decrypting under ``retired`` keys."""
        keys = {key_id_for(key): key for key in (*retired, current)}
        return cls(keys, key_id_for(current))

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._aeads)

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt under the current key, binding ``associated_data`` (e.g. the access key id)."""
        header = _header(self.current_key_id)
        # Never injectable: a repeated nonce under one key breaks GCM completely.
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aeads[self.current_key_id].encrypt(nonce, plaintext, header + associated_data)
        return header + nonce + sealed

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        """Decrypt a ciphertext made by :meth:`encrypt` under any held key.

        Raises :class:`SecretBoxError` for an unknown format or key id, and when
        authentication fails: wrong key, other associated data, or altered bytes.
        """
        key_id, body_start = _parse_header(ciphertext)
        aead = self._aeads.get(key_id)
        if aead is None:
            raise SecretBoxError(f"secret was encrypted with key id {key_id!r}, which is not configured")
        nonce = ciphertext[body_start : body_start + NONCE_BYTES]
        sealed = ciphertext[body_start + NONCE_BYTES :]
        if len(sealed) < TAG_BYTES:
            raise SecretBoxError("encrypted secret is truncated")
        try:
            return aead.decrypt(nonce, sealed, ciphertext[:body_start] + associated_data)
        except InvalidTag:
            raise SecretBoxError(
                f"encrypted secret failed authentication under key id {key_id!r}: "
                "the key is wrong, it belongs to another record, or it was altered"
            ) from None

    def needs_reencryption(self, ciphertext: bytes) -> bool:
        """Whether ``ciphertext`` is under a key other than the current one (rotation)."""
        return _parse_header(ciphertext)[0] != self.current_key_id


def _header(key_id: str) -> bytes:
    encoded = key_id.encode("ascii")
    return bytes((FORMAT_VERSION, len(encoded))) + encoded


def _parse_header(ciphertext: bytes) -> tuple[str, int]:
    if len(ciphertext) < 2:
        raise SecretBoxError("encrypted secret is truncated")
    if ciphertext[0] != FORMAT_VERSION:
        raise SecretBoxError(f"encrypted secret has unknown format version {ciphertext[0]}")
    end = 2 + ciphertext[1]
    if len(ciphertext) < end + NONCE_BYTES + TAG_BYTES:
        raise SecretBoxError("encrypted secret is truncated")
    try:
        return ciphertext[2:end].decode("ascii"), end
    except UnicodeDecodeError:
        raise SecretBoxError("encrypted secret has a malformed key id") from None


def key_from_setting(text: str) -> tuple[str, bytes]:
    """Parse a base64 (standard or URL-safe) 256-bit key; return ``(key_id, key)``."""
    stripped = text.strip()
    try:
        key = base64.b64decode(stripped.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise SecretBoxError("master key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise SecretBoxError(f"master key is {len(key)} bytes; it must be {KEY_BYTES} bytes, base64-encoded")
    return key_id_for(key), key


def generate_key_setting() -> str:
    """A fresh random key in the text form :func:`key_from_setting` reads."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def load_or_create_master_key(path: Path) -> tuple[str, bytes]:
    """Read the key file at ``path``, creating it (mode 0600) with a random key if absent.

    Creation is atomic and exclusive: the key is written to a private temporary file
    (``O_CREAT|O_EXCL``, 0600) and hard-linked into place, so concurrent starters agree
    on one key and no reader sees a half-written file. An existing file that is not a
    regular file, or that group or others may access, is refused rather than used.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(generate_key_setting() + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_key_file(path: Path) -> tuple[str, bytes]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SecretBoxError(f"cannot open master key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise SecretBoxError(f"master key file {path} is not a regular file")
        if mode & 0o077:
            raise SecretBoxError(
                f"master key file {path} has mode {stat.S_IMODE(mode):04o}; group and others must have "
                f"no access (chmod 600 {path})"
            )
        content = file.read()
    try:
        return key_from_setting(content.decode("ascii", errors="replace"))
    except SecretBoxError as exc:
        raise SecretBoxError(f"master key file {path}: {exc.message}") from None
