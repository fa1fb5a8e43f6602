"""What a file in a model is, from its path: the ModelPack layer kind a packer gives it, and
the kind a reader guesses for a layer that names only a file (an oras push)."""

from __future__ import annotations

from pathlib import PurePosixPath

from strongroom.modelformats.mediatypes import Kind

WEIGHT_SUFFIXES = frozenset(
    {".safetensors", ".gguf", ".bin", ".pt", ".pth", ".onnx", ".ckpt", ".h5", ".keras", ".msgpack",
     ".pb", ".tflite", ".mlmodel", ".pkl", ".joblib", ".npz", ".npy", ".ggml", ".llamafile", ".model"}
)  # fmt: skip
"""Weight files; ``tokenizer.model`` is a weight config despite its suffix (see :func:`kind_of`)."""
FORMATS = {
    ".safetensors": "safetensors", ".gguf": "gguf", ".onnx": "onnx", ".pt": "pytorch",
    ".pth": "pytorch", ".bin": "pytorch", ".ckpt": "pytorch", ".h5": "keras", ".keras": "keras",
    ".tflite": "tflite", ".pb": "tensorflow",
}  # fmt: skip
"""The format a weight file's suffix names (``--format`` and the model index use these names)."""

DATASET_SUFFIXES = frozenset({".csv", ".tsv", ".parquet", ".jsonl", ".arrow", ".avro"})
DATASET_FOLDERS = frozenset({"data", "datasets", "dataset"})
CODE_SUFFIXES = frozenset({".py", ".sh", ".ipynb", ".js", ".ts", ".r", ".jl", ".go", ".rs", ".c", ".cpp"})
CODE_NAMES = frozenset({"requirements.txt", "pyproject.toml", "setup.py", "setup.cfg", "environment.yml"})
DOC_SUFFIXES = frozenset({".md", ".rst", ".txt", ".pdf", ".html"})
DOC_PREFIXES = ("readme", "license", "licence", "notice", "copying", "changelog", "citation", "model_card")
CONFIG_NAMES = frozenset(
    {"config.json", "generation_config.json", "preprocessor_config.json", "special_tokens_map.json",
     "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt", "chat_template.jinja", "params.json",
     "adapter_config.json", "processor_config.json", "Modelfile", "Kitfile"}
)  # fmt: skip


def kind_of(path: str) -> Kind:
    """The ModelPack layer kind of a file, from its path."""
    posix = PurePosixPath(path)
    name, lower, suffix = posix.name, posix.name.lower(), posix.suffix.lower()
    if name in CONFIG_NAMES or lower.startswith("tokenizer") or lower.endswith(".index.json"):
        return Kind.CONFIG
    if any(part.lower() in DATASET_FOLDERS for part in posix.parts[:-1]) or suffix in DATASET_SUFFIXES:
        return Kind.DATASETS
    if suffix in WEIGHT_SUFFIXES:
        return Kind.WEIGHTS
    if lower.startswith(DOC_PREFIXES) or (suffix in DOC_SUFFIXES and lower not in CODE_NAMES):
        return Kind.DOCS
    if suffix in CODE_SUFFIXES or lower in CODE_NAMES:
        return Kind.CODE
    if suffix in {".json", ".yaml", ".yml", ".jinja", ".toml"}:
        return Kind.CONFIG
    return Kind.DOCS if suffix == "" else Kind.CONFIG
