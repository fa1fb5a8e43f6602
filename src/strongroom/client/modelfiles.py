"""A model directory's files: which kind each is, its mode and size, its digest.

Files are walked in sorted order and hashed in fixed-size chunks (constant memory for
multi-GB weights). A symbolic link is followed only when it stays inside the directory;
one that escapes it refuses the whole directory, as do special files.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from strongroom.client.mediatypes import Kind

CHUNK = 1024 * 1024

WEIGHT_SUFFIXES = frozenset(
    {".safetensors", ".gguf", ".bin", ".pt", ".pth", ".onnx", ".ckpt", ".h5", ".keras", ".msgpack",
     ".pb", ".tflite", ".mlmodel", ".pkl", ".joblib", ".npz", ".npy", ".ggml", ".llamafile", ".model"}
)  # fmt: skip
"""Weight files; ``tokenizer.model`` is a weight config despite its suffix (see :func:`kind_of`)."""
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


class UnsafeDirectory(ValueError):
    """The directory holds a file that cannot be packed safely (an escaping link, a device…)."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    path: str
    """POSIX path relative to the model directory."""
    source: Path
    kind: Kind
    mode: int
    """Permission bits only (``0o644``)."""
    size: int
    digest: str


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


def walk(
    directory: Path,
    on_bytes: Callable[[int], None] | None = None,
    classify: Callable[[str], Kind | None] | None = None,
) -> list[ModelFile]:
    """Every regular file under ``directory`` (hidden ones and ``.git`` left out), sorted by
    path; ``classify`` (a Modelfile's patterns) types a file before the path rules do."""
    root = directory.resolve()
    if not root.is_dir():
        raise UnsafeDirectory(f"{directory} is not a directory")
    found: list[ModelFile] = []
    for current, folders, names in os.walk(root, followlinks=False):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for folder in list(folders):
            if (Path(current) / folder).is_symlink():
                _inside(root, Path(current) / folder)
                raise UnsafeDirectory(f"{Path(current) / folder}: linked folders are not packed")
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = Path(current) / name
            target = _inside(root, path) if path.is_symlink() else path
            info = target.stat()
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeDirectory(f"{path}: not a regular file")
            relative = path.relative_to(root).as_posix()
            kind = (classify(relative) if classify else None) or kind_of(relative)
            found.append(
                ModelFile(
                    relative, target, kind, stat.S_IMODE(info.st_mode), info.st_size,
                    file_digest(target, on_bytes),
                )
            )  # fmt: skip
    found.sort(key=lambda file: file.path)
    return found


def file_digest(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return "sha256:" + digest.hexdigest()


def _inside(root: Path, link: Path) -> Path:
    target = link.resolve()
    if not target.is_relative_to(root):
        raise UnsafeDirectory(f"{link}: the link leads outside the model directory")
    return target
