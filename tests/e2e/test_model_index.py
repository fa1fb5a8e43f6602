"""The model index against a real server: models pushed by the CLI (safetensors written by
the ``safetensors`` library, GGUF by the ``gguf`` package), by oras-py and as a KitOps
ModelKit built by hand are indexed by the server's own job; ``strongroom model list`` and the
SDK find exactly the expected ones; a user without ``ecr:DescribeImages`` on a repository
sees none of its models, not even through counts or pages; deleting a manifest removes its
model; ``model.indexed`` is in ``strongroom events list``."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from e2e.test_models import _oras, _put_blob, _targz, model_cli, ok
from strongroom.client import AccessKey, Login, Registry
from strongroom.modelformats import mediatypes as mt
from support.model_dirs import HF_PARAMETERS, gguf_file, hf_directory
from support.server import RunningServer

pytestmark = [pytest.mark.e2e]

REGION = "us-east-1"
GGUF_PARAMETERS = 16 * 8 + 8
HIDDEN = "secret/hidden-model"
OTHER_ACCOUNT = "444444444444"
READER_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": "ecr:DescribeImages",
                "Resource": "arn:aws:ecr:*:*:repository/ml/*",
            },
        ],
    }
)


@pytest.fixture(scope="module")
def pushed(shared_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Five models in two repositories' namespaces; returns each one's digest by repository."""
    tmp = tmp_path_factory.mktemp("models")
    home, registry = tmp / "home", shared_server.registry
    digests: dict[str, str] = {}
    hf_directory(tmp / "llama-hf")
    started = time.monotonic()
    digests["ml/llama-hf"] = ok(model_cli(shared_server, home, "push", str(tmp / "llama-hf"),
                                          f"{registry}/ml/llama-hf:1.0"))["digest"]  # fmt: skip
    (tmp / "tiny-gguf").mkdir()
    gguf_file(tmp / "tiny-gguf" / "tiny.gguf")
    gguf_ref = f"{registry}/ml/tiny-gguf:q8"
    digests["ml/tiny-gguf"] = ok(model_cli(shared_server, home, "push", str(tmp / "tiny-gguf"), gguf_ref,
                                           "--license", "MIT"))["digest"]  # fmt: skip
    hf_directory(tmp / "hidden", seed=7)
    digests[HIDDEN] = ok(model_cli(shared_server, home, "push", str(tmp / "hidden"),
                                   f"{registry}/{HIDDEN}:1"))["digest"]  # fmt: skip
    digests["ml/oras-model"] = _oras_push(shared_server, tmp)
    digests["ml/kit"] = _kitops_push(shared_server)
    _wait_until_indexed(shared_server, len(digests))
    print(f"\nfive models indexed {time.monotonic() - started:.2f}s after the first push began")
    _report_timings(shared_server)
    return digests


def _report_timings(server: RunningServer) -> None:
    """Measured figures: push-to-indexed per model (the job's queued-to-finished time) and
    the list's latency over HTTP (not the CLI, whose Python start-up dominates)."""
    jobs = server.cli_json("jobs", "list", "--kind", "model.index", "--output", "json")["jobs"]
    waits = sorted(
        (datetime.fromisoformat(job["finishedAt"]) - datetime.fromisoformat(job["createdAt"])).total_seconds()
        for job in jobs
    )
    print(f"model.index jobs, queued to done: {', '.join(f'{wait * 1000:.0f} ms' for wait in waits)}")
    with server.client() as http:
        http.get("/admin/v1/models")
        times = []
        for _ in range(20):
            started = time.perf_counter()
            assert http.get("/admin/v1/models", params={"format": "safetensors"}).status_code == 200
            times.append(time.perf_counter() - started)
    print(f"GET /admin/v1/models, median of 20: {1000 * sorted(times)[10]:.1f} ms")


def test_every_model_is_indexed_with_what_its_files_say(
    shared_server: RunningServer, pushed: dict[str, str], tmp_path: Path
) -> None:
    found = {model["repositoryName"]: model for model in _list(shared_server, tmp_path)}
    assert {name: model["imageDigest"] for name, model in found.items()} == pushed
    llama = found["ml/llama-hf"]
    assert (llama["format"], llama["architecture"], llama["parameterCount"], llama["licenses"]) == (
        "safetensors", "LlamaForCausalLM", HF_PARAMETERS, ["apache-2.0"],
    )  # fmt: skip
    assert llama["metadata"]["parameters_from"] == "headers" and llama["imageTags"] == ["1.0"]
    assert llama["metadata"]["base_model"] == ["meta-llama/Llama-3.2-1B"]
    assert llama["metadata"]["context_length"] == 2048
    tiny = found["ml/tiny-gguf"]
    quantization = tiny["metadata"]["quantization"]
    assert (tiny["format"], tiny["architecture"], tiny["parameterCount"], quantization) == (
        "gguf", "llama", GGUF_PARAMETERS, "Q8_0",
    )  # fmt: skip
    assert tiny["licenses"] == ["mit"]
    oras_model = found["ml/oras-model"]
    assert (oras_model["name"], oras_model["format"], oras_model["parameterCount"]) == (
        "oras-model", "safetensors", HF_PARAMETERS,
    )  # fmt: skip
    kit = found["ml/kit"]
    assert (kit["name"], kit["version"], kit["format"], kit["licenses"]) == (
        "kit-demo",
        "0.3.0",
        "gguf",
        ["mit"],
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--format", "safetensors"], {"ml/llama-hf", "ml/oras-model", HIDDEN}),
        (["--format", "gguf"], {"ml/tiny-gguf", "ml/kit"}),
        (["--min-params", "2e3"], {"ml/llama-hf", "ml/oras-model", HIDDEN}),
        (["--max-params", "1000"], {"ml/tiny-gguf"}),
        (["--license", "apache-2.0", "--architecture", "LlamaForCausalLM"], {"ml/llama-hf", HIDDEN}),
        (["--license", "MIT"], {"ml/tiny-gguf", "ml/kit"}),
        (["--name", "ml/ti*"], {"ml/tiny-gguf"}),
        (["--name", "kit-dem"], {"ml/kit"}),
        (["--tag", "q8"], {"ml/tiny-gguf"}),
        (["--since", "1h"], {"ml/llama-hf", "ml/tiny-gguf", "ml/oras-model", "ml/kit", HIDDEN}),
        (["--before", "2000-01-01T00:00:00Z"], set()),
    ],
)
def test_model_list_filters_return_exactly_the_expected_models(
    shared_server: RunningServer,
    pushed: dict[str, str],
    tmp_path: Path,
    filters: list[str],
    expected: set[str],
) -> None:
    assert {model["repositoryName"] for model in _list(shared_server, tmp_path, *filters)} == expected


def test_a_user_without_describe_images_does_not_see_the_repository_s_models(
    shared_server: RunningServer, pushed: dict[str, str], tmp_path: Path
) -> None:
    key = _user_key(shared_server, "model-reader", READER_POLICY)
    env = {"AWS_ACCESS_KEY_ID": key.access_key_id, "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
           "AWS_REGION": REGION}  # fmt: skip
    seen = _list(shared_server, tmp_path, "--aws", env=env)
    assert {model["repositoryName"] for model in seen} == set(pushed) - {HIDDEN}
    # Neither a filter matching only the hidden model nor one-model pages tell it exists.
    assert _list(shared_server, tmp_path, "--aws", "--name", "secret", env=env) == []
    sdk = Registry(shared_server.registry, key)
    first = httpx.get(
        f"{shared_server.url}/admin/v1/models",
        params={"name": "secret", "maxResults": "1"},
        auth=(shared_server.user, shared_server.password),
    ).json()
    assert [model["repositoryName"] for model in first["models"]] == [HIDDEN]  # the admin sees it
    paged = [model["repositoryName"] for model in sdk.list_models(limit=100)]
    assert sorted(paged) == sorted(set(pushed) - {HIDDEN})
    one_by_one = _pages(shared_server, key)
    assert [page_names for page_names in one_by_one if HIDDEN in page_names] == []
    assert len(one_by_one[-1]) <= 1 and sum(map(len, one_by_one)) == len(pushed) - 1
    # A signed-in user that may read nothing finds nothing; no one unsigned gets an answer.
    nobody = _user_key(shared_server, "reads-nothing", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}))  # fmt: skip
    assert Registry(shared_server.registry, nobody).list_models() == []
    assert httpx.get(f"{shared_server.url}/admin/v1/models").status_code == 401


def test_the_sdk_lists_with_the_same_filters(shared_server: RunningServer, pushed: dict[str, str]) -> None:
    registry = Registry(shared_server.registry, Login(shared_server.user, shared_server.password))
    found = registry.list_models(format="gguf", license="mit", min_params=100)
    assert {model["repositoryName"] for model in found} == {"ml/tiny-gguf"}


def test_bad_filters_are_clear_errors(
    shared_server: RunningServer, pushed: dict[str, str], tmp_path: Path
) -> None:
    for query in ("minParameters=lots", "pushedSince=yesterday", "nextToken=%%%", "maxResults=0",
                  "minParameters=5&maxParameters=1", "format=" + "x" * 300):  # fmt: skip
        answer = httpx.get(f"{shared_server.url}/admin/v1/models?{query}", auth=shared_server.auth)
        assert answer.status_code == 400, (query, answer.text)
        assert answer.json()["error"]["code"] == "InvalidRequest"
    refused = model_cli(shared_server, tmp_path / "home", "list", shared_server.registry, "--since", "soon")
    assert refused.returncode == 1 and "InvalidRequest" in refused.stderr


def test_model_indexed_events_are_listed(shared_server: RunningServer, pushed: dict[str, str]) -> None:
    listed = shared_server.cli_json("events", "list", "--type", "model.indexed", "--output", "json")["events"]
    by_repository = {event["data"]["repository-name"]: event["data"] for event in listed}
    assert set(by_repository) == set(pushed)
    assert by_repository["ml/llama-hf"]["parameter-count"] == HF_PARAMETERS


def test_another_account_sees_a_model_only_where_the_repository_policy_lets_it(
    shared_server: RunningServer, pushed: dict[str, str]
) -> None:
    """Cross-account needs both sides: the other account's own policy allows everything, yet
    it sees nothing until a repository policy names it, and then that repository's model only."""
    shared_server.cli("account", "create", "--id", OTHER_ACCOUNT)
    everything = json.dumps({"Version": "2012-10-17",
                             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})  # fmt: skip
    key = _user_key(shared_server, "outsider", everything, OTHER_ACCOUNT)
    outsider = Registry(shared_server.registry, key)
    assert outsider.list_models() == []
    other_root = f"arn:aws:iam::{OTHER_ACCOUNT}:root"
    grant = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": other_root}, "Action": "ecr:DescribeImages"},
    ]}  # fmt: skip
    shared_server.cli(
        "repo", "set-policy", "--repository-name", "ml/llama-hf", "--policy-text", json.dumps(grant)
    )
    assert [model["repositoryName"] for model in outsider.list_models()] == ["ml/llama-hf"]
    assert outsider.list_models(format="gguf") == []


def test_deleting_the_manifest_removes_the_model(
    shared_server: RunningServer, pushed: dict[str, str], tmp_path: Path
) -> None:
    with shared_server.client() as http:
        deleted = http.delete(f"/v2/ml/kit/manifests/{pushed['ml/kit']}")
        assert deleted.status_code == 202, deleted.text
    remaining = {model["repositoryName"] for model in _list(shared_server, tmp_path)}
    assert remaining == set(pushed) - {"ml/kit"}
    pushed.pop("ml/kit")


def _list(server: RunningServer, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> list[Any]:
    started = time.monotonic()
    result = ok(
        model_cli(server, tmp_path / "home", "list", server.registry, "--output", "json", *args, env=env)
    )
    print(f"model list {' '.join(args)}: {1000 * (time.monotonic() - started):.0f} ms (a CLI process)")
    return list(result["models"])


def _pages(server: RunningServer, key: AccessKey) -> list[list[str]]:
    """Every page of one model each, as the restricted user sees them (signed requests)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    pages: list[list[str]] = []
    token: str | None = None
    while True:
        query = {"maxResults": "1", **({"nextToken": token} if token else {})}
        url = f"{server.url}/admin/v1/models?{urlencode(query)}"
        request = AWSRequest("GET", url)
        SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "strongroom", REGION).add_auth(
            request
        )
        page = httpx.get(url, headers=dict(request.headers)).json()
        pages.append([model["repositoryName"] for model in page["models"]])
        token = page.get("nextToken")
        if token is None:
            return pages


def _user_key(server: RunningServer, name: str, policy: str, account: str | None = None) -> AccessKey:
    where = ["--account-id", account] if account else []
    server.cli("iam", "create-user", "--user-name", name, *where)
    server.cli("iam", "put-user-policy", "--user-name", name, "--policy-name", "p",
               "--policy-document", policy, *where)  # fmt: skip
    key = server.cli_json("iam", "create-access-key", "--user-name", name, *where)["AccessKey"]
    return AccessKey(key["AccessKeyId"], key["SecretAccessKey"], None, REGION)


def _oras_push(server: RunningServer, tmp: Path) -> str:
    """A model pushed by oras-py: its files by title, a ModelPack config, no artifactType."""
    hf_directory(tmp / "oras")
    config = tmp / "modelpack-config.json"
    config.write_text(json.dumps({"descriptor": {"name": "oras-model", "licenses": ["BSD-3-Clause"]},
                                  "config": {"format": "SafeTensors"}}))  # fmt: skip
    target = f"{server.registry}/ml/oras-model:1"
    response = _oras(server, tmp).push(
        target,
        files=[str(tmp / "oras" / name) for name in ("model.safetensors", "README.md")],
        manifest_config=f"{config}:{mt.MODEL_CONFIG}",
        disable_path_validation=True,
    )
    assert response.status_code == 201, response.text
    return str(response.headers["docker-content-digest"])


def _kitops_push(server: RunningServer) -> str:
    """A ModelKit to KitOps' published media types, built by hand (tar+gzip layers)."""
    repository = "ml/kit"
    kitfile = {
        "manifestVersion": "1.0",
        "package": {"name": "kit-demo", "version": "0.3.0", "authors": ["Ada"], "license": "MIT"},
        "model": {"name": "kit-demo", "path": "models/demo.gguf", "framework": "gguf"},
    }
    with server.client() as http:
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": _put_blob(http, repository, json.dumps(kitfile).encode(), mt.KITOPS_CONFIG),
            "layers": [
                _put_blob(http, repository, _targz({"models/demo.gguf": os.urandom(4096)}),
                          "application/vnd.kitops.modelkit.model.v1.tar+gzip"),
            ],
        }  # fmt: skip
        put = http.put(f"/v2/{repository}/manifests/0.3.0", content=json.dumps(manifest),
                       headers={"content-type": mt.OCI_MANIFEST})  # fmt: skip
        assert put.status_code == 201, put.text
        return str(put.headers["docker-content-digest"])


def _wait_until_indexed(server: RunningServer, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = httpx.get(f"{server.url}/admin/v1/models", auth=server.auth).json()["models"]
        if len(found) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"only {len(found)} of {count} models indexed:\n{server.log()[-3000:]}")
