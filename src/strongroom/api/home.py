"""``GET /``: what this server is and how to reach it, for a person or a script.

A browser (``Accept: text/html``) gets a small HTML page; anything else gets the same
facts as JSON. Anonymous callers read it, so it names only what every client must know
anyway: the server and its version, the endpoints and the login commands. No account
ids, user names or secrets. Every URL comes from the configured public URL, never from
the request's ``Host`` header, which the caller chooses (DESIGN.md §10).

``POST /`` (the AWS JSON and query APIs) is routed separately and is not touched here.
"""

from __future__ import annotations

import functools
import html
from importlib import metadata
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from strongroom.services import Services
from strongroom.settings import Settings

_HTML = "text/html"
_JSON = "application/json"
_SECURITY_HEADERS = {
    "Vary": "Accept",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page has no scripts, images or forms; only its own inline style may apply.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}


@functools.cache
def server_version() -> str:
    """The installed package's version (read once, on first use, not at import)."""
    try:
        return metadata.version("strongroom")
    except metadata.PackageNotFoundError:
        return "unknown"


def overview(settings: Settings) -> dict[str, Any]:
    """The page's facts, built from settings only."""
    url = settings.resolved_public_url
    registry = settings.token_service
    region = settings.region
    insecure = " --tls-verify=false" if url.startswith("http://") else ""
    aws = f"--endpoint-url {url} --region {region}"
    return {
        "server": "Strongroom",
        "version": server_version(),
        "oci": {"endpoint": f"{url}/v2/", "registry": registry, "token_realm": f"{url}/token"},
        "aws": {
            "endpoint_url": url,
            "region": region,
            "services": ["ecr", "ecr-public", "iam", "sts"],
            "example": f"aws ecr describe-repositories {aws}",
        },
        "login": {
            "podman": f"podman login{insecure} {registry}",
            "aws": (
                f"aws ecr get-login-password {aws} "
                f"| podman login{insecure} --username AWS --password-stdin {registry}"
            ),
        },
    }


async def home(request: Request) -> Response:
    services: Services = request.app.state.services
    facts = overview(services.settings)
    if _prefers_html(request.headers.get("accept", "")):
        return HTMLResponse(render_html(facts), headers=_SECURITY_HEADERS)
    return JSONResponse(facts, headers=_SECURITY_HEADERS)


def _prefers_html(accept: str) -> bool:
    """Whether ``text/html`` ranks above ``application/json`` in an Accept header
    (RFC 9110 §12.5.1: the most specific range gives a type its weight); a tie, no
    header, or ``*/*`` alone means JSON, the answer for scripts."""
    return _weight(accept, _HTML) > _weight(accept, _JSON)


def _weight(accept: str, media_type: str) -> float:
    kind = media_type.split("/", 1)[0]
    best: tuple[int, float] = (-1, 0.0)  # (specificity, q)
    for item in accept.split(",")[:64]:  # a client sends a handful; never loop on thousands
        range_, *params = (part.strip() for part in item.split(";"))
        specificity = {media_type: 2, f"{kind}/*": 1, "*/*": 0}.get(range_.lower())
        if specificity is None or specificity <= best[0]:
            continue
        best = (specificity, _quality(params))
    return best[1]


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def render_html(facts: dict[str, Any]) -> str:
    """The facts as a page; every value is escaped, though all come from settings."""
    e = html.escape
    oci, aws, login = facts["oci"], facts["aws"], facts["login"]
    title = f"{e(facts['server'])} {e(facts['version'])}"
    services = ", ".join(f"<code>{e(name)}</code>" for name in aws["services"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}}
pre{{background:#f4f4f4;padding:.6rem;overflow-x:auto}}</style></head>
<body><h1>{title}</h1>
<p>A registry for container images and ML models.</p>
<h2>OCI Distribution</h2>
<p>Endpoint <code>{e(oci["endpoint"])}</code>; registry <code>{e(oci["registry"])}</code>
for podman, skopeo, docker, oras and crane (bearer tokens from <code>{e(oci["token_realm"])}</code>).</p>
<pre>{e(login["podman"])}</pre>
<h2>AWS APIs</h2>
<p>{services} on
<code>{e(aws["endpoint_url"])}</code>, region <code>{e(aws["region"])}</code>.</p>
<pre>{e(login["aws"])}
{e(aws["example"])}</pre>
</body></html>
"""
