"""The audit log against a real server: mutations and denials are recorded with
principal, action, resource, source and decision; tampering is detected."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from typing import Any

import httpx
import pytest

from support.server import RunningServer

pytestmark = pytest.mark.e2e


def strongroom(server: RunningServer, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return server.cli(*args, check=check)


def events(server: RunningServer) -> list[dict[str, Any]]:
    lines = strongroom(server, "audit", "export").stdout.splitlines()
    return [json.loads(line)["event"] for line in lines]


def test_mutations_and_denials_are_recorded_and_tampering_is_detected(server: RunningServer) -> None:
    user = json.loads(strongroom(server, "iam", "create-user", "--user-name", "ci").stdout)["User"]
    key = json.loads(strongroom(server, "iam", "create-access-key", "--user-name", "ci").stdout)["AccessKey"]
    data = b"audited layer"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=server.url, auth=server.auth) as admin:
        assert (
            admin.post("/v2/team/model/blobs/uploads/", params={"digest": digest}, content=data).status_code
            == 201
        )
    with httpx.Client(base_url=server.url, auth=(key["AccessKeyId"], key["SecretAccessKey"])) as ci:
        assert ci.post("/v2/team/model/blobs/uploads/").status_code == 403  # ci has no policy
    with httpx.Client(base_url=server.url, auth=("admin", "wrong-password")) as intruder:
        assert intruder.get("/v2/team/model/tags/list").status_code == 401

    recorded = events(server)
    by_action = {(e["action"], e["decision"]): e for e in recorded}
    assert by_action[("iam:CreateUser", "allow")]["principal"] == "local-operator"
    assert by_action[("iam:CreateAccessKey", "allow")]["resource"] == user["Arn"]
    push = by_action[("ecr:InitiateLayerUpload", "allow")]
    assert push["principal"].endswith(":user/admin")
    assert push["resource"].endswith(":repository/team/model")
    assert push["source_ip"] == "127.0.0.1"
    denied = by_action[("ecr:InitiateLayerUpload", "deny")]
    assert denied["principal"] == user["Arn"]
    assert by_action[("ecr:ListImages", "deny")]["principal"] == "anonymous"  # the wrong password
    exported = strongroom(server, "audit", "export").stdout
    assert key["SecretAccessKey"] not in exported
    assert "wrong-password" not in exported

    verified = json.loads(strongroom(server, "audit", "verify").stdout)
    assert verified["ok"] is True
    assert verified["events"] == len(recorded)

    server.stop()
    with sqlite3.connect(server.data_dir / "strongroom.db") as db:
        row = db.execute("SELECT seq, record FROM audit_events ORDER BY seq LIMIT 1 OFFSET 2").fetchone()
        db.execute(
            "UPDATE audit_events SET record = ? WHERE seq = ?", (row[1].replace("allow", "deny"), row[0])
        )
    tampered = strongroom(server, "audit", "verify", check=False)
    assert tampered.returncode == 1
    report = json.loads(tampered.stdout)
    assert report["ok"] is False
    assert report["broken_seq"] == row[0]
