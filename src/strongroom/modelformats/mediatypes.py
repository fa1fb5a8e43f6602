"""Model artifact vocabulary: media types and annotation keys, each from its spec.

ModelPack v1 (CNCF ``modelpack/model-spec``, ``docs/spec.md`` and ``specs-go/v1/mediatype.go``)
is what ``strongroom model push`` writes; the pre-donation ``application/vnd.cnai.model.*``
types (which released modctl still writes) and KitOps ModelKits
(``application/vnd.kitops.modelkit.*``, kitops ``pkg/artifact/mediatype.go``) are read too.
"""

from __future__ import annotations

import enum

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCTET_STREAM = "application/octet-stream"

MODEL_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"
"""ModelPack: the manifest's ``artifactType``."""
MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json"
"""ModelPack: the config blob (``descriptor``, ``modelfs``, ``config``)."""

CNCF_PREFIX = "application/vnd.cncf.model."
CNAI_PREFIX = "application/vnd.cnai.model."
"""The same types before the spec moved to the CNCF (``vnd.cnai.model.weight.v1.raw`` …)."""
KITOPS_PREFIX = "application/vnd.kitops.modelkit."
KITOPS_CONFIG = "application/vnd.kitops.modelkit.config.v1+json"
"""KitOps: the config blob is the Kitfile as JSON."""
KITOPS_MANIFEST = "application/vnd.kitops.modelkit.manifest.v1+json"

# ModelPack layer annotations (spec "Layer annotations").
FILEPATH = "org.cncf.model.filepath"
"""The file's path relative to the model directory."""
FILE_METADATA = "org.cncf.model.file.metadata+json"
"""JSON: name, mode, size (Strongroom leaves out uid, gid and mtime so packing is reproducible)."""
CNAI_FILEPATH = "org.cnai.model.filepath"
OCI_TITLE = "org.opencontainers.image.title"
"""What oras names a layer's file with; read when no ModelPack path is given."""
OCI_CREATED = "org.opencontainers.image.created"

# Strongroom's own manifest annotations: what the ModelPack config has no exact field for.
PARAMETER_COUNT = "io.strongroom.model.parameters"
"""The exact parameter count (the config's ``paramSize`` is a rounded string such as ``7.2B``)."""
TENSOR_COUNT = "io.strongroom.model.tensors"
DTYPES = "io.strongroom.model.dtypes"
ONNX_OPSET = "io.strongroom.model.onnx-opset"


class Kind(enum.StrEnum):
    """What a model file is, as ModelPack types layers (and ``--filter`` names them)."""

    WEIGHTS = "weights"
    CONFIG = "config"
    DOCS = "docs"
    CODE = "code"
    DATASETS = "datasets"


LAYER_TYPES = {
    Kind.WEIGHTS: "application/vnd.cncf.model.weight.v1.raw",
    Kind.CONFIG: "application/vnd.cncf.model.weight.config.v1.raw",
    Kind.DOCS: "application/vnd.cncf.model.doc.v1.raw",
    Kind.CODE: "application/vnd.cncf.model.code.v1.raw",
    Kind.DATASETS: "application/vnd.cncf.model.dataset.v1.raw",
}
"""One raw (untarred) layer per file, so the registry can serve ranges of a weight file."""

_CNCF_KINDS = {
    "weight.config": Kind.CONFIG,
    "weight": Kind.WEIGHTS,
    "doc": Kind.DOCS,
    "code": Kind.CODE,
    "dataset": Kind.DATASETS,
}
_KITOPS_KINDS = {
    "model": Kind.WEIGHTS,
    "modelpart": Kind.WEIGHTS,
    "dataset": Kind.DATASETS,
    "code": Kind.CODE,
    "docs": Kind.DOCS,
}


def layer_kind(media_type: str) -> Kind | None:
    """The kind of a ModelPack (cncf or cnai) or KitOps layer; None for other types."""
    for prefix, kinds in (
        (CNCF_PREFIX, _CNCF_KINDS),
        (CNAI_PREFIX, _CNCF_KINDS),
        (KITOPS_PREFIX, _KITOPS_KINDS),
    ):
        if media_type.startswith(prefix):
            rest = media_type[len(prefix) :]
            for name, kind in kinds.items():
                if rest.startswith(name + "."):
                    return kind
    return None


def is_tar(media_type: str) -> bool:
    """A ``.tar``, ``.tar+gzip`` or ``.tar+zstd`` layer (unpacked on pull) rather than a raw file."""
    return ".tar" in media_type.rsplit("/", 1)[-1]
