"""Docker registry bearer tokens (distribution ``auth/token.md``, ``auth/scope.md``).

A token is a JWT signed with Ed25519 by the registry's token key, so every process
holding the key verifies it without a database lookup. It names its principal and the
exact ECR actions granted per repository: the policy engine decided them when the
token was issued, and a token never grants more than policy allowed then.

Scopes use the Docker grammar ``type:name:action[,action]`` (type up to the first
``:``, actions after the last); ``pull``, ``push``, ``delete`` and ``*`` expand to ECR
actions below; ``registry:catalog:*`` is the catalog.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from strongroom.auth.actions import Action
from strongroom.auth.principals import ANONYMOUS, Principal, RoleSession
from strongroom.errors import AuthenticationRequired, StrongroomError

VERB_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "pull": (
        Action.BATCH_GET_IMAGE,
        Action.GET_DOWNLOAD_URL_FOR_LAYER,
        Action.BATCH_CHECK_LAYER_AVAILABILITY,
        Action.LIST_IMAGES,
    ),
    "push": (
        Action.BATCH_CHECK_LAYER_AVAILABILITY,
        Action.INITIATE_LAYER_UPLOAD,
        Action.UPLOAD_LAYER_PART,
        Action.COMPLETE_LAYER_UPLOAD,
        Action.PUT_IMAGE,
    ),
    "delete": (Action.BATCH_DELETE_IMAGE,),
}
VERB_ACTIONS = {**VERB_ACTIONS, "*": tuple(dict.fromkeys(a for v in VERB_ACTIONS.values() for a in v))}
CATALOG = "registry:catalog"
_ISSUER = "strongroom"
LOGIN_TTL = timedelta(hours=12)
"""How long a registry password from ``GetAuthorizationToken`` is valid, as on ECR."""
DOWNLOAD_TTL = timedelta(minutes=10)
"""How long a ``GetDownloadUrlForLayer`` URL is valid (ECR's pre-signed URLs: minutes)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """One requested scope: a repository path (or ``catalog``) and verbs."""

    type: str
    name: str
    verbs: tuple[str, ...]


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Every scope in ``values`` (each value may hold several, space-separated);
    malformed ones are dropped, as clients cope with a smaller grant."""
    scopes = []
    for value in values:
        for item in value.split():
            kind, sep, rest = item.partition(":")
            name, sep2, verbs = rest.rpartition(":")
            if not (sep and sep2 and name):
                continue
            kind = kind.split("(", 1)[0]  # repository(plugin) is a repository
            if kind in ("repository", "registry"):
                scopes.append(Scope(kind, name, tuple(v for v in verbs.split(",") if v)))
    return scopes


def challenge_scope(path: str, action: str) -> str:
    """The scope a client should ask for to perform ``action`` on repository ``path``."""
    if action in VERB_ACTIONS["pull"] and action not in VERB_ACTIONS["push"]:
        return f"repository:{path}:pull"
    if action in VERB_ACTIONS["delete"]:
        return f"repository:{path}:delete"
    return f"repository:{path}:pull,push"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified token allows: ECR actions per repository path."""

    principal: Principal
    actions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    access_key_id: str | None = None
    """The access key the token was obtained with: it stops working with the key."""

    def allows(self, path: str, action: str) -> bool:
        return action in self.actions.get(path, frozenset())


@dataclass(frozen=True, slots=True)
class BlobDownload:
    """What a download token lets anyone holding it fetch: one blob of one repository."""

    account_id: str
    name: str
    digest: str


class TokenError(AuthenticationRequired):
    pass


class TokenKeyError(StrongroomError):
    pass


class TokenIssuer:
    def __init__(self, key: Ed25519PrivateKey, service: str, ttl: timedelta) -> None:
        self._key = key
        self._public = key.public_key()
        self.key_id = key_id(self._public)
        self.service = service
        self.ttl = ttl

    def issue(self, grant: Grant, now: datetime) -> str:
        principal = grant.principal
        claims = {
            "iss": _ISSUER,
            "aud": self.service,
            "sub": principal.arn,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()) - 5,
            "exp": int(_until(principal, now + self.ttl).timestamp()),
            "jti": secrets.token_hex(12),
            "access": [
                {"type": "repository", "name": path, "actions": _verbs(actions)}
                for path, actions in sorted(grant.actions.items())
                if path != CATALOG
            ]
            + (
                [{"type": "registry", "name": "catalog", "actions": ["*"]}]
                if CATALOG in grant.actions
                else []
            ),
            "ecr": {path: sorted(actions) for path, actions in grant.actions.items()},
            "principal": _principal_claims(principal),
            "via": grant.access_key_id,
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.key_id})

    def verify(self, token: str, now: datetime) -> Grant:
        claims = self._decode(token, self.service, now, "bearer token")
        actions = {str(path): frozenset(map(str, granted)) for path, granted in claims.get("ecr", {}).items()}
        via = claims.get("via")
        return Grant(_principal_from(claims.get("principal")), actions, via if isinstance(via, str) else None)

    def issue_login(self, principal: Principal, now: datetime) -> tuple[str, datetime]:
        """A registry password for ``AWS`` + password Basic sign-in (``GetAuthorizationToken``),
        valid :data:`LOGIN_TTL`. It names the principal only: every request it signs is
        authorized by the principal's policies at that time. It contains no ``:``.
        A role session's password expires with the session."""
        expires = _until(principal, now + LOGIN_TTL)
        claims = {
            "iss": _ISSUER,
            "aud": self._login_audience,
            "sub": principal.arn,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_hex(12),
            "principal": _principal_claims(principal),
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.key_id}), expires

    def verify_login(self, password: str, now: datetime) -> Principal:
        claims = self._decode(password, self._login_audience, now, "authorization token")
        principal = _principal_from(claims.get("principal"))
        if principal.is_anonymous:
            raise TokenError("invalid authorization token")
        return principal

    @property
    def _login_audience(self) -> str:
        return f"{self.service}/login"

    def issue_download(self, account_id: str, name: str, digest: str, now: datetime) -> tuple[str, datetime]:
        """A token for one blob of one repository, valid :data:`DOWNLOAD_TTL`: the bearer
        of a ``GetDownloadUrlForLayer`` URL needs no other credentials."""
        expires = now + DOWNLOAD_TTL
        claims = {
            "iss": _ISSUER,
            "aud": self._download_audience,
            "sub": f"{account_id}/{name}@{digest}",
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "blob": {"account": account_id, "name": name, "digest": digest},
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.key_id}), expires

    def verify_download(self, token: str, now: datetime) -> BlobDownload:
        claims = self._decode(token, self._download_audience, now, "download link")
        blob = claims.get("blob")
        if not isinstance(blob, dict) or not all(
            isinstance(blob.get(key), str) for key in ("account", "name", "digest")
        ):
            raise TokenError("invalid download link")
        return BlobDownload(blob["account"], blob["name"], blob["digest"])

    @property
    def _download_audience(self) -> str:
        return f"{self.service}/download"

    def _decode(self, token: str, audience: str, now: datetime, what: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.key_id:
                raise TokenError(f"{what} signed by an unknown key")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=["EdDSA"],
                audience=audience,
                issuer=_ISSUER,
                # Times are checked below against the injected clock, never the system's.
                options={
                    "require": ["exp", "iat", "sub"],
                    "verify_iat": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as error:
            raise TokenError(f"invalid {what}: {error}") from None
        if claims["exp"] < now.timestamp() - 5:
            raise TokenError(f"Your {what} has expired. Reauthenticate and try again.")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now.timestamp() + 5:
            raise TokenError(f"invalid {what}: The token is not yet valid (nbf)")
        return claims


def _until(principal: Principal, expires: datetime) -> datetime:
    """``expires``, or sooner if the principal is a role session that ends sooner."""
    session = principal.session
    if session is not None and session.expires_at is not None:
        return min(expires, session.expires_at)
    return expires


def _principal_claims(principal: Principal) -> dict[str, Any] | None:
    if principal.is_anonymous:
        return None
    claims: dict[str, Any] = {
        "account": principal.account_id,
        "name": principal.name,
        "path": principal.path,
        "id": principal.unique_id,
        "pk": principal.pk,
    }
    if principal.session is not None:
        session = principal.session
        claims["session"] = {"name": session.session_name, "role": session.role_name}
        if session.expires_at is not None:
            claims["session"]["exp"] = int(session.expires_at.timestamp())
    return claims


def _principal_from(claims: Any) -> Principal:
    if not isinstance(claims, dict):
        return ANONYMOUS
    session = claims.get("session")
    if isinstance(session, dict):
        ends = session.get("exp")
        expires_at = datetime.fromtimestamp(ends, UTC) if isinstance(ends, int) else None
        role_session = RoleSession(session["role"], claims["pk"], session["name"], claims["path"], expires_at)
        role_id = str(claims["id"]).split(":", 1)[0]
        return Principal.assumed_role(claims["account"], role_id, role_session)
    return Principal(claims["account"], claims["name"], "user", claims["path"], claims["id"], claims["pk"])


def granted_scope(grant: Grant) -> str:
    """What ``grant`` allows in the scope grammar it was asked in, space-separated (the
    ``scope`` of an OAuth2 token response, RFC 6749 §5.1): only verbs granted in full."""
    scopes = [
        f"repository:{path}:{','.join(verbs)}"
        for path, actions in sorted(grant.actions.items())
        if path != CATALOG and (verbs := _verbs(actions))
    ]
    if CATALOG in grant.actions:
        scopes.append(f"{CATALOG}:*")
    return " ".join(scopes)


def _verbs(actions: frozenset[str]) -> list[str]:
    return [verb for verb in ("pull", "push", "delete") if set(VERB_ACTIONS[verb]) <= actions]


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as error:
        raise TokenKeyError(f"token signing key is not a PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise TokenKeyError("token signing key must be an Ed25519 key")
    return key


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The token key in ``path``, created (0600) on first use. Processes that share a
    database must be given the same key through settings instead."""
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # the first process to start wins; the others read its key
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenKeyError(f"{path} is readable by others; run: chmod 600 {path}")
    return load_private_key(path.read_text())
