"""What a model artifact says about itself, from its manifest and config alone: ModelPack
(``vnd.cncf.model.*`` and the pre-donation ``vnd.cnai.model.*``), KitOps ModelKits (the
config is the Kitfile as JSON) and plain oras artifacts (files named by their title).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from strongroom.modelformats import mediatypes as mt
from strongroom.modelformats.paths import kind_of

Document = dict[str, Any]
ORAS_UNPACK = "io.deis.oras.content.unpack"
"""oras marks a layer that holds a directory as a tar to unpack."""


@dataclass(frozen=True, slots=True)
class ModelFileInfo:
    path: str
    kind: str | None
    """weights, config, docs, code, datasets: from the media type, else guessed from the path."""
    media_type: str
    digest: str
    size: int
    mode: int | None = None
    archive: bool = False
    """A tar layer (KitOps, ModelPack ``.tar*``, an oras directory), unpacked on pull."""


@dataclass(slots=True)
class ModelInfo:
    reference: str
    digest: str
    artifact_type: str | None
    config_media_type: str | None
    name: str | None = None
    version: str | None = None
    revision: str | None = None
    authors: list[str] = field(default_factory=list)
    licenses: list[str] = field(default_factory=list)
    description: str | None = None
    source_url: str | None = None
    family: str | None = None
    architecture: str | None = None
    format: str | None = None
    parameter_size: str | None = None
    parameter_count: int | None = None
    tensor_count: int | None = None
    dtypes: list[str] = field(default_factory=list)
    precision: str | None = None
    quantization: str | None = None
    opset: int | None = None
    created: str | None = None
    files: list[ModelFileInfo] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)

    def to_json(self) -> Document:
        document = asdict(self)
        document["size"] = self.size
        return document


def describe(reference: str, digest: str, manifest: Document, config: Document) -> ModelInfo:
    config_type = (manifest.get("config") or {}).get("mediaType")
    annotations = manifest.get("annotations") or {}
    info = ModelInfo(
        reference,
        digest,
        manifest.get("artifactType") or config_type,
        config_type,
        created=annotations.get(mt.OCI_CREATED),
        files=[file for file in (layer_file(layer) for layer in manifest.get("layers") or []) if file],
    )
    if config_type == mt.KITOPS_CONFIG:
        _from_kitfile(info, config)
    else:
        _from_modelpack(info, config)
    if mt.PARAMETER_COUNT in annotations and str(annotations[mt.PARAMETER_COUNT]).isdigit():
        info.parameter_count = int(annotations[mt.PARAMETER_COUNT])
    if str(annotations.get(mt.TENSOR_COUNT, "")).isdigit():
        info.tensor_count = int(annotations[mt.TENSOR_COUNT])
    if str(annotations.get(mt.ONNX_OPSET, "")).isdigit():
        info.opset = int(annotations[mt.ONNX_OPSET])
    if annotations.get(mt.DTYPES):
        info.dtypes = str(annotations[mt.DTYPES]).split(",")
    return info


def layer_file(layer: Document) -> ModelFileInfo | None:
    """A layer as the file it holds; None for a layer with no name to give it."""
    annotations = layer.get("annotations") or {}
    media_type = str(layer.get("mediaType", ""))
    path = annotations.get(mt.FILEPATH) or annotations.get(mt.CNAI_FILEPATH) or annotations.get(mt.OCI_TITLE)
    kind = mt.layer_kind(media_type)
    archive = bool(kind and mt.is_tar(media_type)) or annotations.get(ORAS_UNPACK) == "true"
    if not isinstance(path, str) or not path:
        if not archive:
            return None
        path = ""  # a KitOps tar layer may name no path: its entries carry their own
    mode = None
    metadata = annotations.get(mt.FILE_METADATA) or annotations.get("org.cnai.model.file.metadata+json")
    if isinstance(metadata, str):
        try:
            value = json.loads(metadata).get("mode")
            mode = int(value) & 0o777 if isinstance(value, int) else None
        except (ValueError, AttributeError):
            mode = None
    if kind is None and path and not archive:
        kind = kind_of(path)  # an oras or other generic layer: judged by its name, as when packing
    size, digest = int(layer["size"]), str(layer["digest"])
    return ModelFileInfo(path, kind.value if kind else None, media_type, digest, size, mode, archive)


def _from_modelpack(info: ModelInfo, config: Document) -> None:
    descriptor = config.get("descriptor") if isinstance(config.get("descriptor"), dict) else {}
    model = config.get("config") if isinstance(config.get("config"), dict) else {}
    assert isinstance(descriptor, dict)
    assert isinstance(model, dict)
    info.name = _text(descriptor.get("name"))
    info.version = _text(descriptor.get("version"))
    info.revision = _text(descriptor.get("revision"))
    info.authors = _texts(descriptor.get("authors"))
    info.licenses = _texts(descriptor.get("licenses"))
    info.description = _text(descriptor.get("description"))
    info.source_url = _text(descriptor.get("sourceURL"))
    info.family = _text(descriptor.get("family"))
    info.created = info.created or _text(descriptor.get("createdAt"))
    info.architecture = _text(model.get("architecture"))
    info.format = _text(model.get("format"))
    info.parameter_size = _text(model.get("paramSize"))
    info.precision = _text(model.get("precision"))
    info.quantization = _text(model.get("quantization"))


def _from_kitfile(info: ModelInfo, kitfile: Document) -> None:
    """Kitfile (KitOps ``pkg/artifact/kit-file.go``): ``package`` and ``model`` sections."""
    package = kitfile.get("package") if isinstance(kitfile.get("package"), dict) else {}
    model = kitfile.get("model") if isinstance(kitfile.get("model"), dict) else {}
    assert isinstance(package, dict)
    assert isinstance(model, dict)
    info.name = _text(package.get("name")) or _text(model.get("name"))
    info.version = _text(package.get("version")) or _text(model.get("version"))
    info.authors = _texts(package.get("authors"))
    info.licenses = _texts(package.get("license") or model.get("license"))
    info.description = _text(package.get("description")) or _text(model.get("description"))
    info.format = _text(model.get("format")) or _text(model.get("framework"))
    path = _text(model.get("path"))
    if info.format is None and path:
        info.format = PurePosixPath(path).suffix.lstrip(".") or None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, str)]
    return []
