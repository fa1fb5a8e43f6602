"""A ``Modelfile`` in the model directory (modctl's syntax, one ``KEY value`` per line)
states what the files cannot: metadata that wins over what is read from them (flags win
over both) and glob patterns that type files the path rules would type otherwise.

    # Modelfile
    NAME fraud-detector
    ARCH LlamaForCausalLM
    FAMILY llama
    FORMAT safetensors
    PARAMSIZE 1.2B
    PRECISION bfloat16
    QUANTIZATION awq
    MODEL *.bin
    CONFIG params/*.yaml
    CODE tools/*
    DATASET eval/*
    DOC notes/*

Unknown keys are refused (a typo must not pass silently); patterns match the path relative to
the directory with :func:`fnmatch.fnmatchcase`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.modelformats.mediatypes import Kind

FILE_NAME = "Modelfile"
_META = {
    "NAME": "name", "ARCH": "architecture", "FAMILY": "family", "FORMAT": "format",
    "PARAMSIZE": "parameter_size", "PRECISION": "precision", "QUANTIZATION": "quantization",
    "VERSION": "version", "REVISION": "revision", "DESCRIPTION": "description", "SOURCEURL": "source_url",
}  # fmt: skip
_LISTS = {"LICENSE": "licenses", "AUTHOR": "authors"}
_KINDS = {
    "MODEL": Kind.WEIGHTS,
    "CONFIG": Kind.CONFIG,
    "CODE": Kind.CODE,
    "DATASET": Kind.DATASETS,
    "DOC": Kind.DOCS,
}
MAX_SIZE = 64 * 1024


class ModelfileError(ValueError):
    """A Modelfile line this reader does not understand."""


@dataclass(frozen=True, slots=True)
class Modelfile:
    meta: dict[str, Any] = field(default_factory=dict)
    rules: tuple[tuple[str, Kind], ...] = ()

    def kind(self, path: str) -> Kind | None:
        """The kind the first matching pattern gives ``path``; None when none matches."""
        for pattern, kind in self.rules:
            if fnmatch.fnmatchcase(path, pattern):
                return kind
        return None


def read_modelfile(directory: Path) -> Modelfile:
    path = directory / FILE_NAME
    if not path.is_file():
        return Modelfile()
    if path.stat().st_size > MAX_SIZE:
        raise ModelfileError(f"{path}: larger than {MAX_SIZE} bytes")
    meta: dict[str, Any] = {}
    rules: list[tuple[str, Kind]] = []
    for number, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        key, value = key.upper(), value.strip()
        if not value:
            raise ModelfileError(f"{path}:{number}: {key} needs a value")
        if key in _META:
            meta[_META[key]] = value
        elif key in _LISTS:
            meta[_LISTS[key]] = (*meta.get(_LISTS[key], ()), value)
        elif key in _KINDS:
            rules.append((value, _KINDS[key]))
        else:
            raise ModelfileError(f"{path}:{number}: unknown instruction {key!r}")
    return Modelfile(meta, tuple(rules))
