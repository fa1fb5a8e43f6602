"""Each audited OCI mutation leaves exactly one record, saying the status the client got,
whether the record rode in the mutation's own transaction or was appended after; and a
push whose record the database refuses is refused whole (nothing stored, no record)."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path

import anyio
import httpx
import pytest

from api.conftest import app_client
from api.test_oci_api import OCI_MANIFEST, digest_of, image_manifest, push_blob
from strongroom.audit.chain import ChainRow, ChainVerifier

pytestmark = pytest.mark.anyio


def records(data_dir: Path) -> list[dict[str, object]]:
    with sqlite3.connect(data_dir / "strongroom.db") as db:
        return [json.loads(row[0]) for row in db.execute("SELECT record FROM audit_events ORDER BY seq")]


def allowed(data_dir: Path) -> list[tuple[str, str, object]]:
    """(method, path, status) of each allow record of an OCI mutation."""
    return [
        (r["detail"]["method"], r["detail"]["path"], r["detail"]["status"])  # type: ignore[index]
        for r in records(data_dir)
        if r["decision"] == "allow" and str(r["detail"].get("path", "")).startswith("/v2/")  # type: ignore[union-attr]
    ]


async def test_every_audited_mutation_is_recorded_once_with_the_status_it_answered(tmp_path: Path) -> None:
    answered: list[tuple[str, str, int]] = []

    def note(response: httpx.Response) -> httpx.Response:
        request = response.request
        if request.method != "GET" and response.status_code in (201, 202):
            answered.append((request.method, request.url.path, response.status_code))
        return response

    async with app_client(tmp_path) as client:
        data = os.urandom(64)
        note(await client.post("/v2/a/blobs/uploads/", params={"digest": digest_of(data)}, content=data))
        started = note(await client.post("/v2/a/blobs/uploads/"))  # a session: not a mutation
        answered.remove(("POST", "/v2/a/blobs/uploads/", 202))
        layer = os.urandom(100)
        location = started.headers["Location"]
        note(await client.put(location, params={"digest": digest_of(layer)}, content=layer))
        config = await push_blob(client, "a", b"{}")
        answered.append(("POST", "/v2/a/blobs/uploads/", 201))
        body = image_manifest(config, [(digest_of(layer), 100)])
        headers = {"Content-Type": OCI_MANIFEST}
        note(await client.put("/v2/a/manifests/v1", content=body, headers=headers))
        note(await client.put("/v2/a/manifests/v1", content=body, headers=headers))  # again, unchanged
        note(await client.post("/v2/b/blobs/uploads/", params={"mount": digest_of(layer), "from": "a"}))
        assert (await client.put("/v2/a/manifests/v2", content=b"{", headers=headers)).status_code == 400
        note(await client.delete(f"/v2/a/manifests/{digest_of(body)}"))
        note(await client.delete(f"/v2/b/blobs/{digest_of(layer)}"))
    assert len(answered) == 8
    assert sorted(allowed(tmp_path)) == sorted(answered)


async def test_a_push_whose_record_is_refused_stores_nothing(tmp_path: Path) -> None:
    async with app_client(tmp_path) as client:
        config = await push_blob(client, "a", b"{}")
        with sqlite3.connect(tmp_path / "strongroom.db") as db:
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'no'); END"
            )
        body = image_manifest(config, [])
        pushed = await client.put("/v2/a/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST})
        assert pushed.status_code == 500
        assert pushed.json()["errors"][0]["code"] == "UNKNOWN"
        with sqlite3.connect(tmp_path / "strongroom.db") as db:
            db.execute("DROP TRIGGER refuse")
        assert (await client.get("/v2/a/manifests/v1")).status_code == 404
        assert ("PUT", "/v2/a/manifests/v1", 201) not in allowed(tmp_path)


async def test_concurrent_pushes_chain_one_record_each(tmp_path: Path) -> None:
    async with app_client(tmp_path) as client:
        config = await push_blob(client, "a", b"{}")
        before = len(records(tmp_path))

        async def push(n: int) -> None:
            body = image_manifest(config, [], annotations={"n": str(n)})
            response = await client.put(
                f"/v2/a/manifests/t{n}", content=body, headers={"Content-Type": OCI_MANIFEST}
            )
            assert response.status_code == 201

        async with anyio.create_task_group() as group:
            for n in range(16):
                group.start_soon(push, n)
    assert len(records(tmp_path)) == before + 16
    verifier = ChainVerifier()
    with sqlite3.connect(tmp_path / "strongroom.db") as db:
        for seq, record, prev_hash, digest in db.execute(
            "SELECT seq, record, prev_hash, hash FROM audit_events ORDER BY seq"
        ):
            at = datetime.fromisoformat(json.loads(record)["time"])
            verifier.feed(ChainRow(seq, at, record, prev_hash, digest))
    verified = verifier.result()
    assert verified.ok and verified.events == before + 16
