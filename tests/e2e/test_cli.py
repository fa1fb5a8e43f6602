"""The ``strongroom`` commands against a real server's store: ``--output table|json``
(JSON when not on a terminal) and ``--file`` for what is written to a file."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import stat
import subprocess
import sys
from datetime import datetime

import httpx
import pytest

from support.server import RunningServer

pytestmark = pytest.mark.e2e


def test_audit_export_writes_a_private_file_and_prints_a_summary(shared_server: RunningServer) -> None:
    shared_server.cli("iam", "create-user", "--user-name", "exported")
    path = shared_server.data_dir.parent / "audit.jsonl"
    summary = shared_server.cli_json("audit", "export", "--file", str(path), "--action", "iam:CreateUser")
    assert summary == {"exported": 1, "file": str(path)}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (line,) = path.read_text().splitlines()
    assert json.loads(line)["event"]["resource"].endswith(":user/exported")
    as_table = shared_server.cli("audit", "export", "--file", str(path), "--output", "table").stdout
    assert as_table.split("\n")[0].split() == ["FIELD", "VALUE"]
    renamed = shared_server.cli("audit", "export", "--output", str(path), check=False)
    assert renamed.returncode == 2  # --output names a format now, never a file


def test_audit_export_as_a_table_shows_one_row_per_event(shared_server: RunningServer) -> None:
    with httpx.Client(base_url=shared_server.url, auth=("nobody", "wrong")) as intruder:
        assert intruder.get("/v2/a/b/tags/list").status_code == 401
    table = shared_server.cli("audit", "export", "--decision", "deny", "--output", "table").stdout
    header, *rows = table.splitlines()
    assert header.split() == ["SEQ", "TIME", "DECISION", "ACTION", "PRINCIPAL", "RESOURCE", "SOURCE_IP"]
    assert rows
    assert all(row.split()[2] == "deny" for row in rows)
    assert any("ecr:ListImages" in row and "anonymous" in row for row in rows)
    jsonl = shared_server.cli("audit", "export", "--decision", "deny").stdout.splitlines()
    assert len(jsonl) == len(rows)


def test_list_and_create_commands_print_json_or_a_table(shared_server: RunningServer) -> None:
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
        }
    )
    created = shared_server.cli_json(
        "iam", "create-role", "--role-name", "lister", "--assume-role-policy-document", trust
    )
    assert created["Role"]["RoleName"] == "lister"
    header, *rows = shared_server.cli("iam", "list-roles", "--output", "table").stdout.splitlines()
    assert header.split() == ["ROLENAME", "ROLEID", "ARN", "PATH", "DESCRIPTION"]
    assert [row.split()[0] for row in rows] == [
        r["RoleName"] for r in shared_server.cli_json("iam", "list-roles")["Roles"]
    ]
    assert any(row.split()[0] == "lister" for row in rows)
    verified = shared_server.cli("audit", "verify", "--output", "table").stdout.splitlines()
    assert verified[0].split() == ["FIELD", "VALUE"]
    assert "ok" in [line.split()[0] for line in verified[1:]]


def test_account_list_names_every_account_and_the_default(shared_server: RunningServer) -> None:
    shared_server.cli("account", "create", "--id", "222222222222")
    arn = shared_server.cli_json("iam", "create-user", "--user-name", "in-default")["User"]["Arn"]
    default_id = arn.split(":")[4]  # users are created in the default account
    accounts = shared_server.cli_json("account", "list")["Accounts"]
    assert [(a["AccountId"], a["Default"]) for a in accounts] == sorted(
        [(default_id, True), ("222222222222", False)]
    )
    assert all(datetime.fromisoformat(a["CreatedAt"]).tzinfo is not None for a in accounts)
    shared_server.cli("iam", "create-user", "--user-name", "elsewhere", "--account-id", "222222222222")
    unknown = shared_server.cli(
        "iam", "create-user", "--user-name", "x", "--account-id", "333333333333", check=False
    )
    assert (unknown.returncode, unknown.stderr) == (1, "Error: account 333333333333 does not exist\n")
    header, *rows = shared_server.cli("account", "list", "--output", "table").stdout.splitlines()
    assert header.split() == ["ACCOUNTID", "DEFAULT", "CREATEDAT"]
    assert sorted(row.split()[:2] for row in rows) == sorted(
        [a["AccountId"], "true" if a["Default"] else "false"] for a in accounts
    )


def test_on_a_terminal_the_default_is_a_table(shared_server: RunningServer) -> None:
    """The real default: standard output a terminal (a pty), no --output given."""
    controller, terminal = pty.openpty()  # a few lines fit its buffer: read after the exit
    env = {key: value for key, value in os.environ.items() if not key.startswith("STRONGROOM_")}
    env["STRONGROOM_DATA_DIR"] = str(shared_server.data_dir)
    try:
        process = subprocess.run(
            [sys.executable, "-m", "strongroom", "account", "list"],
            env=env, stdout=terminal, stderr=subprocess.PIPE, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(terminal)
    shown = b""
    try:
        with contextlib.suppress(OSError):  # EIO once everything written has been read
            while chunk := os.read(controller, 4096):
                shown += chunk
    finally:
        os.close(controller)
    assert process.returncode == 0, process.stderr
    assert shown.decode().splitlines()[0].split() == ["ACCOUNTID", "DEFAULT", "CREATEDAT"]
