"""What a model directory says about itself: Hugging Face ``config.json``, the model card's
front matter, the weight files' headers. Flags override it (:meth:`ModelMeta.merged`).

Every reader is tolerant: a file that is missing or malformed contributes nothing, so a
directory of plain files still packs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strongroom.client.modelfiles import ModelFile
from strongroom.modelformats.documents import (
    MAX_CARD,
    MAX_JSON,
    card_facts,
    gguf_facts,
    hf_config_facts,
    load_json,
    summed,
)
from strongroom.modelformats.paths import FORMATS
from strongroom.modelformats.weightheaders import (
    BadHeader,
    NeedMore,
    WeightHeader,
    read_gguf,
    read_onnx,
    read_safetensors,
)

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
        fields |= hf_config_facts(_json(by_path["config.json"].source))
    card = next((file for path, file in sorted(by_path.items()) if path.lower() == "readme.md"), None)
    if card is not None:
        with card.source.open("rb") as handle:
            fields |= card_facts(handle.read(MAX_CARD))
    fields |= _weights(files, by_path)
    return ModelMeta(**{key: value for key, value in fields.items() if value not in (None, (), "")})


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
    header = summed([found for found in (_header(file) for file in _shards(files, by_path, fmt)) if found])
    if header is None:
        return {"format": fmt}
    facts: dict[str, Any] = {
        "format": fmt,
        "parameter_count": header.parameter_count,
        "tensor_count": header.tensor_count,
        "dtypes": header.dtypes,
    }
    if fmt == "gguf":
        facts |= gguf_facts(header)
    return facts


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
        if path.stat().st_size > MAX_JSON:
            return {}
        return load_json(path.read_bytes())
    except OSError:
        return {}
