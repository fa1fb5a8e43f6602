"""What a model's own documents say: a Hugging Face ``config.json``, the model card's
front matter (a YAML block between ``---`` lines at the top of ``README.md``), GGUF
key-values, and several weight headers summed into one. Every reader is tolerant: a
malformed document contributes nothing."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import yaml

from strongroom.modelformats.weightheaders import GGUF_FILE_TYPES, WeightHeader

MAX_CARD = 256 * 1024
"""The model card bytes read for its front matter (the front matter is at the top)."""
MAX_JSON = 16 * 1024 * 1024
"""The largest ``config.json`` (or shard index) read."""


def load_json(data: bytes) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else (too large, malformed, not an object)."""
    if len(data) > MAX_JSON:
        return {}
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def hf_config_facts(config: dict[str, Any]) -> dict[str, Any]:
    """Architecture, family, precision, context length and name from a ``config.json``."""
    architectures = config.get("architectures")
    dtype = config.get("torch_dtype") or config.get("dtype")
    return {
        "architecture": text(architectures[0]) if isinstance(architectures, list) and architectures else None,
        "family": text(config.get("model_type")),
        "precision": text(dtype),
        "context_length": integer(config.get("max_position_embeddings")),
        "name": text(config.get("_name_or_path")),
    }


def card_facts(head: bytes) -> dict[str, Any]:
    """Licence, base model, datasets, tags, name, authors and description from the front
    matter of a model card; ``head`` is its first bytes (at most :data:`MAX_CARD` are read)."""
    start = head[:MAX_CARD].decode("utf-8", errors="replace")
    if not start.startswith("---"):
        return {}
    end = start.find("\n---", 3)
    if end < 0:
        return {}
    try:
        front = yaml.safe_load(start[3:end])
    except (yaml.YAMLError, RecursionError):
        return {}
    if not isinstance(front, dict):
        return {}
    return {
        "licenses": texts(front.get("license")),
        "base_model": texts(front.get("base_model")),
        "datasets": texts(front.get("datasets")),
        "tags": texts(front.get("tags")),
        "name": text(front.get("model_name")),
        "authors": texts(front.get("authors") or front.get("author")),
        "description": text(front.get("description")),
    }


def gguf_facts(header: WeightHeader) -> dict[str, Any]:
    """Architecture, quantisation, context length, name and licence from GGUF key-values."""
    meta = header.metadata
    arch = text(meta.get("general.architecture"))
    file_type = meta.get("general.file_type")
    return {
        "architecture": arch,
        "family": arch,
        "quantization": GGUF_FILE_TYPES.get(file_type) if isinstance(file_type, int) else None,
        "context_length": integer(meta.get(f"{arch}.context_length")) if arch else None,
        "name": text(meta.get("general.name")),
        "licenses": texts(meta.get("general.license")),
    }


def summed(headers: Sequence[WeightHeader]) -> WeightHeader | None:
    """The shards of one model as one header: counts summed, dtypes ranked by how many
    parameters use them, the first shard's metadata."""
    if not headers:
        return None
    dtypes: Counter[str] = Counter()
    for header in headers:
        dtypes.update({dtype: len(header.dtypes) - rank for rank, dtype in enumerate(header.dtypes)})
    return WeightHeader(
        headers[0].format,
        sum(header.tensor_count for header in headers),
        sum(header.parameter_count for header in headers),
        tuple(name for name, _ in dtypes.most_common()),
        headers[0].metadata,
    )


def text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def texts(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(str(item) for item in value if isinstance(item, str | int | float) and item != "")
    return ()
