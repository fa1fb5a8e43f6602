"""What a role session's credentials lead to ends with the session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from strongroom.auth.principals import Principal, RoleSession
from strongroom.auth.tokens import LOGIN_TTL, Grant, TokenError, TokenIssuer

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ENDS = NOW + timedelta(minutes=15)


def session(expires_at: datetime | None = ENDS) -> Principal:
    role_session = RoleSession("deployer", 7, "nightly", "/", expires_at)
    return Principal.assumed_role("123456789012", "AROATEST", role_session)


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(Ed25519PrivateKey.generate(), "registry.test", timedelta(minutes=5))


def test_a_sessions_registry_password_expires_with_the_session(issuer: TokenIssuer) -> None:
    password, expires = issuer.issue_login(session(), NOW)
    assert expires == ENDS
    assert issuer.verify_login(password, ENDS - timedelta(seconds=1)) == session()
    with pytest.raises(TokenError, match="expired"):
        issuer.verify_login(password, ENDS + timedelta(seconds=10))


def test_a_users_registry_password_lasts_twelve_hours(issuer: TokenIssuer) -> None:
    user = Principal("123456789012", "ci", "user", "/", "AIDATEST", 3)
    assert issuer.issue_login(user, NOW)[1] == NOW + LOGIN_TTL
    assert issuer.issue_login(session(expires_at=NOW + timedelta(days=1)), NOW)[1] == NOW + LOGIN_TTL


def test_a_bearer_token_for_a_session_ends_with_it(issuer: TokenIssuer) -> None:
    token = issuer.issue(Grant(session()), ENDS - timedelta(minutes=1))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] == int(ENDS.timestamp())
    assert issuer.verify(token, ENDS - timedelta(seconds=30)).principal.session == session().session


def test_a_bearer_tokens_not_before_is_checked_against_the_injected_clock(issuer: TokenIssuer) -> None:
    """Not PyJWT's system clock: a token issued and verified a month ahead is valid, one
    presented before it was issued is not."""
    later = datetime.now(UTC) + timedelta(days=31)
    user = Principal("123456789012", "ci", "user", "/", "AIDATEST", 3)
    token = issuer.issue(Grant(user), later)
    assert issuer.verify(token, later + timedelta(seconds=1)).principal == user
    with pytest.raises(TokenError, match="not yet valid"):
        issuer.verify(token, later - timedelta(minutes=1))
