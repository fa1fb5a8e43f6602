"""Image lineage against a real server: a hierarchy built layer by layer (a public image, a
base adding a layer, a framework on the base, two applications on the framework: one
carrying the OCI base annotations and pushed with skopeo, one without), then ``lineage
show``, ``dependents`` and ``report`` through the CLI against /admin/v1; moving the base tag
raises ``lineage.base-updated`` for the framework's repository, and once the framework is
rebuilt, for the applications' (a loopback webhook receiver, per repository prefix); a
stepped clock fires the rebuild-delay and 30-day rules. A user without read access to a
repository never learns of its images through ancestry, dependents or the report."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import Cli
from support import hierarchy as h
from support.aws import aws_client
from support.server import RunningServer, start_server

pytestmark = [pytest.mark.e2e]

DAYS = 86400
REGION = "us-east-1"
PUBLIC = h.layer("debian")
BASE = h.layer("hardening")
PATCHED = h.layer("hardening-patched")
FRAMEWORK = h.layer("tensorflow")


@pytest.fixture
def offset(tmp_path: Path) -> Path:
    path = tmp_path / "clock-offset"
    path.write_text("0")
    return path


@pytest.fixture
def server(tmp_path: Path, offset: Path) -> Iterator[RunningServer]:
    env = {
        "STRONGROOM_CLOCK_OFFSET_FILE": str(offset), "STRONGROOM_JOB_POLL_SECONDS": "0.1",
        "STRONGROOM_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    }  # fmt: skip
    running = start_server(tmp_path / "data", env=env, args=["--workers", "1"])
    try:
        yield running
    finally:
        running.stop()


def _hierarchy(server: RunningServer, skopeo: Cli, tmp_path: Path) -> dict[str, str]:
    """Push the five images; each one's digest by name, once their lineage is recorded."""
    started = time.monotonic()
    digests = {
        "public": h.push(server, "public/debian", "12", h.build([PUBLIC])),
        "base": h.push(server, "base/python", "3.11", h.build([PUBLIC, BASE])),
        "framework": h.push(server, "framework/tf", "2.15", h.build([PUBLIC, BASE, FRAMEWORK])),
        "web": h.push(server, "apps/web", "1", h.build([PUBLIC, BASE, FRAMEWORK, h.layer("web")])),
    }
    annotated = h.build(
        [PUBLIC, BASE, FRAMEWORK, h.layer("api")],
        {"org.opencontainers.image.base.name": f"{server.registry}/framework/tf:2.15",
         "org.opencontainers.image.base.digest": digests["framework"]},
    )  # fmt: skip
    h.write_layout(tmp_path / "api-layout", annotated, "1")
    skopeo.run(
        "copy", "--dest-tls-verify=false", "--dest-creds", f"{server.user}:{server.password}",
        f"oci:{tmp_path / 'api-layout'}:1", f"docker://{server.registry}/apps/api:1",
    )  # fmt: skip
    digests["api"] = annotated.digest
    h.wait_for(lambda: h.lineage_jobs_done(server), what="lineage jobs")
    print(f"\nfive images pushed and their lineage recorded in {time.monotonic() - started:.2f}s")
    return digests


def _chain(document: dict[str, Any]) -> list[tuple[str, str | None]]:
    (platform,) = document["platforms"]
    return [(node["repositoryName"], node["builtOnBy"]) for node in platform["ancestry"]]


def _rules(report: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for image in report["images"]:
        found.setdefault(image["repositoryName"], []).extend(
            f"{v['rule']}: {v['message']}" for v in image["violations"]
        )
    return found


def test_a_hierarchy_is_shown_followed_and_reported_as_its_bases_move(
    server: RunningServer, offset: Path, skopeo: Cli, tmp_path: Path
) -> None:
    digests = _hierarchy(server, skopeo, tmp_path)
    for repository, role in (("public/debian", "public"), ("base/python", "base"),
                             ("framework/tf", "framework"), ("apps/web", "application")):  # fmt: skip
        server.cli("lineage", "set-role", repository, role)
    tags = aws_client(server, "ecr").list_tags_for_resource(
        resourceArn=f"arn:aws:ecr:{REGION}:{server_account(server)}:repository/base/python"
    )["tags"]
    assert {"Key": "strongroom:role", "Value": "base"} in tags

    # show: public → base → framework → application, by layers or by the annotations
    web = h.remote(server, "lineage", "show", "apps/web:1")
    assert _chain(web) == [("public/debian", None), ("base/python", "layers"), ("framework/tf", "layers"),
                           ("apps/web", "layers")]  # fmt: skip
    assert [n["role"] for n in web["platforms"][0]["ancestry"]] == [
        "public",
        "base",
        "framework",
        "application",
    ]
    api = h.remote(server, "lineage", "show", f"{server.registry}/apps/api:1")
    assert _chain(api)[-1] == ("apps/api", "annotation")
    assert [name for name, _ in _chain(api)] == ["public/debian", "base/python", "framework/tf", "apps/api"]
    table = server.cli("lineage", "show", "apps/web:1", "--output", "table").stdout
    assert "public/debian:12 → base/python:3.11 → framework/tf:2.15 → apps/web:1" in table

    # dependents of the base, generation by generation
    found = h.remote(server, "lineage", "dependents", "base/python:3.11")["dependents"]
    assert {(d["repositoryName"], d["depth"]) for d in found} == {
        ("framework/tf", 1), ("apps/web", 2), ("apps/api", 2),
    }  # fmt: skip

    # policies, then the report: everything is fresh
    h.remote(server, "lineage", "set-policy", "framework/", "--prefix", "--max-rebuild-delay", "7d")
    h.remote(server, "lineage", "set-policy", "apps/", "--prefix", "--max-base-age", "30d",
             "--max-rebuild-delay", "7d", "--allowed-base", "framework/*")  # fmt: skip
    assert h.remote(server, "lineage", "report")["images"] == []

    with h.receiver() as receiver:
        for prefix in ("framework/", "apps/"):
            server.cli("webhook", "create", "--url", receiver.url("/" + prefix.rstrip("/")), "--events",
                       "lineage.base-updated", "--repository-prefix", prefix)  # fmt: skip
        # The base is patched: its tag moves; the framework's repository must rebuild.
        patched = h.push(server, "base/python", "3.11", h.build([PUBLIC, PATCHED]))
        (event,) = h.wait_for(lambda: receiver.events("/framework", "io.strongroom.lineage.base-updated"),
                              what="base-updated for the framework")  # fmt: skip
        data = event["data"]
        assert (data["repository-name"], data["base-repository-name"], data["base-tag"]) == (
            "framework/tf", "base/python", "3.11",
        )  # fmt: skip
        assert data["previous-base-digests"] == [digests["base"]] and data["base-digest"] == patched
        assert data["image-digests"] == [digests["framework"]]
        assert receiver.events("/apps", "io.strongroom.lineage.base-updated") == []

        # A week and a day later the framework is overdue, and the applications on it too.
        offset.write_text(str(8 * DAYS))
        overdue = _rules(h.remote(server, "lineage", "report"))
        assert set(overdue) == {"framework/tf", "apps/web", "apps/api"}
        (framework_rule,) = overdue["framework/tf"]
        expected = f"built on base/python:3.11 digest {digests['base']}, superseded by {patched} 8 days"
        assert framework_rule.startswith(f"max-rebuild-delay: {expected}")

        # The framework is rebuilt on the patched base: the applications' turn.
        rebuilt = h.push(server, "framework/tf", "2.15", h.build([PUBLIC, PATCHED, FRAMEWORK]))
        events = h.wait_for(
            lambda: _two(receiver.events("/apps", "io.strongroom.lineage.base-updated")),
            what="base-updated for both applications",
        )
        assert sorted(e["data"]["repository-name"] for e in events) == ["apps/api", "apps/web"]
        assert all(e["data"]["base-digest"] == rebuilt for e in events)
        assert len(receiver.events("/framework", "io.strongroom.lineage.base-updated")) == 1
    h.wait_for(lambda: h.lineage_jobs_done(server), what="lineage jobs")
    assert set(_rules(h.remote(server, "lineage", "report"))) == {"apps/web", "apps/api"}
    # Counted now: 31 days on, housekeeping may already have pruned the first (30-day retention).
    listed = server.cli_json("events", "list", "--type", "lineage.base-updated", "--output", "json")["events"]
    assert len(listed) == 3

    # 31 days after they were built, the applications' base is older than 30 days.
    offset.write_text(str(31 * DAYS))
    late = _rules(h.remote(server, "lineage", "report"))
    assert any(
        rule.startswith("max-base-age: base older than 30d: framework/tf:2.15") for rule in late["apps/web"]
    )
    assert "framework/tf" not in late  # rebuilt on the current base 23 days ago; no age rule applies


def _two(events: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return events if len(events) == 2 else None


def server_account(server: RunningServer) -> str:
    return str(aws_client(server, "sts").get_caller_identity()["Account"])


READ_BASES_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "strongroom:GetLineageReport"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": "ecr:DescribeImages",
         "Resource": ["arn:aws:ecr:*:*:repository/base/*", "arn:aws:ecr:*:*:repository/framework/*"]},
    ],
}  # fmt: skip


def test_a_user_without_read_access_learns_nothing_of_repositories_it_cannot_read(
    server: RunningServer, skopeo: Cli, tmp_path: Path
) -> None:
    """Written first: dependents, ancestry and the report show only what the caller may read."""
    digests = _hierarchy(server, skopeo, tmp_path)
    h.remote(server, "lineage", "set-policy", "apps/", "--prefix", "--allowed-base", "base/*")
    h.remote(server, "lineage", "set-policy", "framework/", "--prefix", "--allowed-base", "public/*")
    key = _user_key(server, "base-reader", READ_BASES_ONLY)

    seen = h.remote(server, "lineage", "dependents", "base/python:3.11", key=key)["dependents"]
    assert [d["repositoryName"] for d in seen] == ["framework/tf"]
    assert "apps/" not in json.dumps(seen)
    refused = h.remote(server, "lineage", "show", "apps/web:1", key=key, check=False)
    assert refused.returncode == 1 and "AccessDenied" in refused.stderr
    hidden_dependents = h.remote(server, "lineage", "dependents", "apps/web:1", key=key, check=False)
    assert hidden_dependents.returncode == 1 and "AccessDenied" in hidden_dependents.stderr
    # The framework's ancestry stops below the public image it may not read.
    chain = h.remote(server, "lineage", "show", "framework/tf:2.15", key=key)["platforms"][0]["ancestry"]
    assert [n["repositoryName"] for n in chain] == ["base/python", "framework/tf"]
    # The report names the framework (readable) and not the applications (not readable),
    # though the administrator's report shows both.
    assert {i["repositoryName"] for i in h.remote(server, "lineage", "report")["images"]} == {
        "framework/tf", "apps/web", "apps/api",
    }  # fmt: skip
    assert {i["repositoryName"] for i in h.remote(server, "lineage", "report", key=key)["images"]} == {
        "framework/tf"
    }
    # Setting roles and policies needs their own actions.
    denied = h.remote(server, "lineage", "set-role", "base/python", "base", key=key, check=False)
    assert denied.returncode == 1 and "AccessDenied" in denied.stderr
    assert digests["framework"]


def _user_key(server: RunningServer, name: str, policy: dict[str, Any]) -> tuple[str, str]:
    server.cli("iam", "create-user", "--user-name", name)
    server.cli("iam", "put-user-policy", "--user-name", name, "--policy-name", "p",
               "--policy-document", json.dumps(policy))  # fmt: skip
    key = server.cli_json("iam", "create-access-key", "--user-name", name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]
