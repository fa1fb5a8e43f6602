"""``/token``: the Docker token endpoint (GET with Basic credentials or none, and the
OAuth2 form POST that containerd tries first), distribution ``auth/token.md`` and
``auth/oauth.md``. Refresh tokens are not issued, so ``grant_type=refresh_token`` is
refused (clients then fall back to GET)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from strongroom.api.oci.errors import error_response
from strongroom.api.requests import audit_failed_sign_in, request_context
from strongroom.auth.authenticator import ACCESS_KEY_ID, claimed_identity
from strongroom.auth.grants import grant_for
from strongroom.auth.tokens import granted_scope, parse_scopes
from strongroom.errors import AuthenticationRequired, TooManyRequests
from strongroom.services import Services


async def token(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        if request.method == "POST":
            form = await _form(request)
            if form.get("grant_type") != "password":
                return JSONResponse({"error": "unsupported_grant_type"}, 400)
            credentials = f"{form.get('username', '')}:{form.get('password', '')}".encode()
            authorization = "Basic " + base64.b64encode(credentials).decode()
            scopes = parse_scopes([form.get("scope", "")])
        else:
            authorization = request.headers.get("authorization") or ""
            scopes = parse_scopes(request.query_params.getlist("scope"))
        source = request.client.host if request.client else None
        principal = await services.authenticator.authenticate(authorization or None, source)
    except TooManyRequests as error:
        return error_response(error)
    except AuthenticationRequired as error:
        claimed = claimed_identity(authorization)
        await audit_failed_sign_in(request, "strongroom:Authenticate", "*", claimed, error.message)
        return error_response(
            error, headers={"WWW-Authenticate": 'Basic realm="Strongroom", charset="UTF-8"'}
        )
    grant = await grant_for(
        services.authorizer,
        principal,
        scopes,
        default_account_id=services.default_account_id,
        region=services.settings.region,
        context=request_context(request),
    )
    claimed = claimed_identity(authorization)
    if ACCESS_KEY_ID.match(claimed):  # the token dies with the key (docs/adr/0005)
        grant = replace(grant, access_key_id=claimed)
    now = services.clock.now()
    issued = services.tokens.issue(grant, now)
    body = {
        "token": issued,
        "access_token": issued,
        "expires_in": int(services.tokens.ttl / timedelta(seconds=1)),
        "issued_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        # What was granted, which may be less than what was asked (RFC 6749 §5.1).
        "scope": granted_scope(grant),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


MAX_FORM_BYTES = 64 * 1024


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body, capped; the first value of each key."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        return {}
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form
