"""The model summary the server records, from bytes alone: which artifacts are models, which
layers are read, and what a config, a model card, config.json and weight headers add up to
(safetensors written by the ``safetensors`` library, GGUF by the ``gguf`` package)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from strongroom.modelformats import mediatypes as mt
from strongroom.modelformats.documents import summed
from strongroom.modelformats.summary import ModelDocumentError, inspect, is_model, plan, summarise
from strongroom.modelformats.weightheaders import read_gguf, read_safetensors
from support.model_dirs import CARD, HF_PARAMETERS, gguf_file, hf_directory


@pytest.mark.parametrize(
    ("artifact_type", "expected"),
    [
        (mt.MODEL_MANIFEST, True),
        (mt.MODEL_CONFIG, True),  # oras: no artifactType, a ModelPack config
        ("application/vnd.cnai.model.manifest.v1+json", True),
        (mt.KITOPS_CONFIG, True),
        (mt.KITOPS_MANIFEST, True),
        ("application/vnd.oci.image.config.v1+json", False),
        ("application/vnd.cyclonedx+json", False),
        (None, False),
    ],
)
def test_which_artifacts_are_models(artifact_type: str | None, expected: bool) -> None:
    assert is_model(artifact_type) is expected


def _layer(path: str, data: bytes, media_type: str = mt.LAYER_TYPES[mt.Kind.WEIGHTS]) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "annotations": {mt.FILEPATH: path},
    }


def _manifest(layers: list[dict[str, Any]], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": mt.MODEL_MANIFEST,
        "config": {"mediaType": mt.MODEL_CONFIG, "digest": "sha256:" + "0" * 64, "size": 2},
        "layers": layers,
    }
    if annotations:
        manifest["annotations"] = annotations
    return manifest


def test_a_hugging_face_directory_is_summarised_from_its_card_config_and_headers(tmp_path: Path) -> None:
    files = hf_directory(tmp_path)
    layers = [
        _layer("model.safetensors", files["model.safetensors"]),
        _layer("config.json", files["config.json"], mt.LAYER_TYPES[mt.Kind.CONFIG]),
        _layer("README.md", files["README.md"], mt.LAYER_TYPES[mt.Kind.DOCS]),
    ]
    # The pusher claims a count the header contradicts: the header wins.
    info = inspect("sha256:" + "1" * 64, _manifest(layers, {mt.PARAMETER_COUNT: "7000000000"}), b"{}")
    read = plan(info)
    assert (read.weight_format, [f.path for f in read.weights]) == ("safetensors", ["model.safetensors"])
    assert read.card is not None and read.hf_config is not None
    header = read_safetensors(files["model.safetensors"])
    summary = summarise(info, read, files["README.md"], files["config.json"], header)
    assert (summary.format, summary.architecture, summary.parameter_count, summary.licenses) == (
        "safetensors", "LlamaForCausalLM", HF_PARAMETERS, ("apache-2.0",),
    )  # fmt: skip
    assert summary.document["parameters_from"] == "headers"
    assert summary.document["base_model"] == ["meta-llama/Llama-3.2-1B"]
    assert summary.document["card_tags"] == ["fraud", "tabular"]
    assert summary.document["dtypes"] == ["F16", "F32"]


def test_a_gguf_model_gives_architecture_quantisation_and_context(tmp_path: Path) -> None:
    gguf_file(tmp_path / "tiny.gguf")
    data = (tmp_path / "tiny.gguf").read_bytes()
    info = inspect("sha256:" + "2" * 64, _manifest([_layer("tiny.gguf", data)]), b"{}")
    read = plan(info)
    summary = summarise(info, read, None, None, summed([read_gguf(data)]))
    assert (summary.format, summary.architecture, summary.parameter_count, summary.name) == (
        "gguf", "llama", 16 * 8 + 8, "tiny-llama",
    )  # fmt: skip
    assert (summary.document["quantization"], summary.document["context_length"]) == ("Q8_0", 4096)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        # What the config declares, format names normalised.
        ({"descriptor": {"name": "a", "licenses": ["MIT", "mit"]}, "config": {"format": "SafeTensors"}},
         ("a", "safetensors", ("mit",))),
        ({"config": {"format": ".gguf"}}, (None, "gguf", ())),
        ({"config": {"format": "pt"}}, (None, "pytorch", ())),
        # Malformed fields contribute nothing; the weight files' suffix gives the format.
        ({"descriptor": {"name": 5, "licenses": "Apache-2.0"}, "config": []},
         (None, "onnx", ("apache-2.0",))),
        ({}, (None, "onnx", ())),
    ],
)  # fmt: skip
def test_the_config_s_facts_and_their_normalisation(
    config: dict[str, Any], expected: tuple[str | None, str, tuple[str, ...]]
) -> None:
    info = inspect(
        "sha256:" + "3" * 64, _manifest([_layer("model.onnx", b"onnx")]), json.dumps(config).encode()
    )
    summary = summarise(info, plan(info), None, None, None)
    assert (summary.name, summary.format, summary.licenses) == expected


def test_a_kitfile_is_read_and_its_tar_layers_are_not_opened() -> None:
    kitfile = {"package": {"name": "kit", "version": "1", "license": "MIT"}, "model": {"path": "m/x.gguf"}}
    manifest = _manifest([_layer("", b"tar", "application/vnd.kitops.modelkit.model.v1.tar+gzip")])
    manifest["config"]["mediaType"] = mt.KITOPS_CONFIG
    info = inspect("sha256:" + "4" * 64, manifest, json.dumps(kitfile).encode())
    read = plan(info)
    assert (read.card, read.hf_config, read.weights) == (None, None, ())
    summary = summarise(info, read, None, None, None)
    assert (summary.name, summary.version, summary.format, summary.licenses) == ("kit", "1", "gguf", ("mit",))


def test_at_most_64_weight_headers_are_planned() -> None:
    layers = [_layer(f"model-{i:05}.safetensors", str(i).encode()) for i in range(100)]
    info = inspect("sha256:" + "5" * 64, _manifest(layers), b"{}")
    assert len(plan(info).weights) == 64


@pytest.mark.parametrize(
    "layers",
    [
        [{"mediaType": mt.LAYER_TYPES[mt.Kind.WEIGHTS], "digest": "sha256:" + "0" * 64,
          "annotations": {mt.FILEPATH: "model.safetensors"}}],  # no size
        [{"mediaType": mt.LAYER_TYPES[mt.Kind.WEIGHTS], "size": 1, "digest": "x", "annotations": "a string"}],
    ],
)  # fmt: skip
def test_a_malformed_model_manifest_is_a_clear_error(layers: list[dict[str, Any]]) -> None:
    with pytest.raises(ModelDocumentError, match="malformed"):
        inspect("sha256:" + "6" * 64, _manifest(layers), b"{}")


@pytest.mark.parametrize(
    "card",
    [b"no front matter", b"---\nlicense: [unclosed\n---\n", b"---\n- a list\n---\n", b"---\nlicense: mit\n"],
)
def test_a_card_without_usable_front_matter_adds_nothing(card: bytes) -> None:
    info = inspect(
        "sha256:" + "7" * 64, _manifest([_layer("README.md", card, mt.LAYER_TYPES[mt.Kind.DOCS])]), b"{}"
    )
    assert summarise(info, plan(info), card, None, None).licenses == ()


def test_the_card_constant_is_the_one_the_builders_write() -> None:
    assert CARD.startswith("---\nlicense: apache-2.0")
