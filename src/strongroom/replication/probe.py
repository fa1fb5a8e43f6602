"""``strongroom replication destination test``: sign in at a destination with its
registered credentials and report what they may do there, without changing anything.

1. ``GET /v2/`` without credentials says how the registry signs in: no authentication,
   Basic, or a Bearer token realm (its challenge).
2. With a token realm, a token is asked for ``pull,push,delete`` on the repository
   replication would write to; what was granted is read from the answer's ``scope``
   (RFC 6749 §5.1, which Strongroom answers) or else the token's ``access`` claim (the
   distribution token specification). ``GET /v2/`` with that token proves the sign-in.
3. With Basic, ``GET /v2/`` with the login proves the sign-in; such a registry does not
   say what a login may do, so the report says so rather than guess.

Replication needs ``pull`` and ``push`` (``delete`` only for replicated deletes). This
module loads the HTTP client: the command imports it when it runs.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from strongroom.client.transport import TIMEOUT

WANTED = ("pull", "push", "delete")


@dataclass(slots=True)
class ProbeReport:
    url: str
    repository: str
    reachable: bool = False
    authentication: str | None = None
    """``none``, ``basic`` or ``bearer``: how the registry asks clients to sign in."""
    signed_in: bool = False
    granted: list[str] | None = None
    """What the credentials may do on the repository; None where the registry does not say."""
    notes: list[str] = field(default_factory=list)

    @property
    def may_replicate(self) -> bool | None:
        if not self.signed_in:
            return False
        if self.granted is None:
            return None
        return {"pull", "push"} <= set(self.granted)

    def document(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "repository": self.repository,
            "reachable": self.reachable,
            "authentication": self.authentication,
            "signedIn": self.signed_in,
            "granted": self.granted,
            "mayReplicate": self.may_replicate,
            "notes": self.notes,
        }


async def probe(url: str, repository: str, login: tuple[str, str]) -> ProbeReport:
    report = ProbeReport(url, repository)
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        try:
            anonymous = await client.get(f"{url}/v2/")
        except httpx.TransportError as error:
            report.notes.append(f"unreachable: {error!r}")
            return report
        report.reachable = True
        if anonymous.status_code == 200:
            report.authentication, report.signed_in, report.granted = "none", True, list(WANTED)
            report.notes.append("the registry asks for no credentials: anyone may pull, push and delete")
            return report
        scheme, fields = _challenge(anonymous.headers.get("www-authenticate", ""))
        if scheme == "bearer" and fields.get("realm"):
            report.authentication = "bearer"
            await _bearer(client, report, fields, login)
        else:
            report.authentication = "basic"
            answer = await client.get(f"{url}/v2/", auth=login)
            report.signed_in = answer.status_code == 200
            if not report.signed_in:
                report.notes.append(f"the registry refused the login: {answer.status_code}")
            else:
                report.notes.append("Basic: the registry does not say what a login may do")
    return report


async def _bearer(
    client: httpx.AsyncClient, report: ProbeReport, challenge: dict[str, str], login: tuple[str, str]
) -> None:
    realm = challenge["realm"]
    scope = f"repository:{report.repository}:{','.join(WANTED)}"
    params = {"scope": scope, **({"service": challenge["service"]} if "service" in challenge else {})}
    target, own = urlsplit(realm), urlsplit(report.url)
    if target.scheme != "https" and target.hostname != own.hostname:
        report.notes.append(f"the token realm {realm} is neither https nor this host: the login is not sent")
        return
    answer = await client.get(realm, params=params, auth=login)
    if answer.status_code != 200:
        report.notes.append(f"the token endpoint refused the login: {answer.status_code}")
        return
    document = answer.json()
    token = str(document.get("token") or document.get("access_token") or "")
    checked = await client.get(f"{report.url}/v2/", headers={"authorization": f"Bearer {token}"})
    report.signed_in = checked.status_code == 200
    if "scope" in document:
        report.granted = _actions_in_scope(str(document["scope"]), report.repository)
    else:
        report.granted = _actions_in_token(token, report.repository)
        if report.granted is None:
            report.notes.append("the token does not say what was granted")


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, _, value = part.strip().partition("=")
        if key:
            fields[key.strip().lower()] = value.strip().strip('"')
    return scheme.lower(), fields


def _actions_in_scope(scope: str, repository: str) -> list[str]:
    for item in scope.split():
        kind, _, rest = item.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind == "repository" and name == repository:
            return [action for action in WANTED if action in actions.split(",")]
    return []


def _actions_in_token(token: str, repository: str) -> list[str] | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        access = claims["access"]
    except (IndexError, ValueError, KeyError, TypeError):
        return None
    granted: set[str] = set()
    for entry in access if isinstance(access, list) else []:
        if isinstance(entry, dict) and entry.get("type") == "repository" and entry.get("name") == repository:
            granted.update(str(action) for action in entry.get("actions") or [])
    return [action for action in WANTED if action in granted]
