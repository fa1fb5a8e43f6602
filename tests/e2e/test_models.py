"""``strongroom model push|pull|inspect`` and the SDK against a real server: round trips
of every byte and mode, filters, oras-py both ways, KitOps ModelKits, resumed uploads and
downloads, and each way of signing in."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import httpx
import oras.provider
import pytest

from strongroom.client import AccessKey, AsyncRegistry, Login, Registry
from strongroom.modelformats import mediatypes as mt
from support.aws import aws_client
from support.model_dirs import HF_PARAMETERS, gguf_file, hf_directory
from support.server import ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY, RunningServer

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


def model_cli(
    server: RunningServer,
    home: Path,
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    script: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``strongroom model ARGS`` as a user would run it, with a podman-style login file;
    with ``script``, that shell command runs on a terminal instead (script(1))."""
    home.mkdir(parents=True, exist_ok=True)
    auth = home / "auth.json"
    if not auth.exists():
        token = base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
        auth.write_text(json.dumps({"auths": {server.registry: {"auth": token}}}))
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("STRONGROOM_", "AWS_", "REGISTRY_AUTH"))
    }
    clean.update(
        {"HOME": str(home), "REGISTRY_AUTH_FILE": str(auth), "STRONGROOM_DATA_DIR": str(home / "data")}
    )
    clean.update(env or {})
    command = [sys.executable, "-m", "strongroom", "model", *args]
    if script is not None:
        command = ["script", "--quiet", "--return", "--command", script, "/dev/null"]
    return subprocess.run(
        command,
        env=clean, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def tree(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        path.relative_to(directory).as_posix(): (path.read_bytes(), path.stat().st_mode & 0o777)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_push_then_pull_restores_every_byte_and_mode(shared_server: RunningServer, tmp_path: Path) -> None:
    hf_directory(tmp_path / "fraud-detector")
    ref = f"{shared_server.registry}/ml/fraud-detector:1.4.0"
    pushed = ok(model_cli(shared_server, tmp_path / "home", "push", str(tmp_path / "fraud-detector"), ref))
    again = ok(model_cli(shared_server, tmp_path / "home", "push", str(tmp_path / "fraud-detector"), ref))
    assert pushed["digest"] == again["digest"]  # packing is reproducible

    pulled = ok(model_cli(shared_server, tmp_path / "home", "pull", ref, str(tmp_path / "restored")))
    assert tree(tmp_path / "restored") == tree(tmp_path / "fraud-detector")
    assert sorted(pulled["files"]) == sorted(tree(tmp_path / "fraud-detector"))
    assert (tmp_path / "restored" / "train.py").stat().st_mode & 0o777 == 0o755


def test_filters_pull_only_part_of_the_model(shared_server: RunningServer, tmp_path: Path) -> None:
    hf_directory(tmp_path / "m")
    ref = f"{shared_server.registry}/ml/filtered:1"
    ok(model_cli(shared_server, tmp_path / "home", "push", str(tmp_path / "m"), ref))
    ok(model_cli(shared_server, tmp_path / "home", "pull", ref, str(tmp_path / "w"), "--filter", "weights"))
    assert sorted(tree(tmp_path / "w")) == ["model.safetensors"]
    ok(
        model_cli(
            shared_server, tmp_path / "home", "pull", ref, str(tmp_path / "p"),
            "--filter", "path:config.json", "--filter", "datasets",
        )
    )  # fmt: skip
    assert sorted(tree(tmp_path / "p")) == ["config.json", "data/cases.csv"]


def test_inspect_shows_metadata_without_the_weights(shared_server: RunningServer, tmp_path: Path) -> None:
    hf_directory(tmp_path / "m")
    ref = f"{shared_server.registry}/ml/inspected:2.0"
    home = tmp_path / "home"
    ok(
        model_cli(
            shared_server, home, "push", str(tmp_path / "m"), ref, "--name", "fraud", "--version", "2.0"
        )
    )
    info = ok(model_cli(shared_server, home, "inspect", ref, "--output", "json"))
    assert info["artifact_type"] == mt.MODEL_MANIFEST
    assert (info["name"], info["version"], info["licenses"]) == ("fraud", "2.0", ["apache-2.0"])
    assert (info["architecture"], info["format"], info["precision"]) == (
        "LlamaForCausalLM",
        "safetensors",
        "bfloat16",
    )
    assert (info["parameter_count"], info["tensor_count"], info["dtypes"]) == (
        HF_PARAMETERS,
        3,
        ["F16", "F32"],
    )
    kinds = {file["path"]: file["kind"] for file in info["files"]}
    assert kinds["model.safetensors"] == "weights"
    assert kinds["data/cases.csv"] == "datasets"
    table = model_cli(shared_server, home, "inspect", ref, "--output", "table")
    assert "LlamaForCausalLM" in table.stdout
    assert "model.safetensors" in table.stdout


def test_inspect_reads_safetensors_headers_by_range_when_the_config_has_no_count(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    """An oras-pushed model has no parameter count: inspect reads only the header bytes."""
    files = hf_directory(tmp_path / "m")
    target = f"{shared_server.registry}/ml/oras-pushed:1"
    oras_registry = _oras(shared_server, tmp_path)
    oras_registry.push(
        target,
        files=[str(tmp_path / "m" / name) for name in ("model.safetensors", "config.json")],
        disable_path_validation=True,
    )
    info = ok(model_cli(shared_server, tmp_path / "home", "inspect", target, "--output", "json"))
    assert (info["parameter_count"], info["format"]) == (HF_PARAMETERS, "safetensors")
    # …and the CLI pulls what oras-py pushed.
    ok(model_cli(shared_server, tmp_path / "home", "pull", target, str(tmp_path / "out")))
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == files["model.safetensors"]


def test_oras_py_pulls_a_model_the_cli_pushed(shared_server: RunningServer, tmp_path: Path) -> None:
    files = hf_directory(tmp_path / "m")
    target = f"{shared_server.registry}/ml/for-oras:1"
    ok(model_cli(shared_server, tmp_path / "home", "push", str(tmp_path / "m"), target))
    _oras(shared_server, tmp_path).pull(target, outdir=str(tmp_path / "oras-out"))
    assert {path: data for path, (data, _) in tree(tmp_path / "oras-out").items()} == files


def test_a_kitops_modelkit_is_inspected_and_pulled(shared_server: RunningServer, tmp_path: Path) -> None:
    repository, weights, readme = "ml/kit", os.urandom(200_000), b"# a ModelKit\n"
    kitfile = {
        "manifestVersion": "1.0",
        "package": {"name": "kit-demo", "version": "0.3.0", "authors": ["Ada"], "license": "MIT"},
        "model": {"name": "kit-demo", "path": "models/demo.gguf", "framework": "gguf"},
        "docs": [{"path": "README.md"}],
    }
    layers = [
        ("application/vnd.kitops.modelkit.model.v1.tar+gzip", _targz({"models/demo.gguf": weights})),
        ("application/vnd.kitops.modelkit.docs.v1.tar+gzip", _targz({"README.md": readme})),
    ]
    config = json.dumps(kitfile).encode()
    with shared_server.client() as http:
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": mt.KITOPS_MANIFEST,
            "config": _put_blob(http, repository, config, mt.KITOPS_CONFIG),
            "layers": [_put_blob(http, repository, data, media_type) for media_type, data in layers],
        }
        put = http.put(f"/v2/{repository}/manifests/0.3.0", content=json.dumps(manifest),
                       headers={"content-type": mt.OCI_MANIFEST})  # fmt: skip
        assert put.status_code == 201, put.text
    ref = f"{shared_server.registry}/{repository}:0.3.0"
    info = ok(model_cli(shared_server, tmp_path / "home", "inspect", ref, "--output", "json"))
    assert (info["name"], info["version"], info["authors"], info["licenses"]) == (
        "kit-demo",
        "0.3.0",
        ["Ada"],
        ["MIT"],
    )
    assert info["format"] == "gguf"
    assert [file["kind"] for file in info["files"]] == ["weights", "docs"]
    ok(model_cli(shared_server, tmp_path / "home", "pull", ref, str(tmp_path / "kit")))
    assert (tmp_path / "kit" / "models" / "demo.gguf").read_bytes() == weights
    assert (tmp_path / "kit" / "README.md").read_bytes() == readme
    assert not (tmp_path / "kit" / ".strongroom-layers").exists()


def test_a_layer_path_that_leaves_the_directory_is_refused(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    repository = "ml/hostile"
    with shared_server.client() as http:
        layer = _put_blob(http, repository, b"owned\n", "application/vnd.cncf.model.doc.v1.raw")
        layer["annotations"] = {mt.FILEPATH: "../escaped.txt"}
        manifest = {
            "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": mt.MODEL_MANIFEST,
            "config": _put_blob(http, repository, b"{}", mt.MODEL_CONFIG), "layers": [layer],
        }  # fmt: skip
        put = http.put(f"/v2/{repository}/manifests/1", content=json.dumps(manifest),
                       headers={"content-type": mt.OCI_MANIFEST})  # fmt: skip
        assert put.status_code == 201, put.text
    result = model_cli(shared_server, tmp_path / "home", "pull", f"{shared_server.registry}/{repository}:1",
                       str(tmp_path / "target"))  # fmt: skip
    assert result.returncode != 0
    assert "inside the target directory" in result.stderr
    assert not (tmp_path / "escaped.txt").exists()


def test_a_link_in_the_target_directory_does_not_lead_a_pull_out(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    hf_directory(tmp_path / "m")
    ref = f"{shared_server.registry}/ml/linked-target:1"
    ok(model_cli(shared_server, tmp_path / "home", "push", str(tmp_path / "m"), ref))
    (tmp_path / "target").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "target" / "data").symlink_to(tmp_path / "elsewhere")
    result = model_cli(shared_server, tmp_path / "home", "pull", ref, str(tmp_path / "target"))
    assert result.returncode != 0
    assert "outside the target directory" in result.stderr
    assert not list((tmp_path / "elsewhere").iterdir())
    assert not (tmp_path / "target" / "model.safetensors").exists()  # refused before any download


def test_username_and_password_stdin_and_a_wrong_password(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    hf_directory(tmp_path / "m")
    ref = f"{shared_server.registry}/ml/login:1"
    home = tmp_path / "home"
    home.mkdir()
    (home / "auth.json").write_text("{}")  # no stored login
    args = ("push", str(tmp_path / "m"), ref, "--username", shared_server.user, "--password-stdin")
    ok(model_cli(shared_server, home, *args, stdin=shared_server.password + "\n"))
    refused = model_cli(shared_server, home, *args, stdin="wrong\n")
    assert refused.returncode != 0
    anonymous = model_cli(shared_server, home, "push", str(tmp_path / "m"), ref)
    assert anonymous.returncode != 0


def test_aws_access_keys_sign_in_through_get_authorization_token(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    hf_directory(tmp_path / "m")
    home = tmp_path / "home"
    home.mkdir()
    (home / "auth.json").write_text("{}")
    keys = {"AWS_ACCESS_KEY_ID": ADMIN_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET_ACCESS_KEY}
    ref = f"{shared_server.registry}/ml/aws:1"
    ok(model_cli(shared_server, home, "push", str(tmp_path / "m"), ref, "--aws", env=keys))
    info = Registry(
        shared_server.registry, AccessKey(ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)
    ).inspect_model("ml/aws:1")
    assert info.parameter_count == HF_PARAMETERS


class Interrupted(Exception):
    """What the test's transport raises to cut a push short."""


class CountingTransport(httpx.AsyncBaseTransport):
    """The real HTTP transport, recording each request (and PATCH body sizes); it can cut
    the connection after a number of PATCHes, as a killed process would."""

    def __init__(self, stop_after_patches: int | None = None) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._stop = stop_after_patches
        self.patches: list[tuple[str, int]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path, dict(request.headers)))
        if request.method == "PATCH":
            if self._stop is not None and len(self.patches) >= self._stop:
                raise Interrupted()
            body = await request.aread()  # what goes on the wire (64 KiB chunks here)
            self.patches.append((request.headers["content-range"], len(body)))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


CHUNK = 64 * 1024


async def test_an_interrupted_push_resumes_without_sending_finished_chunks(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    files = hf_directory(tmp_path / "m", weight_bytes=1_000_000)
    big = len(files["big.safetensors"])
    login, journal = Login(shared_server.user, shared_server.password), tmp_path / "journal"
    first = CountingTransport(stop_after_patches=5)
    async with AsyncRegistry(shared_server.registry, login, journal=journal, chunk_size=CHUNK, parallel=1,
                             transport=first) as registry:  # fmt: skip
        with pytest.raises(Interrupted):
            await registry.push_model(tmp_path / "m", "ml/resumed:1")
    assert [length for _, length in first.patches] == [CHUNK] * 5

    second = CountingTransport()
    async with AsyncRegistry(shared_server.registry, login, journal=journal, chunk_size=CHUNK, parallel=1,
                             transport=second) as registry:  # fmt: skip
        digest = await registry.push_model(tmp_path / "m", "ml/resumed:1")
    assert second.patches[0][0] == f"{5 * CHUNK}-{6 * CHUNK - 1}"
    assert sum(length for _, length in second.patches) == big - 5 * CHUNK  # nothing sent twice
    assert not list(journal.iterdir())  # the finished upload is forgotten

    async with AsyncRegistry(shared_server.registry, login) as registry:
        pulled = await registry.pull_model(f"ml/resumed@{digest}", tmp_path / "out")
    assert "big.safetensors" in pulled
    assert (
        hashlib.sha256((tmp_path / "out" / "big.safetensors").read_bytes()).digest()
        == hashlib.sha256(files["big.safetensors"]).digest()
    )


async def test_an_interrupted_pull_continues_the_partial_file(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    files = hf_directory(tmp_path / "m", weight_bytes=500_000)
    login = Login(shared_server.user, shared_server.password)
    async with AsyncRegistry(shared_server.registry, login) as registry:
        await registry.push_model(tmp_path / "m", "ml/partial:1")
    out = tmp_path / "out"
    out.mkdir()
    half = len(files["big.safetensors"]) // 2
    (out / "big.safetensors.partial").write_bytes(files["big.safetensors"][:half])
    (out / "data").mkdir()
    (out / "data" / "cases.csv.partial").write_bytes(b"garbage that is not the file")
    counting = CountingTransport()
    async with AsyncRegistry(shared_server.registry, login, transport=counting) as registry:
        await registry.pull_model("ml/partial:1", out)
    assert {path: data for path, (data, _) in tree(out).items()} == files
    ranges = [headers.get("range") for method, path, headers in counting.requests if "/blobs/" in path]
    assert f"bytes={half}-" in ranges


async def test_mount_from_another_repository_sends_no_layer(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    hf_directory(tmp_path / "m")
    login = Login(shared_server.user, shared_server.password)
    async with AsyncRegistry(shared_server.registry, login) as registry:
        await registry.push_model(tmp_path / "m", "ml/mount-source:1")
    counting = CountingTransport()
    async with AsyncRegistry(shared_server.registry, login, transport=counting) as registry:
        await registry.push_model(tmp_path / "m", "ml/mount-target:1", mount_from="ml/mount-source")
    mounts = [path for method, path, _ in counting.requests if method == "POST"]
    assert len(mounts) == 7  # six files and the config, each mounted
    assert not [method for method, _, _ in counting.requests if method == "PATCH"]
    puts = [path for method, path, _ in counting.requests if method == "PUT"]
    assert puts == ["/v2/ml/mount-target/manifests/1"]


def _oras(server: RunningServer, tmp_path: Path) -> oras.provider.Registry:
    client = oras.provider.Registry(hostname=server.registry, insecure=True, auth_backend="basic")
    client.login(
        server.user, server.password, hostname=server.registry, config_path=str(tmp_path / "oras.json")
    )
    return client


def _targz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _put_blob(http: httpx.Client, repository: str, data: bytes, media_type: str) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = http.post(f"/v2/{repository}/blobs/uploads/")
    assert started.status_code == 202, started.text
    done = http.put(started.headers["location"], params={"digest": digest}, content=data,
                    headers={"content-type": "application/octet-stream"})  # fmt: skip
    assert done.status_code == 201, done.text
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def test_a_gguf_model_round_trips_and_shows_its_quantisation(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    directory = tmp_path / "tiny-gguf"
    directory.mkdir()
    gguf_file(directory / "tiny.Q8_0.gguf")
    (directory / "LICENSE").write_text("MIT\n")
    ref = f"{shared_server.registry}/ml/gguf:q8"
    ok(model_cli(shared_server, tmp_path / "home", "push", str(directory), ref, "--license", "mit"))
    info = ok(model_cli(shared_server, tmp_path / "home", "inspect", ref, "--output", "json"))
    assert (info["format"], info["architecture"], info["quantization"]) == ("gguf", "llama", "Q8_0")
    assert (info["name"], info["licenses"], info["parameter_count"]) == ("tiny-llama", ["mit"], 136)
    ok(model_cli(shared_server, tmp_path / "home", "pull", ref, str(tmp_path / "out")))
    assert tree(tmp_path / "out") == tree(directory)


def test_a_torch_state_dict_round_trips(shared_server: RunningServer, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    directory = tmp_path / "torch-model"
    directory.mkdir()
    torch.save({"linear.weight": torch.zeros(4, 3), "linear.bias": torch.ones(4)}, directory / "model.pt")
    (directory / "config.json").write_text(json.dumps({"architectures": ["TinyLinear"]}))
    ref = f"{shared_server.registry}/ml/torch:1"
    ok(model_cli(shared_server, tmp_path / "home", "push", str(directory), ref))
    info = ok(model_cli(shared_server, tmp_path / "home", "inspect", ref, "--output", "json"))
    assert (info["format"], info["architecture"]) == ("pytorch", "TinyLinear")
    assert {file["path"]: file["kind"] for file in info["files"]} == {
        "config.json": "config",
        "model.pt": "weights",
    }
    ok(model_cli(shared_server, tmp_path / "home", "pull", ref, str(tmp_path / "out")))
    assert tree(tmp_path / "out") == tree(directory)
    assert torch.load(tmp_path / "out" / "model.pt", weights_only=True)["linear.bias"].tolist() == [1.0] * 4


class FlakyTransport(CountingTransport):
    """Loses the answer to the third PATCH after the server has the bytes (a connection
    dropped mid-response), and answers the first blob GET with a 503 without forwarding it."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = self.unavailable = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and "/blobs/sha256:" in request.url.path and not self.unavailable:
            self.unavailable += 1
            return httpx.Response(503)
        response = await super().handle_async_request(request)
        if request.method == "PATCH" and len(self.patches) == 3 and not self.dropped:
            self.dropped += 1
            await response.aclose()
            raise httpx.ReadError("connection reset by peer")
        return response


async def test_dropped_connections_and_5xx_are_retried_without_resending(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    files = hf_directory(tmp_path / "m", weight_bytes=600_000)
    login, flaky = Login(shared_server.user, shared_server.password), FlakyTransport()
    async with AsyncRegistry(
        shared_server.registry, login, chunk_size=CHUNK, parallel=1, transport=flaky
    ) as registry:
        await registry.push_model(tmp_path / "m", "ml/flaky:1")
        await registry.pull_model("ml/flaky:1", tmp_path / "out")
    assert flaky.dropped == flaky.unavailable == 1
    starts = [int(content_range.split("-")[0]) for content_range, _ in flaky.patches]
    assert starts == sorted(set(starts))  # the server had the third chunk: it was not sent again
    assert sum(length for _, length in flaky.patches) == len(files["big.safetensors"])
    assert {path: data for path, (data, _) in tree(tmp_path / "out").items()} == files


def test_progress_bars_on_a_terminal_and_none_otherwise(shared_server: RunningServer, tmp_path: Path) -> None:
    hf_directory(tmp_path / "m")
    ref = f"{shared_server.registry}/ml/progress:1"
    quiet = model_cli(shared_server, tmp_path / "home", "push", str(tmp_path / "m"), ref)
    assert quiet.returncode == 0
    assert quiet.stderr == ""
    command = shlex.join([sys.executable, "-m", "strongroom", "model", "push", str(tmp_path / "m"), ref])
    shown = model_cli(shared_server, tmp_path / "home", stdin=None, script=command)
    assert shown.returncode == 0, shown.stdout
    assert "hashing files" in shown.stdout  # the bars' labels, drawn on the terminal
    assert "model.safetensors" in shown.stdout


def test_pre_donation_cnai_types_behind_an_index_are_read(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    """What released modctl writes (``vnd.cnai.model.*``, ``org.cnai.model.filepath``), here
    behind an OCI index as ``kit index`` pushes variants: the first child is the model."""
    repository, weights = "ml/cnai", os.urandom(50_000)
    config = {"descriptor": {"name": "legacy", "version": "0.1"}, "config": {"format": "safetensors"}}
    with shared_server.client() as http:
        layer = _put_blob(http, repository, weights, "application/vnd.cnai.model.weight.v1.raw")
        layer["annotations"] = {
            "org.cnai.model.filepath": "weights/model.bin",
            "org.cnai.model.file.metadata+json": json.dumps({"name": "model.bin", "mode": 0o600}),
        }
        manifest = json.dumps(
            {
                "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                "artifactType": "application/vnd.cnai.model.manifest.v1+json",
                "config": _put_blob(
                    http, repository, json.dumps(config).encode(), "application/vnd.cnai.model.config.v1+json"
                ),
                "layers": [layer],
            }
        ).encode()  # fmt: skip
        child = hashlib.sha256(manifest).hexdigest()
        put = http.put(
            f"/v2/{repository}/manifests/sha256:{child}",
            content=manifest,
            headers={"content-type": mt.OCI_MANIFEST},
        )
        assert put.status_code == 201, put.text
        index = {
            "schemaVersion": 2, "mediaType": mt.OCI_INDEX,
            "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": f"sha256:{child}", "size": len(manifest)}],
        }  # fmt: skip
        put = http.put(
            f"/v2/{repository}/manifests/0.1",
            content=json.dumps(index),
            headers={"content-type": mt.OCI_INDEX},
        )
        assert put.status_code == 201, put.text
    ref = f"{shared_server.registry}/{repository}:0.1"
    info = ok(model_cli(shared_server, tmp_path / "home", "inspect", ref, "--output", "json"))
    assert (info["name"], info["version"], info["digest"]) == ("legacy", "0.1", f"sha256:{child}")
    assert [(file["path"], file["kind"]) for file in info["files"]] == [("weights/model.bin", "weights")]
    ok(model_cli(shared_server, tmp_path / "home", "pull", ref, str(tmp_path / "out"), "--filter", "weights"))
    assert tree(tmp_path / "out") == {"weights/model.bin": (weights, 0o600)}


def test_promote_moves_an_alias_while_versions_stay_immutable(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    aws_client(shared_server, "ecr").create_repository(
        repositoryName="ml/promoted",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "champion"}],
    )
    home, base = tmp_path / "home", f"{shared_server.registry}/ml/promoted"
    hf_directory(tmp_path / "v1", seed=1)
    hf_directory(tmp_path / "v2", seed=2)
    first = ok(model_cli(shared_server, home, "push", str(tmp_path / "v1"), f"{base}:1.0"))["digest"]
    second = ok(model_cli(shared_server, home, "push", str(tmp_path / "v2"), f"{base}:2.0"))["digest"]
    assert ok(model_cli(shared_server, home, "promote", f"{base}:1.0", "champion"))["digest"] == first
    assert ok(model_cli(shared_server, home, "inspect", f"{base}:champion"))["digest"] == first
    ok(model_cli(shared_server, home, "promote", f"{base}:2.0", "champion"))
    assert ok(model_cli(shared_server, home, "inspect", f"{base}:champion"))["digest"] == second
    refused = model_cli(shared_server, home, "push", str(tmp_path / "v2"), f"{base}:1.0")
    assert refused.returncode != 0  # a version tag does not move
    assert "TAG_INVALID" in refused.stderr or "immutable" in refused.stderr.lower()


def test_push_immutable_makes_versions_immutable_but_not_the_aliases(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    home, base = tmp_path / "home", f"{shared_server.registry}/ml/immutable"
    hf_directory(tmp_path / "v1", seed=1)
    hf_directory(tmp_path / "v2", seed=2)
    keys = {"AWS_ACCESS_KEY_ID": ADMIN_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET_ACCESS_KEY}
    without_keys = model_cli(shared_server, home, "push", str(tmp_path / "v1"), f"{base}:1.0", "--immutable")
    assert without_keys.returncode != 0
    assert "access keys" in without_keys.stderr
    push = ("push", "--aws", "--immutable", "--alias", "champion")
    ok(model_cli(shared_server, home, *push, str(tmp_path / "v1"), f"{base}:1.0", env=keys))
    (repository,) = aws_client(shared_server, "ecr").describe_repositories(repositoryNames=["ml/immutable"])[
        "repositories"
    ]
    assert repository["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repository["imageTagMutabilityExclusionFilters"] == [
        {"filterType": "WILDCARD", "filter": "champion"}
    ]
    ok(model_cli(shared_server, home, *push, str(tmp_path / "v2"), f"{base}:2.0", env=keys))  # it exists now
    assert model_cli(shared_server, home, "push", str(tmp_path / "v2"), f"{base}:1.0").returncode != 0
    ok(model_cli(shared_server, home, "promote", f"{base}:1.0", "champion"))
    ok(model_cli(shared_server, home, "promote", f"{base}:2.0", "champion"))
