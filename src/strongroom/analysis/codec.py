"""A layer's inventory as JSON and back: what an isolated analyser sends its parent, and
what a cache keeps."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from strongroom.analysis.inventory import LayerInventory
from strongroom.analysis.layers import Whiteout
from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.packages.model import Kind, OsRelease, Package
from strongroom.analysis.severity import Severity


class CodecError(ValueError):
    pass


def encode_layer(layer: LayerInventory) -> dict[str, Any]:
    return {
        "packages": {path: [asdict(p) for p in packages] for path, packages in layer.packages.items()},
        "os_release": {path: asdict(release) for path, release in layer.os_release.items()},
        "models": {path: [encode_finding(f) for f in findings] for path, findings in layer.models.items()},
        "whiteouts": [asdict(w) for w in layer.whiteouts],
        "problems": list(layer.problems),
    }


def decode_layer(document: dict[str, Any]) -> LayerInventory:
    try:
        return LayerInventory(
            packages={
                path: [_package(p) for p in packages] for path, packages in document["packages"].items()
            },
            os_release={path: OsRelease(**release) for path, release in document["os_release"].items()},
            models={
                path: [decode_finding(f) for f in findings] for path, findings in document["models"].items()
            },
            whiteouts=[Whiteout(**w) for w in document["whiteouts"]],
            problems=[str(p) for p in document["problems"]],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CodecError(f"not an encoded layer inventory: {error}") from None


def encode_finding(finding: ModelFinding) -> dict[str, str]:
    return {
        "path": finding.path,
        "severity": str(finding.severity),
        "rule": finding.rule,
        "detail": finding.detail,
    }


def decode_finding(document: dict[str, str]) -> ModelFinding:
    return ModelFinding(
        document["path"], Severity(document["severity"]), document["rule"], document["detail"]
    )


def _package(document: dict[str, Any]) -> Package:
    fields = dict(document)
    fields["kind"] = Kind(fields["kind"])
    fields["extra"] = tuple(tuple(pair) for pair in fields.get("extra", ()))
    return Package(**fields)
