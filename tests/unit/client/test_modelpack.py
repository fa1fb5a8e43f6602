"""Packing a model directory as ModelPack: reproducible, typed layers, metadata from the files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from strongroom.client.modelfile import ModelfileError
from strongroom.client.modelfiles import UnsafeDirectory
from strongroom.client.modelpack import pack, parameter_size
from strongroom.modelformats import mediatypes as mt
from strongroom.modelformats.paths import kind_of
from support.model_dirs import HF_PARAMETERS, gguf_file, hf_directory
from support.models import onnx_model, onnx_node, onnx_tensor


def test_packing_twice_gives_the_same_digest(tmp_path: Path) -> None:
    hf_directory(tmp_path / "m")
    first = pack(tmp_path / "m")
    os.utime(tmp_path / "m" / "README.md", (1, 1))  # mtimes are not packed
    assert pack(tmp_path / "m").manifest.digest == first.manifest.digest
    assert pack(tmp_path / "m", created="2026-01-01T00:00:00Z").manifest.digest != first.manifest.digest


def test_each_file_is_one_raw_layer_typed_by_its_kind(tmp_path: Path) -> None:
    files = hf_directory(tmp_path / "m")
    manifest = json.loads(pack(tmp_path / "m").manifest.data)
    assert manifest["artifactType"] == mt.MODEL_MANIFEST
    assert manifest["config"]["mediaType"] == mt.MODEL_CONFIG
    types = {layer["annotations"][mt.FILEPATH]: layer["mediaType"] for layer in manifest["layers"]}
    assert sorted(types) == sorted(files)
    assert types == {
        "README.md": "application/vnd.cncf.model.doc.v1.raw",
        "config.json": "application/vnd.cncf.model.weight.config.v1.raw",
        "data/cases.csv": "application/vnd.cncf.model.dataset.v1.raw",
        "model.safetensors": "application/vnd.cncf.model.weight.v1.raw",
        "tokenizer.json": "application/vnd.cncf.model.weight.config.v1.raw",
        "train.py": "application/vnd.cncf.model.code.v1.raw",
    }
    script = next(layer for layer in manifest["layers"] if layer["annotations"][mt.FILEPATH] == "train.py")
    assert json.loads(script["annotations"][mt.FILE_METADATA]) == {
        "name": "train.py", "mode": 0o755, "size": len(files["train.py"]), "typeflag": 48,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("weights/pytorch_model-00001-of-00002.bin", "weights"),
        ("model.gguf", "weights"),
        ("model.onnx", "weights"),
        ("tokenizer.model", "config"),
        ("tokenizer_config.json", "config"),
        ("model.safetensors.index.json", "config"),
        ("generation_config.json", "config"),
        ("LICENSE", "docs"),
        ("docs/usage.md", "docs"),
        ("requirements.txt", "code"),
        ("scripts/run.sh", "code"),
        ("datasets/train/part-0.bin", "datasets"),
        ("eval.parquet", "datasets"),
        ("samples.jsonl", "datasets"),
    ],
)
def test_file_kinds(path: str, kind: str) -> None:
    assert kind_of(path) == kind


def test_metadata_comes_from_config_card_and_safetensors_headers(tmp_path: Path) -> None:
    hf_directory(tmp_path / "fraud-detector")
    packed = pack(tmp_path / "fraud-detector", version="1.4.0")
    meta = packed.meta
    assert (meta.name, meta.version) == ("fraud-detector", "1.4.0")
    assert meta.architecture == "LlamaForCausalLM"
    assert (meta.family, meta.precision, meta.format) == ("llama", "bfloat16", "safetensors")
    assert meta.parameter_count == HF_PARAMETERS
    assert meta.tensor_count == 3
    assert meta.dtypes == ("F16", "F32")
    assert meta.licenses == ("apache-2.0",)
    assert meta.base_model == ("meta-llama/Llama-3.2-1B",)
    assert meta.tags == ("fraud", "tabular")
    config = json.loads(packed.config.data)
    assert config["descriptor"]["licenses"] == ["apache-2.0"]
    assert config["config"]["paramSize"] == parameter_size(HF_PARAMETERS) == "2.31K"
    assert config["modelfs"]["diffIds"] == [file.digest for file in packed.files]
    manifest = json.loads(packed.manifest.data)
    assert manifest["annotations"][mt.PARAMETER_COUNT] == str(HF_PARAMETERS)


def test_flags_override_what_the_directory_says(tmp_path: Path) -> None:
    hf_directory(tmp_path / "m")
    meta = pack(tmp_path / "m", name="renamed", licenses=("mit",)).meta
    assert (meta.name, meta.licenses) == ("renamed", ("mit",))


def test_sharded_safetensors_count_only_the_shards_the_index_names(tmp_path: Path) -> None:
    directory = tmp_path / "sharded"
    directory.mkdir()
    save_file(
        {"a": np.zeros((10, 10), dtype=np.float32)}, str(directory / "model-00001-of-00002.safetensors")
    )
    save_file({"b": np.zeros((5,), dtype=np.float16)}, str(directory / "model-00002-of-00002.safetensors"))
    save_file({"lora": np.zeros((1000,), dtype=np.float32)}, str(directory / "adapter.safetensors"))
    index = {
        "metadata": {},
        "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"},
    }
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    meta = pack(directory).meta
    assert (meta.parameter_count, meta.tensor_count, meta.dtypes) == (105, 2, ("F32", "F16"))


def test_gguf_metadata(tmp_path: Path) -> None:
    directory = tmp_path / "g"
    directory.mkdir()
    gguf_file(directory / "tiny.Q8_0.gguf")
    meta = pack(directory).meta
    assert meta.format == "gguf"
    assert (meta.architecture, meta.quantization, meta.context_length) == ("llama", "Q8_0", 4096)
    assert meta.name == "tiny-llama"
    assert meta.parameter_count == 16 * 8 + 8
    assert meta.dtypes == ("F32", "F16")


def test_links_that_escape_the_directory_are_refused(tmp_path: Path) -> None:
    hf_directory(tmp_path / "m")
    (tmp_path / "secret").write_text("key")
    (tmp_path / "m" / "leak.txt").symlink_to(tmp_path / "secret")
    with pytest.raises(UnsafeDirectory, match="outside"):
        pack(tmp_path / "m")


def test_links_inside_the_directory_are_packed_as_files(tmp_path: Path) -> None:
    files = hf_directory(tmp_path / "m")
    (tmp_path / "m" / "LICENSE").symlink_to("README.md")
    manifest = json.loads(pack(tmp_path / "m").manifest.data)
    licence = next(layer for layer in manifest["layers"] if layer["annotations"][mt.FILEPATH] == "LICENSE")
    assert licence["size"] == len(files["README.md"])


def test_a_modelfile_states_metadata_and_types_files(tmp_path: Path) -> None:
    hf_directory(tmp_path / "m")
    (tmp_path / "m" / "weights.dat").write_bytes(b"\0" * 64)
    (tmp_path / "m" / "Modelfile").write_text(
        "# what the files do not say\nNAME fraud\nPARAMSIZE 2.3K\nQUANTIZATION none\n"
        "LICENSE mit\nLICENSE apache-2.0\nMODEL *.dat\nDOC train.py\n"
    )
    packed = pack(tmp_path / "m", version="9")
    meta = packed.meta
    assert (meta.name, meta.version, meta.quantization, meta.licenses) == (
        "fraud",
        "9",
        "none",
        ("mit", "apache-2.0"),
    )
    kinds = {file.path: file.kind for file in packed.files}
    assert (kinds["weights.dat"], kinds["train.py"], kinds["Modelfile"]) == ("weights", "docs", "config")
    assert pack(tmp_path / "m", name="flag-wins").meta.name == "flag-wins"


def test_a_modelfile_with_an_unknown_instruction_is_refused(tmp_path: Path) -> None:
    hf_directory(tmp_path / "m")
    (tmp_path / "m" / "Modelfile").write_text("NAEM typo\n")
    with pytest.raises(ModelfileError, match="NAEM"):
        pack(tmp_path / "m")


def test_onnx_opset_is_read_past_the_graph(tmp_path: Path) -> None:
    directory = tmp_path / "onnx"
    directory.mkdir()
    weights = onnx_tensor("w", raw=b"\1" * 100_000)
    (directory / "model.onnx").write_bytes(onnx_model([weights], [onnx_node("MatMul")]))
    packed = pack(directory)
    assert (packed.meta.format, packed.meta.opset) == ("onnx", 17)
    assert json.loads(packed.manifest.data)["annotations"][mt.ONNX_OPSET] == "17"
