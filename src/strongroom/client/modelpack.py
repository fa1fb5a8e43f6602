"""Pack a model directory as a ModelPack v1 artifact: one raw layer per file, a config
blob with the model's metadata, and an OCI image manifest with the model ``artifactType``.

Pure apart from reading the directory: no clock (``created`` is given or left out) and no
owner or mtime in file metadata, so packing the same directory twice gives the same digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strongroom.client.modelfile import read_modelfile
from strongroom.client.modelfiles import ModelFile, walk
from strongroom.client.modelmeta import ModelMeta, read_directory
from strongroom.modelformats import mediatypes as mt


@dataclass(frozen=True, slots=True)
class Blob:
    """A document the packer wrote (config, manifest): its bytes and digest."""

    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True, slots=True)
class PackedModel:
    files: list[ModelFile]
    meta: ModelMeta
    config: Blob
    manifest: Blob


def pack(
    directory: Path,
    *,
    created: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
    **overrides: Any,
) -> PackedModel:
    """Pack ``directory``; ``overrides`` (name, version, licenses, …) win over its Modelfile,
    which wins over what its files say."""
    modelfile = read_modelfile(directory)
    files = walk(directory, on_bytes, modelfile.kind)
    meta = read_directory(files).merged(**modelfile.meta).merged(**overrides)
    if meta.name is None:
        meta = meta.merged(name=directory.resolve().name)
    config = Blob(_canonical(model_config(meta, files, created)), mt.MODEL_CONFIG)
    manifest = Blob(_canonical(model_manifest(meta, files, config, created)), mt.OCI_MANIFEST)
    return PackedModel(files, meta, config, manifest)


def model_config(meta: ModelMeta, files: list[ModelFile], created: str | None) -> dict[str, Any]:
    """The ModelPack config (``specs-go/v1/config.go``): ``descriptor``, ``modelfs``, ``config``."""
    descriptor = {
        "createdAt": created,
        "authors": list(meta.authors),
        "family": meta.family,
        "name": meta.name,
        "sourceURL": meta.source_url,
        "version": meta.version,
        "revision": meta.revision,
        "licenses": list(meta.licenses),
        "description": meta.description,
    }
    config = {
        "architecture": meta.architecture,
        "format": meta.format,
        "paramSize": parameter_size(meta.parameter_count) if meta.parameter_count else meta.parameter_size,
        "precision": meta.precision or (meta.dtypes[0].lower() if meta.dtypes else None),
        "quantization": meta.quantization,
    }
    return {
        "descriptor": _present(descriptor),
        "modelfs": {"type": "layers", "diffIds": [file.digest for file in files]},
        "config": _present(config),
    }


def model_manifest(
    meta: ModelMeta, files: list[ModelFile], config: Blob, created: str | None
) -> dict[str, Any]:
    annotations = {
        mt.OCI_CREATED: created,
        mt.PARAMETER_COUNT: str(meta.parameter_count) if meta.parameter_count is not None else None,
        mt.TENSOR_COUNT: str(meta.tensor_count) if meta.tensor_count is not None else None,
        mt.DTYPES: ",".join(meta.dtypes) or None,
        mt.ONNX_OPSET: str(meta.opset) if meta.opset is not None else None,
    }
    return _present(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": mt.MODEL_MANIFEST,
            "config": config.descriptor(),
            "layers": [layer(file) for file in files],
            "annotations": _present(annotations) or None,
        }
    )


def layer(file: ModelFile) -> dict[str, Any]:
    metadata = {"name": file.path, "mode": file.mode, "size": file.size, "typeflag": 48}  # '0': a file
    return {
        "mediaType": mt.LAYER_TYPES[file.kind],
        "digest": file.digest,
        "size": file.size,
        "annotations": {
            mt.FILEPATH: file.path,
            mt.FILE_METADATA: json.dumps(metadata, sort_keys=True, separators=(",", ":")),
            # oras and other generic clients name the file they pull with this.
            mt.OCI_TITLE: file.path,
        },
    }


def parameter_size(count: int) -> str:
    """``paramSize`` as model cards write it: ``7.24B``, ``125M``, ``8.5K``."""
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= scale:
            return f"{count / scale:.3g}{unit}"
    return str(count)


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value not in (None, [], {}, "")}


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
