"""Keras model configs (``config.json`` in a ``.keras`` archive): layers that run code.

A ``Lambda`` layer carries marshalled Python bytecode that Keras runs when it rebuilds
the model (with ``safe_mode=False``, and in every older Keras); a layer or object whose
``module`` is outside Keras imports that module's code.
"""

from __future__ import annotations

import json

from strongroom.analysis.models.callables import Verdict, classify
from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.severity import Severity

_KERAS_MODULES = ("keras", "tf_keras", "tensorflow.keras", "keras_nlp", "keras_hub", "keras_cv")
_MAX_NODES = 1_000_000


def keras_config_findings(path: str, config: bytes | None) -> list[ModelFinding]:
    if config is None:
        return [ModelFinding(path, Severity.HIGH, "not-fully-analysed", "Keras config is too large")]
    try:
        document = json.loads(config)
    except (ValueError, RecursionError) as error:
        return [ModelFinding(path, Severity.MEDIUM, "keras-config-malformed", str(error))]
    findings: list[ModelFinding] = []
    pending: list[object] = [document]
    visited = 0
    while pending and visited < _MAX_NODES:
        node = pending.pop()
        visited += 1
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            findings.extend(_node_findings(path, node))
            pending.extend(node.values())
    return findings


def _node_findings(path: str, node: dict[str, object]) -> list[ModelFinding]:
    class_name = node.get("class_name")
    if class_name in ("Lambda", "__lambda__"):
        return [
            ModelFinding(path, Severity.CRITICAL, "keras-lambda", "a Lambda layer runs its code when loaded")
        ]
    module = node.get("module")
    if not isinstance(module, str) or not isinstance(class_name, str) or module.startswith(_KERAS_MODULES):
        return []
    if module == "builtins" and class_name in ("function", "dict", "list", "tuple"):
        return []  # Keras serialises plain containers and named functions this way
    if classify(module, class_name) is Verdict.DANGEROUS:
        return [
            ModelFinding(path, Severity.CRITICAL, "keras-code-execution", f"imports {module}.{class_name}")
        ]
    return [ModelFinding(path, Severity.MEDIUM, "keras-custom-object", f"imports {module}.{class_name}")]
