"""What a model directory says about itself: Hugging Face ``config.json``, the model card's
front matter, the weight files' headers. Flags override it (:meth:`ModelMeta.merged`).

Every reader is tolerant: a file that is missing or malformed contributes nothing, so a
directory of plain files still packs.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from strongroom.client.modelfiles import ModelFile
from strongroom.client.weightheaders import (
    GGUF_FILE_TYPES,
    BadHeader,
    NeedMore,
    WeightHeader,
    read_gguf,
    read_onnx,
    read_safetensors,
)

FORMATS = {
    ".safetensors": "safetensors", ".gguf": "gguf", ".onnx": "onnx", ".pt": "pytorch",
    ".pth": "pytorch", ".bin": "pytorch", ".ckpt": "pytorch", ".h5": "keras", ".keras": "keras",
    ".tflite": "tflite", ".pb": "tensorflow",
}  # fmt: skip
_MAX_JSON = 16 * 1024 * 1024
_GGUF_READ = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ModelMeta:
    name: str | None = None
    version: str | None = None
    revision: str | None = None
    authors: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    description: str | None = None
    source_url: str | None = None
    family: str | None = None
    architecture: str | None = None
    format: str | None = None
    parameter_count: int | None = None
    tensor_count: int | None = None
    dtypes: tuple[str, ...] = ()
    precision: str | None = None
    quantization: str | None = None
    context_length: int | None = None
    opset: int | None = None
    parameter_size: str | None = None
    """A stated size (``7B``) when the files give no exact count (a Modelfile's PARAMSIZE)."""
    base_model: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def merged(self, **overrides: Any) -> ModelMeta:
        """This metadata with every override that is not None."""
        return dataclasses.replace(
            self, **{key: value for key, value in overrides.items() if value is not None}
        )


def read_directory(files: Sequence[ModelFile]) -> ModelMeta:
    by_path = {file.path: file for file in files}
    fields: dict[str, Any] = {}
    if "config.json" in by_path:
        fields |= _hf_config(_json(by_path["config.json"].source))
    card = next((file for path, file in sorted(by_path.items()) if path.lower() == "readme.md"), None)
    if card is not None:
        fields |= _card(card.source)
    fields |= _weights(files, by_path)
    return ModelMeta(**{key: value for key, value in fields.items() if value not in (None, (), "")})


def _hf_config(config: dict[str, Any]) -> dict[str, Any]:
    architectures = config.get("architectures")
    dtype = config.get("torch_dtype") or config.get("dtype")
    return {
        "architecture": architectures[0] if isinstance(architectures, list) and architectures else None,
        "family": _text(config.get("model_type")),
        "precision": _text(dtype),
        "context_length": _int(config.get("max_position_embeddings")),
        "name": _text(config.get("_name_or_path")) or None,
    }


def _card(path: Path) -> dict[str, Any]:
    """Model card front matter: a YAML block between ``---`` lines at the top of README.md."""
    with path.open("rb") as handle:
        head = handle.read(256 * 1024).decode("utf-8", errors="replace")
    if not head.startswith("---"):
        return {}
    end = head.find("\n---", 3)
    if end < 0:
        return {}
    try:
        front = yaml.safe_load(head[3:end])
    except yaml.YAMLError:
        return {}
    if not isinstance(front, dict):
        return {}
    return {
        "licenses": _list(front.get("license")),
        "base_model": _list(front.get("base_model")),
        "datasets": _list(front.get("datasets")),
        "tags": _list(front.get("tags")),
        "name": _text(front.get("model_name")),
        "authors": _list(front.get("authors") or front.get("author")),
        "description": _text(front.get("description")),
    }


def _weights(files: Sequence[ModelFile], by_path: dict[str, ModelFile]) -> dict[str, Any]:
    formats: Counter[str] = Counter()
    for file in files:
        suffix = Path(file.path).suffix.lower()
        if file.kind == "weights" and suffix in FORMATS:
            formats[FORMATS[suffix]] += file.size
    if not formats:
        return {}
    fmt = formats.most_common(1)[0][0]
    if fmt == "onnx":
        return {"format": fmt, "opset": _onnx_opset(files)}
    headers = [header for header in (_header(file) for file in _shards(files, by_path, fmt)) if header]
    if not headers:
        return {"format": fmt}
    dtypes: Counter[str] = Counter()
    for header in headers:
        for rank, dtype in enumerate(header.dtypes):
            dtypes[dtype] += len(header.dtypes) - rank
    facts: dict[str, Any] = {
        "format": fmt,
        "parameter_count": sum(header.parameter_count for header in headers),
        "tensor_count": sum(header.tensor_count for header in headers),
        "dtypes": tuple(name for name, _ in dtypes.most_common()),
    }
    if fmt == "gguf":
        facts |= gguf_facts(headers[0])
    return facts


def gguf_facts(header: WeightHeader) -> dict[str, Any]:
    """Architecture, quantisation, context length and name from GGUF key-values."""
    meta = header.metadata
    arch = _text(meta.get("general.architecture"))
    file_type = meta.get("general.file_type")
    return {
        "architecture": arch,
        "family": arch,
        "quantization": GGUF_FILE_TYPES.get(file_type) if isinstance(file_type, int) else None,
        "context_length": _int(meta.get(f"{arch}.context_length")) if arch else None,
        "name": _text(meta.get("general.name")),
        "licenses": _list(meta.get("general.license")),
    }


def _shards(files: Sequence[ModelFile], by_path: dict[str, ModelFile], fmt: str) -> list[ModelFile]:
    """The weight files that make up the model: those a sharded index names, else all of the format."""
    suffix = "." + fmt
    index = by_path.get(f"model{suffix}.index.json")
    if index is not None:
        weight_map = _json(index.source).get("weight_map")
        if isinstance(weight_map, dict):
            named = {by_path.get(str(shard)) for shard in weight_map.values()}
            return sorted((file for file in named if file is not None), key=lambda file: file.path)
    return [file for file in files if file.path.lower().endswith(suffix) and file.kind == "weights"]


def _header(file: ModelFile) -> WeightHeader | None:
    reader = read_safetensors if file.path.lower().endswith(".safetensors") else read_gguf
    if not file.path.lower().endswith((".safetensors", ".gguf")):
        return None
    size = 8 if reader is read_safetensors else _GGUF_READ
    with file.source.open("rb") as handle:
        while True:
            handle.seek(0)
            data = handle.read(size)
            try:
                return reader(data)
            except NeedMore as more:
                if more.size > file.size:
                    return None
                size = more.size
            except BadHeader:
                return None


def _onnx_opset(files: Sequence[ModelFile]) -> int | None:
    for file in files:
        if file.path.lower().endswith(".onnx"):
            try:
                with file.source.open("rb") as handle:
                    opset = read_onnx(handle, file.size).get("opset")
            except (OSError, BadHeader):
                return None
            return opset if isinstance(opset, int) else None
    return None


def _json(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > _MAX_JSON:
            return {}
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(item) for item in value if isinstance(item, str | int | float))
    return ()
