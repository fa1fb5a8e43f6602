"""What the outbox costs a push, at the store level: ``SqlMetadataStore.put_manifest`` with
the server's outbox (``image.push`` event, subscription check) against the same store
without one, on the same database, in alternating rounds.

    .venv/bin/python bench/outbox.py                       # SQLite in a temp dir, c=1 and c=32
    .venv/bin/python bench/outbox.py --puts 400 --rounds 4 --concurrency 1,32
    .venv/bin/python bench/outbox.py --url postgresql://...  # an empty, throwaway database

Reports, per mode and concurrency, puts per second (wall) and the process's CPU per put
(``time.process_time``: every thread, so the database threads too). CPU per put is the
steadier figure on a shared machine; the cost is (with - without) / without.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from payloads import OCI_MANIFEST, digest, manifest

from strongroom.clock import RandomIdFactory
from strongroom.events.outbox import ImagePushOutbox
from strongroom.events.webhooks import DISPATCH
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from strongroom.metadata.outbox import ManifestOutbox
from strongroom.metadata.records import NewManifest
from strongroom.metadata.sql import SqlMetadataStore

ACCOUNT = "123456789012"


async def setup(database: Database) -> tuple[int, str, str]:
    store = SqlMetadataStore(database)
    now = datetime.now(UTC)
    await store.create_default_account(ACCOUNT, now)
    repository = await store.ensure_repository(ACCOUNT, f"bench/outbox-{time.time_ns()}", now)
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"layer" * 800
    for blob in (config, layer):
        await store.link_blob(repository.id, digest(blob), len(blob), now)
    return repository.id, digest(config), digest(layer)


async def one_round(
    store: SqlMetadataStore,
    repository_id: int,
    blobs: tuple[str, str],
    puts: int,
    concurrency: int,
    label: str,
) -> tuple[float, float]:
    """Seconds and CPU seconds for ``puts`` pushes by ``concurrency`` tasks."""
    config, layer = blobs

    def new_manifest(i: int) -> NewManifest:
        body = manifest(b"c", b"l", f"{label}-{i}-{time.time_ns()}")
        return NewManifest(
            digest=digest(body), media_type=OCI_MANIFEST, content=body, subject_digest=None,
            artifact_type=None, annotations_json=None, blob_digests=(config, layer), child_digests=(),
        )  # fmt: skip

    queue = list(range(puts))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            await store.put_manifest(repository_id, new_manifest(i), [f"t{i % 100:03d}"], datetime.now(UTC))

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def run(args: argparse.Namespace, url: str) -> None:
    engine = create_engine(url)
    migrate(engine)
    database = Database(engine)
    repository_id, config, layer = await setup(database)
    outbox: ManifestOutbox = ImagePushOutbox(RandomIdFactory(), (), 8, dispatch_kind=DISPATCH)
    stores = {"without": SqlMetadataStore(database), "with": SqlMetadataStore(database, outbox)}
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in stores}
        await one_round(stores["with"], repository_id, (config, layer), 50, concurrency, "warm")
        for r in range(args.rounds):
            order = list(stores) if r % 2 == 0 else list(reversed(stores))
            for name in order:
                results[name].append(
                    await one_round(
                        stores[name], repository_id, (config, layer), args.puts, concurrency, name
                    )
                )
        line = []
        cpu_per = {}
        for name, rounds in results.items():
            rate = statistics.median(args.puts / wall for wall, _ in rounds)
            cpu_per[name] = statistics.median(cpu * 1e6 / args.puts for _, cpu in rounds)
            line.append(f"{name} outbox {rate:7.0f} puts/s {cpu_per[name]:6.0f} us CPU/put")
        cost = (cpu_per["with"] - cpu_per["without"]) / cpu_per["without"] * 100
        print(f"c={concurrency:<3} " + " | ".join(line) + f" | outbox CPU cost {cost:+.1f} %")
    database.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--puts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", default="1,32")
    args = parser.parse_args()
    if args.url:
        asyncio.run(run(args, args.url))
        return 0
    with tempfile.TemporaryDirectory(prefix="strongroom-outbox-") as scratch:
        asyncio.run(run(args, f"sqlite:///{Path(scratch) / 'metadata.db'}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
