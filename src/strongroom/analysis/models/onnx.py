"""ONNX models: tensors whose external data points outside the model's directory, and
operators from custom domains (which a runtime satisfies by loading native libraries).

A streaming protobuf walk over the few messages that matter (ModelProto.graph,
GraphProto.node/initializer, NodeProto.attribute/domain, AttributeProto.g/graphs,
TensorProto.external_data); every other field, including weights, is skipped unread.
"""

from __future__ import annotations

from collections.abc import Callable

from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.severity import Severity
from strongroom.analysis.streams import Reader

_STANDARD_DOMAINS = {
    "",
    "ai.onnx",
    "ai.onnx.ml",
    "ai.onnx.training",
    "ai.onnx.preview.training",
    "com.microsoft",
}
_MAX_DEPTH = 32
_MAX_STRING = 1024 * 1024


class OnnxError(ValueError):
    pass


class _Walk:
    def __init__(self, stream: Reader, path: str) -> None:
        self.stream = stream
        self.path = path
        self.offset = 0
        self.findings: list[ModelFinding] = []

    def exactly(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise OnnxError("the file ends inside a field")
        self.offset += size
        return data

    def skip(self, size: int) -> None:
        while size > 0:
            chunk = self.stream.read(min(size, 1024 * 1024))
            if not chunk:
                raise OnnxError("the file ends inside a field")
            self.offset += len(chunk)
            size -= len(chunk)

    def varint(self) -> int:
        value, shift = 0, 0
        while shift < 64:
            byte = self.exactly(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise OnnxError("a varint longer than 10 bytes")

    def message(self, end: int, handlers: dict[int, Callable[[int, int], None]], depth: int) -> None:
        """Fields up to ``end``; a handler gets (length, depth) of its length-delimited field."""
        if depth > _MAX_DEPTH:
            raise OnnxError("messages nest deeper than any model")
        while self.offset < end:
            key = self.varint()
            number, wire = key >> 3, key & 7
            if wire == 0:
                self.varint()
            elif wire == 1:
                self.skip(8)
            elif wire == 5:
                self.skip(4)
            elif wire == 2:
                length = self.varint()
                if self.offset + length > end:
                    raise OnnxError("a field runs past its message")
                if number in handlers:
                    handlers[number](length, depth + 1)
                else:
                    self.skip(length)
            else:
                raise OnnxError(f"unknown wire type {wire}")
        if self.offset != end:
            raise OnnxError("a message runs past its end")

    def graph(self, length: int, depth: int) -> None:
        self.message(self.offset + length, {1: self.node, 5: self.tensor}, depth)

    def node(self, length: int, depth: int) -> None:
        self.message(self.offset + length, {5: self.attribute, 7: self.domain}, depth)

    def attribute(self, length: int, depth: int) -> None:
        self.message(self.offset + length, {6: self.graph, 11: self.graph, 5: self.tensor}, depth)

    def domain(self, length: int, _depth: int) -> None:
        name = self.text(length)
        if name not in _STANDARD_DOMAINS:
            self.findings.append(
                ModelFinding(self.path, Severity.LOW, "onnx-custom-operator", f"operator domain {name!r}")
            )

    def tensor(self, length: int, depth: int) -> None:
        self.message(self.offset + length, {13: self.external_entry}, depth)

    def external_entry(self, length: int, depth: int) -> None:
        entry: dict[int, str] = {}

        def field(number: int) -> Callable[[int, int], None]:
            return lambda size, _depth: entry.__setitem__(number, self.text(size))

        self.message(self.offset + length, {1: field(1), 2: field(2)}, depth)
        location = entry.get(2, "")
        if entry.get(1) == "location" and _escapes(location):
            self.findings.append(
                ModelFinding(
                    self.path, Severity.HIGH, "onnx-external-data-path", f"tensor data at {location!r}"
                )
            )

    def text(self, length: int) -> str:
        if length > _MAX_STRING:
            raise OnnxError("a name longer than any model's")
        return self.exactly(length).decode("utf-8", "replace")


def _escapes(location: str) -> bool:
    """A location a loader would resolve outside the model's own directory."""
    normalised = location.replace("\\", "/")
    return (
        normalised.startswith("/")
        or ".." in normalised.split("/")
        or (len(location) > 1 and location[1] == ":")
    )


def onnx_findings(path: str, stream: Reader, size: int | None) -> list[ModelFinding]:
    walk = _Walk(stream, path)
    try:
        walk.message(size if size is not None else 1 << 62, {7: walk.graph}, 0)
    except OnnxError as error:
        if size is not None or "ends inside" not in str(error):
            walk.findings.append(ModelFinding(path, Severity.MEDIUM, "onnx-malformed", str(error)))
    return walk.findings
