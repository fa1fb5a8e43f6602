"""What lineage detection costs per push, with many images stored (``make bench``; ADR 0021).

A store is seeded with a hierarchy of ``--images`` images (public images of 2 layers,
bases adding 1, frameworks adding 2, applications adding 1 to 3; tagged, rows and prefix
hashes as the ``lineage.detect`` job writes them), then ``--pushes`` new applications
are pushed by the store (``put_manifest``) and detected by the real handler. Reported,
per store size: milliseconds per detection (median, p95; each reads the image's config
from a filesystem blob store for its diff ids, as the job does) and SQL statements per
detection (counted at the engine), so the cost shown flat from 1,000 to 10,000 images
is the lookup's, not luck; then the time of one ``lineage report`` over every image
(a prefix policy on the applications), which grows with the images, unlike detection.

    .venv/bin/python bench/lineage.py                          # SQLite in a temp dir
    .venv/bin/python bench/lineage.py --sizes 1000,10000 --pushes 200
    .venv/bin/python bench/lineage.py --postgres postgresql://...  # else the tests' PostgreSQL
    .venv/bin/python bench/lineage.py --no-postgres
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from strongroom.auth.iam_authorizer import IamAuthorizer
from strongroom.auth.policy_cache import CachedPolicySource
from strongroom.clock import RandomIdFactory, SystemClock
from strongroom.hierarchy.detection import LineageDetector
from strongroom.hierarchy.views import Caller, LineageViews
from strongroom.lineage.chains import DIFF_IDS, prefix_hashes
from strongroom.lineage.compliance import PREFIX, PatchPolicy
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from strongroom.metadata.iam import SqlIamStore
from strongroom.metadata.lineage import SqlLineageStore
from strongroom.metadata.lineage_policies import SqlLineagePolicyStore
from strongroom.metadata.records import NewManifest
from strongroom.metadata.schema import lineage_images, lineage_prefixes, manifests, repositories, tags
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.oci.digest import Digest
from strongroom.storage.filesystem import FilesystemBlobStore

ACCOUNT = "123456789012"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
TESTS = Path(__file__).resolve().parents[1] / "tests"


def layer(rng: random.Random) -> str:
    return "sha256:" + hashlib.sha256(rng.randbytes(16)).hexdigest()


def compressed(diff_id: str) -> str:
    """A layer's compressed digest (the bench's layers are named by their diff ids)."""
    return "sha256:" + hashlib.sha256(f"gzip {diff_id}".encode()).hexdigest()


def config(layers: list[str]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux",
                       "rootfs": {"type": "layers", "diff_ids": layers}}).encode()  # fmt: skip


def body(layers: list[str]) -> bytes:
    data = config(layers)
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
                   "size": len(data)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": compressed(d),
                    "size": 1} for d in layers],
    }).encode()  # fmt: skip


async def store_config(blobs: FilesystemBlobStore, layers: list[str]) -> None:
    data = config(layers)
    upload = hashlib.sha256(data).hexdigest()[:32]

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    await blobs.append(upload, chunks(), None)
    await blobs.commit_upload(upload, Digest.parse("sha256:" + hashlib.sha256(data).hexdigest()))


def hierarchy(count: int, rng: random.Random) -> list[tuple[str, list[str]]]:
    """(repository, layers) of ``count`` images: 1 % public, 4 % bases, 10 % frameworks."""
    publics = [[layer(rng), layer(rng)] for _ in range(max(1, count // 100))]
    bases = [[*rng.choice(publics), layer(rng)] for _ in range(max(1, count * 4 // 100))]
    frameworks = [[*rng.choice(bases), layer(rng), layer(rng)] for _ in range(max(1, count // 10))]
    found = [(f"public/p{i}", image) for i, image in enumerate(publics)]
    found += [(f"base/b{i}", image) for i, image in enumerate(bases)]
    found += [(f"framework/f{i}", image) for i, image in enumerate(frameworks)]
    while len(found) < count:
        parent = rng.choice(frameworks)
        found.append(
            (f"apps/a{len(found) % 500}", [*parent, *(layer(rng) for _ in range(rng.randint(1, 3)))])
        )
    return found[:count]


def seed(database: Database, images: list[tuple[str, list[str]]]) -> list[list[str]]:
    """Rows as the push and the job would have written them, in one transaction; returns the
    frameworks' layers (what new applications are built on)."""
    now = datetime.now(UTC)
    with database.engine.begin() as conn:
        ids: dict[str, int] = {}
        for name in sorted({name for name, _ in images}):
            ids[name] = conn.execute(
                repositories.insert()
                .values(account_id=ACCOUNT, name=name, created_at=now)
                .returning(repositories.c.id)
            ).scalar_one()
        rows, tag_rows, lineage_rows, prefix_rows = [], [], [], []
        for number, (name, layers) in enumerate(images):
            content = body(layers)
            digest = "sha256:" + hashlib.sha256(content).hexdigest()
            rows.append({"repository_id": ids[name], "digest": digest, "media_type": OCI_MANIFEST,
                         "size": len(content), "content": content, "created_at": now})  # fmt: skip
            tag_rows.append({"repository_id": ids[name], "name": f"t{number}", "manifest_digest": digest,
                             "updated_at": now})  # fmt: skip
            hashes = prefix_hashes(layers)
            by_digest = prefix_hashes([compressed(d) for d in layers])
            lineage_rows.append({"repository_id": ids[name], "digest": digest, "layer_count": len(layers),
                                 "chain_hash": hashes[-1], "pushed_at": now, "detected_at": now,
                                 "layers_by": DIFF_IDS, "digest_chain_hash": by_digest[-1]})  # fmt: skip
            prefix_rows += [{"prefix_hash": h, "repository_id": ids[name], "digest": digest, "depth": depth}
                            for depth, h in enumerate(hashes[:-1], start=1)]  # fmt: skip
        for table, values in ((manifests, rows), (tags, tag_rows), (lineage_images, lineage_rows),
                              (lineage_prefixes, prefix_rows)):  # fmt: skip
            for start in range(0, len(values), 5000):
                conn.execute(table.insert(), values[start : start + 5000])
    if database.engine.dialect.name == "postgresql":
        # What autovacuum would have done by then: the planner's statistics of the seeded rows.
        with database.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    return [layers for name, layers in images if name.startswith("framework/")]


async def measure(url: str, size: int, pushes: int, scratch: Path) -> dict[str, Any]:
    engine = create_engine(url)
    migrate(engine)
    database = Database(engine)
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    try:
        store = SqlMetadataStore(database)
        now = datetime.now(UTC)
        await store.create_default_account(ACCOUNT, now)
        rng = random.Random(size)
        started = time.perf_counter()
        frameworks = seed(database, hierarchy(size, rng))
        seeded = time.perf_counter() - started
        lineage = SqlLineageStore(database)
        blobs = FilesystemBlobStore(scratch / "blobs", durable=False)
        detector = LineageDetector(lineage, blobs, SystemClock(), RandomIdFactory(), dispatch_kind=None)
        repository = await store.ensure_repository(ACCOUNT, "apps/new", now)
        times, counts, found = [], [], 0
        for opened in database.engines:  # the loop's reader too (small reads, ADR 0023)
            sa.event.listen(opened, "before_cursor_execute", count)
        for number in range(pushes):
            layers = [*rng.choice(frameworks), layer(rng)]
            content = body(layers)
            await store_config(blobs, layers)
            digest = "sha256:" + hashlib.sha256(content).hexdigest()
            manifest = NewManifest(digest, OCI_MANIFEST, content, None, OCI_CONFIG, None, (), ())
            await store.put_manifest(repository.id, manifest, [f"n{number}"], now)
            image = await lineage.image(ACCOUNT, "apps/new", digest)
            assert image is not None
            before, began = statements, time.perf_counter()
            await detector.detect(image)
            times.append(time.perf_counter() - began)
            counts.append(statements - before)
            row = await lineage.row(repository.id, digest)
            found += row is not None and row.parent_layers == len(layers) - 1
        for opened in database.engines:
            sa.event.remove(opened, "before_cursor_execute", count)
        # The report reads every tagged image's ancestry: what it costs at this size.
        await SqlLineagePolicyStore(database).put(
            ACCOUNT, PatchPolicy(PREFIX, "apps/", max_base_age=timedelta(days=30)), "bench", now
        )
        # ... and one that every framework breaks, so the report lists (and words) ~1,000 images.
        await SqlLineagePolicyStore(database).put(
            ACCOUNT, PatchPolicy(PREFIX, "framework/", allowed_bases=("public/*",)), "bench", now
        )
        authorizer = IamAuthorizer(CachedPolicySource(SqlIamStore(database), 0))
        views = LineageViews(lineage, SqlLineagePolicyStore(database), authorizer, SystemClock(), "us-east-1")
        began = time.perf_counter()
        everything = await views.report(Caller(None, {}))
        report_s = time.perf_counter() - began
        # Paged as /admin/v1 and the CLI read it: pages of 1,000 images examined.
        began, pages, token, listed = time.perf_counter(), [], None, 0
        while True:
            started = time.perf_counter()
            page = await views.report(Caller(None, {}), after=token, limit=1000)
            pages.append(time.perf_counter() - started)
            listed += len(page["images"])
            token = page.get("nextToken")
            if token is None:
                break
        paged_s = time.perf_counter() - began
        assert listed == len(everything["images"]), (listed, len(everything["images"]))
        return {
            "size": size, "seeded_s": seeded, "median_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * sorted(times)[int(len(times) * 0.95) - 1],
            "statements": statistics.median(counts), "max_statements": max(counts), "found": found,
            "pushes": pushes, "report_s": report_s, "paged_s": paged_s, "pages": len(pages),
            "page_s": statistics.median(pages), "listed": listed,
        }  # fmt: skip
    finally:
        database.close()


@contextmanager
def postgres_base(url: str | None) -> Iterator[str | None]:
    """The given PostgreSQL, the tests' configured one, or a throwaway cluster; None when
    none can be had (the test tools are not installed)."""
    sys.path.insert(0, str(TESTS))
    try:
        from support.databases import postgres_server  # the tests' clusters
    except ImportError as missing:
        print(f"lineage: PostgreSQL skipped: {missing} (run `make test-tools`, or pass --postgres URL)")
        yield None
        return
    with ExitStack() as stack:
        try:
            yield url or stack.enter_context(postgres_server())
        except (RuntimeError, OSError, SystemExit) as unavailable:
            print(f"lineage: PostgreSQL skipped: {str(unavailable).splitlines()[0]}")
            yield None


def report(backend: str, result: dict[str, Any]) -> None:
    print(
        f"{backend:<10} {result['size']:>6} images stored (seeded in {result['seeded_s']:.1f}s): detection "
        f"median {result['median_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms, "
        f"{result['statements']:.0f} SQL statements (max {result['max_statements']}); "
        f"parent found for {result['found']}/{result['pushes']}; report over every image "
        f"{result['report_s']:.2f}s ({result['listed']} listed), paged by 1,000: {result['pages']} pages "
        f"in {result['paged_s']:.2f}s (median page {result['page_s']:.2f}s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", help="PostgreSQL URL (default: the tests' database or a throwaway one)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--pushes", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("lineage detection per push (store level: the lineage.detect handler on a pushed image)")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="strongroom-lineage-bench-") as scratch:
            url = f"sqlite:///{Path(scratch) / 'bench.db'}"
            report("sqlite", asyncio.run(measure(url, size, args.pushes, Path(scratch))))
    if args.no_postgres:
        return 0
    with postgres_base(args.postgres) as base:
        if base is not None:
            from support.databases import isolated_schema

            for size in sizes:
                with isolated_schema(base) as url, tempfile.TemporaryDirectory() as scratch:
                    report("postgresql", asyncio.run(measure(url, size, args.pushes, Path(scratch))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
