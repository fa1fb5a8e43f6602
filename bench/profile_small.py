"""Where a small request's time goes: the real application in-process (SQLite, filesystem
blobs, durable writes on), driven through httpx's ASGI transport under cProfile.

    .venv/bin/python bench/profile_small.py                       # every kind, 200 each
    .venv/bin/python bench/profile_small.py --kinds manifest_put --requests 500 --top 40

For each kind it prints, per request: SQL statements, transactions (BEGIN), commits, fsyncs,
thread hops (anyio.to_thread), policy decisions, json.loads calls, audit records and password
verifications; then the functions with the most own time (cProfile ``tottime``). The httpx
client's own share shows in the profile too (``httpx``/``h11`` frames); ignore it.
With ``PROFILE_DUMP=/some/prefix`` each kind's profile is also written to
``<prefix>-<kind>.prof`` (for pstats' ``print_callers``, snakeviz, …).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import json
import os
import pstats
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import sqlalchemy as sa
from payloads import OCI_MANIFEST, digest, manifest

from strongroom.app import create_app
from strongroom.services import Services, build_services, prepare
from strongroom.settings import load_settings

REPO = "bench/profile"
USER, PASSWORD = "bench", "bench-Secret-pw-1"

counts: collections.Counter[str] = collections.Counter()


def count_calls(owner: Any, name: str, label: str) -> None:
    """Wrap ``owner.name`` so each call adds one to ``counts[label]``."""
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[label] += 1
            return await original(*args, **kwargs)

        setattr(owner, name, async_wrapper)
    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[label] += 1
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)


async def _inline(function: Callable[..., Any], *args: Any, **_: Any) -> Any:
    return function(*args)


def instrument(services: Services, inline: bool) -> None:
    database = services.metadata.database  # type: ignore[attr-defined]
    for engine in database.engines:
        sa.event.listen(engine, "before_cursor_execute", lambda *a: counts.update(["sql"]))
        sa.event.listen(engine, "begin", lambda *a: counts.update(["begin"]))
        sa.event.listen(engine, "commit", lambda *a: counts.update(["commit"]))
    count_calls(database, "read", "read on the loop (SQLite)")
    count_calls(os, "fsync", "fsync")
    count_calls(os, "fdatasync", "fsync")
    if inline:  # cProfile sees only its own thread: run the blocking work on the loop's
        # (so the cost of each hand-off, about 90 us under uvloop, is not in the profile)
        anyio.to_thread.run_sync = _inline  # type: ignore[assignment]
    count_calls(anyio.to_thread, "run_sync", "thread hop")
    count_calls(json, "loads", "json.loads")
    count_calls(services.authorizer, "decide", "policy decision")
    count_calls(services.audit, "record", "audit record")
    count_calls(services.passwords, "verify", "password verify")


async def check(response: Awaitable[httpx.Response], expect: int) -> httpx.Response:
    answer = await response
    if answer.status_code != expect:
        raise RuntimeError(
            f"{answer.request.method} {answer.request.url}: {answer.status_code} {answer.text[:300]}"
        )
    return answer


async def push(client: httpx.AsyncClient, data: bytes) -> None:
    started = await check(client.post(f"/v2/{REPO}/blobs/uploads/"), 202)
    location = started.headers["location"]
    separator = "&" if "?" in location else "?"
    await check(client.put(f"{location}{separator}digest={digest(data)}", content=data), 201)


async def kinds(client: httpx.AsyncClient) -> dict[str, Callable[[int], Awaitable[Any]]]:
    config, layer = json.dumps({"architecture": "amd64", "os": "linux"}).encode(), os.urandom(4096)
    await push(client, config)
    await push(client, layer)
    base = manifest(config, layer, "base")
    headers = {"Content-Type": OCI_MANIFEST}
    await check(client.put(f"/v2/{REPO}/manifests/base", content=base, headers=headers), 201)
    for i in range(100):
        body = manifest(config, layer, f"t{i}")
        await check(client.put(f"/v2/{REPO}/manifests/t{i:03d}", content=body, headers=headers), 201)
    big = os.urandom(1024 * 1024)

    async def manifest_put(i: int) -> None:
        body = manifest(config, layer, f"run-{i}")
        await check(client.put(f"/v2/{REPO}/manifests/t{i % 100:03d}", content=body, headers=headers), 201)

    async def post_digest(i: int) -> None:
        data = os.urandom(4096)
        await check(client.post(f"/v2/{REPO}/blobs/uploads/?digest={digest(data)}", content=data), 201)

    accept = {"Accept": OCI_MANIFEST}
    return {
        "manifest_put": manifest_put,
        "manifest_get_tag": lambda i: check(client.get(f"/v2/{REPO}/manifests/base", headers=accept), 200),
        "manifest_get_digest": lambda i: check(client.get(f"/v2/{REPO}/manifests/{digest(base)}"), 200),
        "blob_head": lambda i: check(client.head(f"/v2/{REPO}/blobs/{digest(layer)}"), 200),
        "tag_list": lambda i: check(client.get(f"/v2/{REPO}/tags/list"), 200),
        "push_4k_post_put": lambda i: push(client, os.urandom(4096)),
        "push_4k_post_digest": post_digest,
        "push_1m_post_put": lambda i: push(client, os.urandom(32) + big[32:]),
    }


async def run(args: argparse.Namespace, scratch: Path) -> None:
    settings = load_settings(None, {}, data_dir=scratch, admin_user=USER, admin_password=PASSWORD)
    await prepare(settings)
    services = await build_services(settings)
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://registry", auth=(USER, PASSWORD)
    ) as client:
        table = await kinds(client)
        instrument(services, not args.threads)
        for kind in args.kinds.split(",") if args.kinds else list(table):
            send = table[kind]
            n = max(10, args.requests // 10) if "1m" in kind else args.requests
            await send(-1)
            counts.clear()
            profile = cProfile.Profile()
            profile.enable()
            for i in range(n):
                await send(i)
            profile.disable()
            per = ", ".join(f"{label} {value / n:.2g}" for label, value in sorted(counts.items()))
            print(f"\n=== {kind} (n={n}) per request: {per}")
            if os.environ.get("PROFILE_DUMP"):
                profile.dump_stats(f"{os.environ['PROFILE_DUMP']}-{kind}.prof")
            stats = pstats.Stats(profile)
            print(f"profiled CPU per request: {stats.total_tt * 1000 / n:.2f} ms (inflated by cProfile)")
            stats.sort_stats(args.sort).print_stats(args.top)
    services.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--kinds", help="comma-separated; default all")
    parser.add_argument("--threads", action="store_true", help="keep worker threads (unprofiled)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="strongroom-profile-") as scratch:
        anyio.run(run, args, Path(scratch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
