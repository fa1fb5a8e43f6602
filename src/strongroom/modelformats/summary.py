"""What the registry records about a pushed model: the facts of its manifest and config
(:func:`~strongroom.modelformats.modelinfo.describe`), completed by its ``config.json``, its
model card and its weight headers. Pure: the caller reads the bytes :func:`plan` names
(within its limits) and hands them to :func:`summarise`.

Precedence: the weight headers' exact counts over anything declared (a pusher's annotation
may be wrong; the header is what a loader reads); otherwise what the config declares, then
``config.json``, then the model card, then GGUF key-values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from strongroom.modelformats import mediatypes as mt
from strongroom.modelformats.documents import card_facts, gguf_facts, hf_config_facts, load_json
from strongroom.modelformats.modelinfo import ModelFileInfo, ModelInfo, describe
from strongroom.modelformats.paths import FORMATS
from strongroom.modelformats.weightheaders import WeightHeader

MODEL_ARTIFACT_TYPES = frozenset(
    {
        mt.MODEL_MANIFEST,
        mt.MODEL_CONFIG,
        mt.CNAI_PREFIX + "manifest.v1+json",
        mt.CNAI_PREFIX + "config.v1+json",
    }
)
"""ModelPack's artifact type, and its config type (what a manifest without ``artifactType``
shows, as an oras push with a ModelPack config makes)."""
MAX_WEIGHT_FILES = 64
"""Weight layers whose headers are read; a model sharded further is counted from these."""
HEADER_FORMATS = ("safetensors", "gguf")


class ModelDocumentError(ValueError):
    """The manifest or config is not shaped as a model's (a layer without a size, …)."""


def is_model(artifact_type: str | None) -> bool:
    """A ModelPack manifest (``vnd.cncf.model`` or the pre-donation ``vnd.cnai.model``), or a
    KitOps ModelKit; ``artifact_type`` is the manifest's, else its config's media type."""
    if artifact_type is None:
        return False
    return artifact_type in MODEL_ARTIFACT_TYPES or artifact_type.startswith(mt.KITOPS_PREFIX)


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The layers whose bytes the summary uses: raw files only (a tar layer is not opened)."""

    card: ModelFileInfo | None
    hf_config: ModelFileInfo | None
    weights: tuple[ModelFileInfo, ...]
    """The weight files of the model's main format whose headers are read (at most
    :data:`MAX_WEIGHT_FILES`), when that format has headers."""
    weight_format: str | None


@dataclass(frozen=True, slots=True)
class ModelSummary:
    name: str | None
    version: str | None
    format: str | None
    architecture: str | None
    parameter_count: int | None
    licenses: tuple[str, ...]
    document: dict[str, Any] = field(default_factory=dict)
    """Everything recorded, as the admin API renders it."""


def inspect(digest: str, manifest: dict[str, Any], config: bytes) -> ModelInfo:
    """The manifest and config's facts; :class:`ModelDocumentError` when they are malformed."""
    try:
        return describe("", digest, manifest, load_json(config))
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ModelDocumentError(f"the model manifest is malformed: {type(error).__name__}") from None


def plan(info: ModelInfo) -> ReadPlan:
    raw = [file for file in info.files if not file.archive]
    card = next((file for file in raw if file.path.lower() == "readme.md"), None)
    hf_config = next((file for file in raw if file.path == "config.json"), None)
    weight_format = _weight_format(info.files)
    weights: tuple[ModelFileInfo, ...] = ()
    if weight_format in HEADER_FORMATS:
        suffix = "." + weight_format
        weights = tuple(
            file for file in raw if file.kind == "weights" and file.path.lower().endswith(suffix)
        )[:MAX_WEIGHT_FILES]
    return ReadPlan(card, hf_config, weights, weight_format)


def summarise(
    info: ModelInfo, read: ReadPlan, card: bytes | None, hf_config: bytes | None, header: WeightHeader | None
) -> ModelSummary:
    found: dict[str, Any] = {}
    layers: list[dict[str, Any]] = [gguf_facts(header)] if header and header.format == "gguf" else []
    if card is not None:
        layers.insert(0, card_facts(card))
    if hf_config is not None:
        layers.insert(0, hf_config_facts(load_json(hf_config)))
    declared = {
        "name": info.name, "version": info.version, "revision": info.revision, "authors": tuple(info.authors),
        "licenses": tuple(info.licenses), "description": info.description, "source_url": info.source_url,
        "family": info.family, "architecture": info.architecture, "format": info.format,
        "parameter_size": info.parameter_size, "parameter_count": info.parameter_count,
        "tensor_count": info.tensor_count, "dtypes": tuple(info.dtypes), "precision": info.precision,
        "quantization": info.quantization, "opset": info.opset,
    }  # fmt: skip
    for source in (declared, *layers):
        for key, value in source.items():
            if found.get(key) in (None, (), "") and value not in (None, (), ""):
                found[key] = value
    if header is not None:
        found |= {
            "parameter_count": header.parameter_count,
            "tensor_count": header.tensor_count,
            "dtypes": header.dtypes,
            "parameters_from": "headers",
        }
    elif found.get("parameter_count") is not None:
        found["parameters_from"] = "declared"
    found["format"] = _format_name(found.get("format")) or read.weight_format
    if "tags" in found:
        found["card_tags"] = found.pop("tags")  # the card's keywords, not the registry's tags
    document = {key: list(value) if isinstance(value, tuple) else value for key, value in found.items()}
    document["artifact_type"] = info.artifact_type
    document["size"] = info.size
    document["files"] = len(info.files)
    return ModelSummary(
        found.get("name"),
        found.get("version"),
        found.get("format"),
        found.get("architecture"),
        found.get("parameter_count"),
        tuple(dict.fromkeys(str(name).lower() for name in found.get("licenses", ()))),
        document,
    )


def _weight_format(files: list[ModelFileInfo]) -> str | None:
    """The format holding most of the model's weight bytes, from the files' suffixes."""
    sizes: Counter[str] = Counter()
    for file in files:
        suffix = PurePosixPath(file.path).suffix.lower()
        if file.kind == "weights" and suffix in FORMATS:
            sizes[FORMATS[suffix]] += file.size
    return sizes.most_common(1)[0][0] if sizes else None


def _format_name(value: object) -> str | None:
    """A declared format as the index names formats (``SafeTensors`` and ``.gguf`` too)."""
    if not isinstance(value, str) or not value:
        return None
    name = value.strip().lower().lstrip(".")
    return FORMATS.get("." + name, name)
