"""``strongroom jobs|events|webhook --endpoint URL``: the same commands acting on a server's
``/admin/v1`` from a machine without its store, signed with an access key (SigV4) or with
a bearer token for a user; first what callers without permission get, then operators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.images import push_random_image
from support.server import (
    ADMIN_ACCESS_KEY_ID,
    ADMIN_PASSWORD,
    ADMIN_SECRET_ACCESS_KEY,
    ADMIN_USER,
    RunningServer,
    start_server,
)

pytestmark = pytest.mark.e2e

OTHER_ACCOUNT = "444444444444"
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # No job runner: the queue stays as the tests leave it.
    running = start_server(tmp_path_factory.mktemp("remote") / "data", args=["--no-jobs", "--workers", "1"])
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of the machine the remote commands run on: it must stay empty."""
    return tmp_path_factory.mktemp("elsewhere")


def remote(
    server: RunningServer, elsewhere: Path, *args: str, key: tuple[str, str] | None = None,
    user: str | None = None, check: bool = True,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRONGROOM_", "AWS_"))}
    env.update({"STRONGROOM_DATA_DIR": str(elsewhere), "STRONGROOM_ENDPOINT": server.url})
    if key is not None:
        env.update({"AWS_ACCESS_KEY_ID": key[0], "AWS_SECRET_ACCESS_KEY": key[1]})
    if user is not None:
        env.update({"STRONGROOM_USER": user, "STRONGROOM_PASSWORD": ADMIN_PASSWORD})
    result = subprocess.run(
        [sys.executable, "-m", "strongroom", *args], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, f"strongroom {' '.join(args)}: {result.stderr}"
    return result


def remote_json(server: RunningServer, elsewhere: Path, *args: str, **how: Any) -> Any:
    return json.loads(remote(server, elsewhere, *args, "--output", "json", **how).stdout)


def user_key(
    server: RunningServer, name: str, account: str | None = None, policy: str | None = None
) -> tuple[str, str]:
    where = ["--account-id", account] if account else []
    server.cli("iam", "create-user", "--user-name", name, *where)
    if policy is not None:
        server.cli("iam", "put-user-policy", "--user-name", name, "--policy-name", "all",
                   "--policy-document", policy, *where)  # fmt: skip
    key = server.cli_json("iam", "create-access-key", "--user-name", name, *where)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


ADMIN_KEY = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)


# --- hostile callers ------------------------------------------------------------------------------


def test_callers_without_permission_are_refused(server: RunningServer, elsewhere: Path) -> None:
    mine = server.cli_json("webhook", "create", "--url", "https://hooks.example.com/a", "--events",
                           "image.push")["webhookId"]  # fmt: skip
    nobody = user_key(server, "remote-nobody")
    for args in (("jobs", "list"), ("events", "list"), ("webhook", "list"), ("webhook", "delete", mine)):
        refused = remote(server, elsewhere, *args, key=nobody, check=False)
        assert refused.returncode != 0 and "AccessDenied" in refused.stderr, (args, refused.stderr)
    forged = remote(server, elsewhere, "jobs", "list", key=(ADMIN_ACCESS_KEY_ID, "wrong"), check=False)
    assert forged.returncode != 0 and "AuthenticationRequired" in forged.stderr

    server.cli("account", "create", "--id", OTHER_ACCOUNT)
    eve = user_key(server, "remote-eve", OTHER_ACCOUNT, ALLOW_ALL)
    assert remote_json(server, elsewhere, "webhook", "list", key=eve) == {"webhooks": []}
    gone = remote(server, elsewhere, "webhook", "delete", mine, key=eve, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    jobs = remote(server, elsewhere, "jobs", "list", key=eve, check=False)
    assert jobs.returncode != 0 and "belong to the deployment" in jobs.stderr
    other = remote(server, elsewhere, "webhook", "list", "--account-id", "123456789012", key=eve, check=False)
    assert other.returncode != 0 and "--account-id is for the local store" in other.stderr
    assert mine in {
        w["webhookId"] for w in server.cli_json("webhook", "list", "--output", "json")["webhooks"]
    }
    assert list(elsewhere.iterdir()) == []


# --- operators -----------------------------------------------------------------------------------


def test_operators_run_the_same_commands_remotely(server: RunningServer, elsewhere: Path) -> None:
    created = remote_json(server, elsewhere, "webhook", "create", "--url", "https://hooks.example.com/r",
                          "--events", "image.push,image.delete", key=ADMIN_KEY)  # fmt: skip
    hook = created["webhookId"]
    assert created["secret"].startswith("whsec_")  # generated, shown once
    local = server.cli_json("webhook", "list", "--output", "json")["webhooks"]
    assert hook in {w["webhookId"] for w in local}  # the server's store, not this machine's
    assert hook in {
        w["webhookId"] for w in remote_json(server, elsewhere, "webhook", "list", key=ADMIN_KEY)["webhooks"]
    }

    push_random_image(server, "remote/app", "v1", seed=11)
    [event] = remote_json(server, elsewhere, "events", "list", "--type", "image.push", key=ADMIN_KEY)[
        "events"
    ]
    assert (event["subject"], event["data"]["image-tag"]) == ("remote/app", "v1")

    jobs = remote_json(server, elsewhere, "jobs", "list", "--kind", "webhook.dispatch", key=ADMIN_KEY)["jobs"]
    job = jobs[0]["jobId"]
    assert remote_json(server, elsewhere, "jobs", "show", str(job), key=ADMIN_KEY)["state"] == "queued"
    assert remote_json(server, elsewhere, "jobs", "cancel", str(job), key=ADMIN_KEY)["state"] == "cancelled"
    # A user's bearer token from /token works as well as an access key.
    assert remote_json(server, elsewhere, "jobs", "retry", str(job), user=ADMIN_USER)["state"] == "queued"
    conflict = remote(server, elsewhere, "jobs", "retry", str(job), key=ADMIN_KEY, check=False)
    assert conflict.returncode != 0 and "Conflict" in conflict.stderr

    tested = remote_json(server, elsewhere, "webhook", "test", hook, key=ADMIN_KEY)
    assert tested["eventId"]
    deliveries = remote_json(server, elsewhere, "webhook", "deliveries", hook, key=ADMIN_KEY)
    assert deliveries == {"deliveries": []}  # no job runner here
    remote(server, elsewhere, "webhook", "enable", hook, key=ADMIN_KEY)
    table = remote(server, elsewhere, "webhook", "list", "--output", "table", user=ADMIN_USER).stdout
    assert hook in table
    remote(server, elsewhere, "webhook", "delete", hook, key=ADMIN_KEY)
    assert hook not in {
        w["webhookId"] for w in server.cli_json("webhook", "list", "--output", "json")["webhooks"]
    }
    audited = [json.loads(line)["event"] for line in server.cli("audit", "export").stdout.splitlines()]
    assert {"strongroom:CreateWebhook", "strongroom:DeleteWebhook", "strongroom:CancelJob"} <= {
        e["action"] for e in audited if e["decision"] == "allow" and e["principal"].endswith(":user/admin")
    }
    assert list(elsewhere.iterdir()) == []
