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
from pathlib import Path

from strongroom.modelformats.mediatypes import Kind
from strongroom.modelformats.paths import kind_of

CHUNK = 1024 * 1024


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
