"""What re-evaluation costs against a full scan, in process on SQLite: N images share
the Debian base of the scan tests and each has its own application layer (a file of
``--layer-mb`` MiB of incompressible bytes, a package.json); they are scanned (the
``scan.image`` handler, in-process analyser), then an advisory for a base package is
imported and the ``scan.reevaluate`` handler re-evaluates them all.

    python bench/reevaluation.py [--images N] [--layer-mb M]

Prints milliseconds per image for the scans and for the re-evaluation.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from strongroom.clock import RandomIdFactory, SystemClock
from strongroom.events.outbox import ImagePushOutbox
from strongroom.metadata.continuous_scans import SqlContinuousScanStore
from strongroom.metadata.database import Database
from strongroom.metadata.engine import create_engine, migrate
from strongroom.metadata.jobs import SqlJobStore
from strongroom.metadata.records import NewManifest
from strongroom.metadata.repositories import SqlRepositoryStore
from strongroom.metadata.scans import SqlScanStore
from strongroom.metadata.sql import SqlMetadataStore
from strongroom.metadata.vulndb import SqlVulnStore
from strongroom.oci.digest import Digest
from strongroom.scanning import vulndb
from strongroom.scanning.engine import InProcessAnalyser
from strongroom.scanning.on_push import SCAN, ImageScanner, scan_on_push
from strongroom.scanning.reevaluate import Reevaluator
from strongroom.storage.filesystem import FilesystemBlobStore
from support import layers as img
from support import osv
from support.images import OCI_CONFIG, OCI_MANIFEST
from support.scans import BASE, new_advisory

ACCOUNT = "123456789012"
RULES = {
    "scanType": "ENHANCED",
    "rules": [
        {"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}
    ],
}


async def put_blob(store: FilesystemBlobStore, data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    upload = digest[7:39]
    await store.append(upload, chunks(), None)
    await store.commit_upload(upload, Digest.parse(digest))
    return {"digest": digest, "size": len(data)}


async def main(images: int, layer_mb: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        engine = create_engine(f"sqlite:///{root / 'strongroom.db'}")
        migrate(engine)
        database = Database(engine)
        ids, clock = RandomIdFactory(), SystemClock()
        metadata = SqlMetadataStore(database, ImagePushOutbox(ids, (), 8, scan=scan_on_push))
        await metadata.create_default_account(ACCOUNT, clock.now())
        await SqlRepositoryStore(database).put_account_setting(
            ACCOUNT, "scanning", json.dumps(RULES), clock.now()
        )
        await vulndb.import_paths(SqlVulnStore(database), [osv.RECORDS_DIR], clock.now())
        blobs = FilesystemBlobStore(root / "storage", durable=False)
        scans = SqlScanStore(database)
        scanner = ImageScanner(
            metadata,
            scans,
            SqlVulnStore(database),
            blobs,
            InProcessAnalyser(),
            clock,
            ids,
            dispatch_kind=None,
        )
        repository = await metadata.ensure_repository(ACCOUNT, "bench/app", clock.now())
        base = {"mediaType": img.media_type("gzip"), **await put_blob(blobs, BASE)}
        config = {"mediaType": OCI_CONFIG, **await put_blob(blobs, b'{"os": "linux"}')}
        for index in range(images):
            files = {
                "app/data.bin": os.urandom(layer_mb * 1024 * 1024),
                "app/node_modules/lodash/package.json": b'{"name": "lodash", "version": "4.17.20"}',
            }
            app = {"mediaType": img.media_type("gzip"), **await put_blob(blobs, img.layer(files))}
            content = json.dumps(
                {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [base, app]}
            ).encode()
            digest = "sha256:" + hashlib.sha256(content).hexdigest()
            manifest = NewManifest(digest, OCI_MANIFEST, content, None, None, None, (), ())
            await metadata.put_manifest(repository.id, manifest, [f"v{index}"], clock.now())

        started = time.perf_counter()
        for job in await SqlJobStore(database).list_jobs(kind=SCAN, limit=1000):
            await scanner(job)
        scanned = time.perf_counter() - started

        path = root / "advisory.json"
        path.write_text(json.dumps([new_advisory()]))
        await vulndb.import_paths(SqlVulnStore(database), [path], datetime.now(UTC))
        reevaluator = Reevaluator(
            SqlContinuousScanStore(database), scans, metadata, scanner, clock, "LIFETIME"
        )
        started = time.perf_counter()
        tally = await reevaluator.run()
        reevaluated = time.perf_counter() - started
        assert (tally.reevaluated, tally.changed, tally.rescanned) == (images, images, 0), tally
        print(f"{images} images, base + {layer_mb} MiB application layer each")
        print(f"scan (first, base analysed once): {scanned / images * 1000:.1f} ms per image")
        print(f"re-evaluation (no blob read):     {reevaluated / images * 1000:.1f} ms per image")
        database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--layer-mb", type=int, default=8)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.images, arguments.layer_mb))
